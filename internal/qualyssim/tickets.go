package qualyssim

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/internal/simfault"
)

// Remediation tickets (API v1 /msp/ticket_list.php): one ticket per base detection of every
// host, numbered in host order (see TicketNumber). Generation 0 opens them all; each later
// generation moves some through their states (OPEN -> CLOSED, RESOLVED or IGNORED; CLOSED,
// RESOLVED and IGNORED back to OPEN, with CURRENT_STATUS REOPENED), writing a HISTORY entry
// (some with a COMMENT) dated when the generation was set. Answers hold at most
// Options.TicketPageSize tickets and end with TRUNCATION last="…" while more are left.

// ticketPath is the ticket list's path.
const ticketPath = "/msp/ticket_list.php"

// v1 is how API v1 answers faults: <ERROR number="…"> documents.
var v1 = simfault.Vendor{
	ContentType: "text/xml;charset=UTF-8",
	WaitHeaders: vendor.WaitHeaders,
	WriteError: func(w http.ResponseWriter, _ *http.Request, f *simfault.Fault) {
		v1Error(w, f.Status, f.Code, f.Text)
	},
}

// v1Error writes an API v1 error document.
func v1Error(w http.ResponseWriter, status int, code, text string) {
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE ERROR SYSTEM \"https://qualysapi.qualys.com/error.dtd\">\n<ERROR number=\"%s\">%s</ERROR>\n", code, text)
}

// TicketCount is how many tickets the simulator has.
func (s *Server) TicketCount() int {
	return s.opts.AssetGroups * s.opts.HostsPerGroup * s.opts.DetectionsPerHost
}

// TicketNumber is the number of the ticket of base detection j of host h (0-based) of asset
// group g.
func (s *Server) TicketNumber(g, h, j int) int64 {
	return int64(((g-1)*s.opts.HostsPerGroup+h)*s.opts.DetectionsPerHost + j + 1)
}

// TicketOf returns the asset group, host index and detection index of ticket n.
func (s *Server) TicketOf(n int64) (g, h, j int) {
	i := int(n - 1)
	j = i % s.opts.DetectionsPerHost
	host := i / s.opts.DetectionsPerHost
	return host/s.opts.HostsPerGroup + 1, host % s.opts.HostsPerGroup, j
}

// TicketState is ticket n's state in generation gen, and whether it has been reopened.
func (s *Server) TicketState(n int64, gen int) (state string, reopened bool) {
	state = "OPEN"
	for g := 1; g <= gen; g++ {
		next := s.nextState(n, g, state)
		if next == "OPEN" && state != "OPEN" {
			reopened = true
		}
		state = next
	}
	return state, reopened
}

func (s *Server) nextState(n int64, g int, prev string) string {
	h := mixed(s.opts.Seed, 20, n, int64(g))
	switch prev {
	case "OPEN":
		switch {
		case h < 4:
			return "CLOSED"
		case h < 5:
			return "RESOLVED"
		case h < 6:
			return "IGNORED"
		}
	case "RESOLVED":
		switch {
		case h < 10:
			return "CLOSED"
		case h >= 18:
			return "OPEN"
		}
	case "CLOSED", "IGNORED":
		if h < 2 {
			return "OPEN"
		}
	}
	return prev
}

// TicketComment is the comment that generation g's history entry of ticket n carries, or "".
func (s *Server) TicketComment(n int64, g int) string {
	if g == 0 || n%4 != 0 {
		return ""
	}
	return fmt.Sprintf("Ticket %d reviewed in round %d: patch rolled out by the platform team & verified.", n, g)
}

// genTime is when generation g was set (by the simulator's clock, to the second).
func (s *Server) genTime(g int) time.Time {
	s.genMu.Lock()
	defer s.genMu.Unlock()
	if t, ok := s.genAt[g]; ok {
		return t
	}
	return s.started
}

type simTicket struct {
	number   int64
	g, h, j  int
	state    string
	reopened bool
	modified time.Time
	history  []simHistory
}

type simHistory struct {
	at       time.Time
	old, new string
	comment  string
}

// ticket builds ticket n as generation gen has it.
func (s *Server) ticket(n int64, gen int) simTicket {
	t := simTicket{number: n, state: "OPEN"}
	t.g, t.h, t.j = s.TicketOf(n)
	t.modified = s.genTime(0)
	t.history = append(t.history, simHistory{at: t.modified, new: "OPEN"})
	for g := 1; g <= gen; g++ {
		next := s.nextState(n, g, t.state)
		comment := s.TicketComment(n, g)
		if next == t.state && (comment == "" || mixed(s.opts.Seed, 3, n, int64(g)) != 0) {
			continue
		}
		at := s.genTime(g)
		e := simHistory{at: at, comment: comment}
		if next != t.state {
			e.old, e.new = t.state, next
			if next == "OPEN" {
				t.reopened = true
			}
		}
		t.history = append(t.history, e)
		t.state, t.modified = next, at
	}
	return t
}

// ticketFilter is a ticket list request's selection.
type ticketFilter struct {
	since    int64
	modified time.Time
	states   map[string]bool
	numbers  [][2]int64
}

func (f *ticketFilter) match(t *simTicket) bool {
	if !f.modified.IsZero() && t.modified.Before(f.modified) {
		return false
	}
	if f.states != nil && !f.states[t.state] {
		return false
	}
	if f.numbers != nil {
		for _, r := range f.numbers {
			if t.number >= r[0] && t.number <= r[1] {
				return true
			}
		}
		return false
	}
	return true
}

// parseTicketFilter reads the request's parameters, or writes Qualys's error and returns false.
func parseTicketFilter(w http.ResponseWriter, r *http.Request) (ticketFilter, bool) {
	q := r.URL.Query()
	f := ticketFilter{since: 1}
	bad := func(param string) (ticketFilter, bool) {
		v1Error(w, http.StatusBadRequest, "999", "Invalid value for parameter "+param+": "+q.Get(param))
		return f, false
	}
	if v := q.Get("since_ticket_number"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return bad("since_ticket_number")
		}
		f.since = n
	}
	if v := q.Get("modified_since_datetime"); v != "" {
		t, err := time.Parse("2006-01-02T15:04:05Z", v)
		if err != nil {
			return bad("modified_since_datetime")
		}
		f.modified = t
	}
	if v := q.Get("states"); v != "" {
		f.states = map[string]bool{}
		for _, st := range strings.Split(v, ",") {
			switch st {
			case "OPEN", "RESOLVED", "CLOSED", "IGNORED":
				f.states[st] = true
			default:
				return bad("states")
			}
		}
	}
	if v := q.Get("ticket_numbers"); v != "" {
		for _, part := range strings.Split(v, ",") {
			lo, hi, isRange := strings.Cut(part, "-")
			a, err1 := strconv.ParseInt(lo, 10, 64)
			b := a
			var err2 error
			if isRange {
				b, err2 = strconv.ParseInt(hi, 10, 64)
			}
			if err1 != nil || err2 != nil || a < 1 || b < a {
				return bad("ticket_numbers")
			}
			f.numbers = append(f.numbers, [2]int64{a, b})
		}
	}
	return f, true
}

// tickets serves the ticket list.
func (s *Server) tickets(w http.ResponseWriter, r *http.Request) {
	f, ok := parseTicketFilter(w, r)
	if !ok {
		return
	}
	gen := int(s.gen.Load())
	limit := s.opts.TicketPageSize
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	fmt.Fprintf(bw, "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE REMEDIATION_TICKETS SYSTEM \"https://qualysapi.qualys.com/ticket_list_output.dtd\">\n<REMEDIATION_TICKETS>\n  <HEADER>\n    <USER_LOGIN>%s</USER_LOGIN>\n    <COMPANY><![CDATA[Example Corp]]></COMPANY>\n    <DATETIME>%s</DATETIME>\n    <WHERE>\n", s.opts.Username, now())
	if v := r.URL.Query().Get("states"); v != "" {
		fmt.Fprintf(bw, "      <STATES>%s</STATES>\n", v)
	}
	fmt.Fprint(bw, "    </WHERE>\n  </HEADER>\n")
	total := int64(s.TicketCount())
	written, last := 0, int64(0)
	n := f.since
	for ; n <= total; n++ {
		t := s.ticket(n, gen)
		if !f.match(&t) {
			continue
		}
		if written == limit {
			break
		}
		if written == 0 {
			fmt.Fprint(bw, "  <TICKET_LIST>\n")
		}
		s.writeTicket(bw, &t)
		written++
		last = n
	}
	if written > 0 {
		fmt.Fprint(bw, "  </TICKET_LIST>\n")
	}
	if n <= total {
		fmt.Fprintf(bw, "  <TRUNCATION last=\"%d\">Truncated after %d records</TRUNCATION>\n", last, limit)
	}
	fmt.Fprint(bw, "</REMEDIATION_TICKETS>\n"+trailerComment+"\n")
}

func (s *Server) writeTicket(bw *bufio.Writer, t *simTicket) {
	id := HostID(t.g, t.h)
	det := s.baseDetection(id, t.j)
	ts := func(x time.Time) string { return x.UTC().Format(time.RFC3339) }
	created := t.history[0].at
	fmt.Fprintf(bw, "    <TICKET>\n      <NUMBER>%d</NUMBER>\n      <CREATION_DATETIME>%s</CREATION_DATETIME>\n      <DUE_DATETIME>%s</DUE_DATETIME>\n      <CURRENT_STATE>%s</CURRENT_STATE>\n",
		t.number, ts(created), ts(created.Add(120*24*time.Hour)), t.state)
	if t.reopened && t.state == "OPEN" {
		fmt.Fprint(bw, "      <CURRENT_STATUS>REOPENED</CURRENT_STATUS>\n")
	}
	fmt.Fprintf(bw, "      <INVALID>0</INVALID>\n      <ASSIGNEE>\n        <NAME><![CDATA[Pat Admin]]></NAME>\n        <EMAIL><![CDATA[pat@example.test]]></EMAIL>\n        <LOGIN>%s</LOGIN>\n      </ASSIGNEE>\n", s.opts.Username)
	fmt.Fprintf(bw, "      <DETECTION>\n        <IP>%s</IP>\n        <DNSNAME><![CDATA[host-%d.example.test]]></DNSNAME>\n        <NBHNAME><![CDATA[HOST-%d]]></NBHNAME>\n", IP(t.g, t.h), id, id)
	if det.Port != 0 {
		fmt.Fprintf(bw, "        <PORT>%d</PORT>\n        <SERVICE>https</SERVICE>\n        <PROTOCOL>TCP</PROTOCOL>\n", det.Port)
	} else {
		fmt.Fprint(bw, "        <SERVICE>SMB / NETBIOS</SERVICE>\n")
	}
	fmt.Fprintf(bw, "      </DETECTION>\n      <STATS>\n        <FIRST_FOUND_DATETIME>%s</FIRST_FOUND_DATETIME>\n        <LAST_FOUND_DATETIME>%s</LAST_FOUND_DATETIME>\n        <LAST_SCAN_DATETIME>%s</LAST_SCAN_DATETIME>\n        <TIMES_FOUND>9</TIMES_FOUND>\n        <TIMES_NOT_FOUND></TIMES_NOT_FOUND>\n        <LAST_OPEN_DATETIME>%s</LAST_OPEN_DATETIME>\n      </STATS>\n      <HISTORY_LIST>\n",
		ts(created), ts(t.modified), ts(t.modified), ts(created))
	for i, e := range t.history {
		fmt.Fprintf(bw, "        <HISTORY>\n          <DATETIME>%s</DATETIME>\n          <ACTOR>%s</ACTOR>\n", ts(e.at), s.opts.Username)
		if e.new != "" {
			fmt.Fprint(bw, "          <STATE>\n")
			if e.old != "" {
				fmt.Fprintf(bw, "            <OLD>%s</OLD>\n", e.old)
			}
			fmt.Fprintf(bw, "            <NEW>%s</NEW>\n          </STATE>\n", e.new)
		}
		if i == 0 {
			fmt.Fprint(bw, "          <ADDED_ASSIGNEE>\n            <NAME><![CDATA[Pat Admin]]></NAME>\n            <EMAIL><![CDATA[pat@example.test]]></EMAIL>\n            <LOGIN>sim</LOGIN>\n          </ADDED_ASSIGNEE>\n          <SCAN>\n            <REF>scan/1700000000.12345</REF>\n            <DATETIME>"+ts(e.at)+"</DATETIME>\n          </SCAN>\n          <RULE><![CDATA[Default Policy]]></RULE>\n")
		}
		if e.comment != "" {
			// Comments are CDATA; the & of the text stays as it is there.
			fmt.Fprintf(bw, "          <COMMENT><![CDATA[%s]]></COMMENT>\n", e.comment)
		}
		fmt.Fprint(bw, "        </HISTORY>\n")
	}
	fmt.Fprintf(bw, "      </HISTORY_LIST>\n      <VULNINFO>\n        <TITLE><![CDATA[Simulated vulnerability %d]]></TITLE>\n        <TYPE>VULN</TYPE>\n        <QID>%d</QID>\n        <SEVERITY>%d</SEVERITY>\n        <STANDARD_SEVERITY>%d</STANDARD_SEVERITY>\n        <CVE_ID_LIST>\n          <CVE_ID><![CDATA[CVE-2025-%d]]></CVE_ID>\n        </CVE_ID_LIST>\n      </VULNINFO>\n    </TICKET>\n",
		det.QID, det.QID, det.Severity, det.Severity, det.QID)
}

// baseDetection is base detection j of host id, as generation 0 has it.
func (s *Server) baseDetection(id, j int) Detection {
	d := Detection{QID: QID(j), Severity: 1 + int(simfault.Hash(s.opts.Seed, 5, int64(id), int64(j))), Port: 443}
	if j%3 == 2 {
		d.Port = 0
	}
	return d
}

// ControlPath is the simulator's own control endpoint (no Qualys API has it): POST
// ?generation=N (with the simulator's credentials) selects generation N, so that a person
// trying the dev stack can move tickets through their states and scan data between runs.
const ControlPath = "/sim/generation"

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	if u, p, ok := r.BasicAuth(); !ok || u != s.opts.Username || p != s.opts.Password {
		http.Error(w, "use the simulator's username and password", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST ?generation=N", http.StatusMethodNotAllowed)
		return
	}
	g, err := strconv.Atoi(r.URL.Query().Get("generation"))
	if err != nil || g < 0 || g > 1000 {
		http.Error(w, "generation must be a number from 0 to 1000", http.StatusBadRequest)
		return
	}
	s.SetGeneration(g)
	fmt.Fprintf(w, "generation %d\n", g)
}

// mixed is simfault.Hash with its bits mixed (the splitmix64 finaliser): FNV's low bits move
// little between neighbouring parts, so one ticket's choices in consecutive generations would
// be correlated (no CLOSED ticket would ever reopen).
func mixed(seed int64, n uint64, parts ...int64) uint64 {
	z := simfault.Hash(seed, 1<<63, parts...)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return (z ^ (z >> 31)) % n
}
