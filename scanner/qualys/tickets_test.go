package qualys_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/qualys"
)

const emptyTickets = `<?xml version="1.0" encoding="UTF-8" ?>
<REMEDIATION_TICKETS><HEADER><DATETIME>2026-11-30T08:15:01Z</DATETIME><WHERE/></HEADER></REMEDIATION_TICKETS>`

// pagesClient answers the given bodies in turn (the last one again after that) and records
// the requests.
func pagesClient(t testing.TB, reqs *[]string, bodies ...string) *qualys.Client {
	t.Helper()
	n := 0
	c, err := qualys.New(qualys.Options{BaseURL: "https://qualysapi.qg9.apps.qualys.example", Username: "u", Password: "p", MaxRetries: -1,
		HTTPClient: &http.Client{Transport: simfault.Answers(func(r *http.Request) (int, []byte) {
			if reqs != nil {
				*reqs = append(*reqs, r.URL.RequestURI())
			}
			b := bodies[min(n, len(bodies)-1)]
			n++
			return 200, []byte(b)
		})},
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listTickets(c *qualys.Client, f qualys.TicketFilter) ([]qualys.Ticket, qualys.TicketListing, error) {
	var out []qualys.Ticket
	l, err := c.Tickets(context.Background(), f, func(t qualys.Ticket) error {
		out = append(out, t)
		return nil
	})
	return out, l, err
}

// A real-shaped answer: CDATA names with a trailing dot, a comment with " and &, an empty
// TIMES_NOT_FOUND, a detection without a port, a trailing comment after the root, and a
// TRUNCATION followed with since_ticket_number after the last ticket.
func TestTicketsFixture(t *testing.T) {
	var reqs []string
	c := pagesClient(t, &reqs, string(fixture(t, "tickets_quirks.xml")), emptyTickets)
	since := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	got, l, err := listTickets(c, qualys.TicketFilter{ModifiedSince: since, States: []string{"OPEN", "CLOSED"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || l.Pages != 2 || !l.Server.Equal(time.Date(2026, 11, 30, 8, 15, 0, 0, time.UTC)) {
		t.Fatalf("tickets %d, listing %+v", len(got), l)
	}
	if !strings.HasPrefix(reqs[0], qualys.PathTickets+"?") || !strings.Contains(reqs[0], "modified_since_datetime=2026-11-01T00%3A00%3A00Z") ||
		!strings.Contains(reqs[0], "states=OPEN%2CCLOSED") || strings.Contains(reqs[0], "since_ticket_number") {
		t.Fatalf("first request %s", reqs[0])
	}
	if !strings.Contains(reqs[1], "since_ticket_number=503") {
		t.Fatalf("second request %s", reqs[1])
	}
	a := got[0]
	if a.Number != 501 || a.State != qualys.TicketOpen || a.IP != "10.20.30.40" || a.DNS != "web01.acme.example" || a.NetBIOS != "WEB01" ||
		a.Port != nil || a.QID != "70000" || a.Severity != 2 || a.Service != "SMB / NETBIOS" || a.Assignee != "acme_ab" {
		t.Fatalf("ticket 501: %+v", a)
	}
	if len(a.History) != 2 || a.History[1].Comment != `Patch window booked: "SMB signing" & reboot on Friday` || a.History[1].Actor != "dana_ops" ||
		!a.Modified.Equal(time.Date(2026, 11, 2, 14, 0, 0, 0, time.UTC)) || a.Host() != "10.20.30.40 (web01.acme.example)" {
		t.Fatalf("ticket 501 history: %+v modified %v", a.History, a.Modified)
	}
	b := got[1]
	if b.State != qualys.TicketClosed || b.Port == nil || *b.Port != 443 || b.Protocol != "tcp" || b.History[1].OldState != "OPEN" ||
		b.History[1].NewState != "CLOSED" || b.Host() != "10.20.30.41" {
		t.Fatalf("ticket 502: %+v", b)
	}
}

func ticketErr(t *testing.T, err error, kind scanner.ErrorKind, want ...string) {
	t.Helper()
	var se *scanner.Error
	if !errors.As(err, &se) || se.Kind != kind {
		t.Fatalf("error %v, want kind %s", err, kind)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error %q does not say %q", err, w)
		}
	}
}

// Bad answers are classified errors naming the page and the element; none is taken for a
// complete list.
func TestTicketsBadAnswers(t *testing.T) {
	quirks := string(fixture(t, "tickets_quirks.xml"))
	for name, tc := range map[string]struct {
		bodies []string
		kind   scanner.ErrorKind
		want   []string
	}{
		"v1 error with 200":  {[]string{string(fixture(t, "tickets_error.xml"))}, scanner.KindBadCredentials, []string{"code 2002", "locked"}},
		"error inside":       {[]string{`<REMEDIATION_TICKETS><ERROR number="1905">parameter states has invalid value</ERROR></REMEDIATION_TICKETS>`}, scanner.KindRejected, []string{"1905", "invalid value"}},
		"unknown state":      {[]string{strings.Replace(quirks, "<CURRENT_STATE>CLOSED", "<CURRENT_STATE>FIXED", 1)}, scanner.KindBadResponse, []string{"TICKET[NUMBER=502]/CURRENT_STATE", `unknown state "FIXED"`}},
		"bad QID":            {[]string{strings.Replace(quirks, "<QID>70000", "<QID>x7", 1)}, scanner.KindBadResponse, []string{"TICKET[NUMBER=501]/VULNINFO/QID"}},
		"bad IP":             {[]string{strings.Replace(quirks, "10.20.30.40", "10.20.300.40", 1)}, scanner.KindBadResponse, []string{"DETECTION/IP"}},
		"bad date":           {[]string{strings.Replace(quirks, "2026-11-02T14:00:00Z", "02/11/2026", 1)}, scanner.KindBadResponse, []string{"HISTORY[2]/DATETIME"}},
		"truncated page 1":   {[]string{quirks[:len(quirks)/2]}, scanner.KindBadResponse, []string{"page 1", "truncated"}},
		"truncated page 2":   {[]string{quirks, quirks[:len(quirks)/3]}, scanner.KindBadResponse, []string{"page 2", "truncated"}},
		"same page again":    {[]string{quirks}, scanner.KindBadResponse, []string{"page 2", "not in number order"}},
		"truncation nowhere": {[]string{strings.Replace(quirks, `last="502"`, `last="abc"`, 1)}, scanner.KindBadResponse, []string{"TRUNCATION"}},
		"other document":     {[]string{`<HOST_LIST_OUTPUT><RESPONSE/></HOST_LIST_OUTPUT>`}, scanner.KindBadResponse, []string{"HOST_LIST_OUTPUT"}},
		"empty body":         {[]string{""}, scanner.KindBadResponse, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := listTickets(pagesClient(t, nil, tc.bodies...), qualys.TicketFilter{})
			ticketErr(t, err, tc.kind, tc.want...)
		})
	}
}

// The simulator's tickets, read page by page: every ticket once, in order, states as the
// generation has them; a 401 is bad credentials; a listing failing halfway is an error.
func TestTicketsSimulator(t *testing.T) {
	sim := qualyssim.New(qualyssim.Options{Seed: 5, AssetGroups: 2, HostsPerGroup: 7, DetectionsPerHost: 3, TicketPageSize: 10})
	defer sim.Close()
	var sl sleeps
	c := client(t, sim, &sl, 0)
	got, l, err := listTickets(c, qualys.TicketFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != sim.TicketCount() || l.Pages != 5 {
		t.Fatalf("%d tickets in %d pages, want %d in 5", len(got), l.Pages, sim.TicketCount())
	}
	for i, tk := range got {
		g, h, j := sim.TicketOf(tk.Number)
		if tk.Number != int64(i+1) || tk.State != "OPEN" || tk.IP != qualyssim.IP(g, h) || tk.QID != "1000"+string(rune('0'+j)) {
			t.Fatalf("ticket %d: %+v", i, tk)
		}
	}
	before := sim.Started().Add(time.Minute)
	sim.SetGenerationAt(2, sim.Started().Add(time.Hour))
	moved, _, err := listTickets(c, qualys.TicketFilter{ModifiedSince: before})
	if err != nil {
		t.Fatal(err)
	}
	if len(moved) == 0 || len(moved) == len(got) {
		t.Fatalf("%d of %d tickets modified by generation 2", len(moved), len(got))
	}
	for _, tk := range moved {
		state, reopened := sim.TicketState(tk.Number, 2)
		if tk.State != state || (tk.Status == "REOPENED") != (reopened && state == "OPEN") {
			t.Fatalf("ticket %d: %s/%s, simulator says %s reopened=%v", tk.Number, tk.State, tk.Status, state, reopened)
		}
	}
	closed, _, err := listTickets(c, qualys.TicketFilter{States: []string{"CLOSED"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range closed {
		if tk.State != "CLOSED" {
			t.Fatalf("states=CLOSED answered %s", tk.State)
		}
	}
	sim.Faults.Add(simfault.Fault{Path: qualys.PathTickets, After: 1, Status: 503, Times: 10})
	if _, _, err := listTickets(c, qualys.TicketFilter{}); err == nil || !strings.Contains(err.Error(), "page 2") {
		t.Fatalf("a listing failing on page 2: %v", err)
	}
	bad, err := qualys.New(qualys.Options{BaseURL: sim.URL, Username: "sim", Password: "wrong", Sleep: sl.sleep})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = listTickets(bad, qualys.TicketFilter{})
	ticketErr(t, err, scanner.KindBadCredentials, "Bad Login/Password")
	if err := bad.ProbeTickets(context.Background()); err == nil {
		t.Fatal("probe with a wrong password succeeded")
	}
	if err := c.ProbeTickets(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// FuzzTickets feeds any body to the ticket parser: a classified error, or tickets whose
// fields can be stored (clean text, a known state, a QID).
func FuzzTickets(f *testing.F) {
	seedXML(f, "tickets_quirks.xml", "tickets_error.xml")
	f.Add([]byte(emptyTickets))
	f.Add([]byte(`<REMEDIATION_TICKETS><TICKET_LIST><TICKET><NUMBER>1</NUMBER><CURRENT_STATE>OPEN</CURRENT_STATE><VULNINFO><QID>5</QID></VULNINFO></TICKET></TICKET_LIST></REMEDIATION_TICKETS>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		c := pagesClient(t, nil, string(body), emptyTickets)
		_, err := c.Tickets(context.Background(), qualys.TicketFilter{}, func(tk qualys.Ticket) error {
			for name, v := range map[string]string{"ip": tk.IP, "dns": tk.DNS, "netbios": tk.NetBIOS, "service": tk.Service, "title": tk.Title, "qid": tk.QID} {
				checkText(t, name, v)
			}
			switch tk.State {
			case "OPEN", "RESOLVED", "CLOSED", "IGNORED":
			default:
				t.Fatalf("state %q", tk.State)
			}
			if tk.QID == "" || tk.Number <= 0 {
				t.Fatalf("ticket without number or QID: %+v", tk)
			}
			for _, h := range tk.History {
				checkText(t, "comment", h.Comment)
				checkText(t, "actor", h.Actor)
			}
			return nil
		})
		checkErr(t, err)
	})
}
