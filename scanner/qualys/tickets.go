package qualys

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/xmlstream"
)

// PathTickets is the remediation ticket list of the Qualys API v1 (Basic authentication only).
const PathTickets = "/msp/ticket_list.php"

// Ticket states as Qualys writes them (CURRENT_STATE).
const (
	TicketOpen     = "OPEN"
	TicketResolved = "RESOLVED"
	TicketClosed   = "CLOSED"
	TicketIgnored  = "IGNORED"
)

// Ticket is one Qualys remediation ticket: a vulnerability (QID) on a host, and what
// happened to it.
type Ticket struct {
	Number int64
	// State is OPEN, RESOLVED, CLOSED (fixed, verified by a rescan) or IGNORED.
	State string
	// Status is CURRENT_STATUS when Qualys gives one, such as REOPENED.
	Status   string
	Created  time.Time
	Due      time.Time
	Invalid  bool
	Assignee string
	// IP, DNS and NetBIOS name the host (DETECTION); Port, Protocol and Service the service.
	IP       string
	DNS      string
	NetBIOS  string
	Port     *int32
	Protocol string
	Service  string
	QID      string
	Title    string
	Severity int
	// Modified is the latest HISTORY date-time (the creation when there is none).
	Modified time.Time
	History  []TicketHistory
}

// TicketHistory is one HISTORY entry of a ticket: a state change, an assignment, a comment.
type TicketHistory struct {
	At       time.Time
	Actor    string
	OldState string
	NewState string
	Comment  string
}

// Host names the ticket's host for people: "IP (DNS)", the IP, or a name.
func (t *Ticket) Host() string {
	name := t.DNS
	if name == "" {
		name = t.NetBIOS
	}
	switch {
	case t.IP != "" && name != "":
		return t.IP + " (" + name + ")"
	case t.IP != "":
		return t.IP
	}
	return name
}

// TicketFilter selects the tickets to list.
type TicketFilter struct {
	// ModifiedSince lists tickets modified at or after this time. Optional.
	ModifiedSince time.Time
	// States lists tickets in these states only. Optional; all states by default.
	States []string
	// Numbers lists only these tickets (ticket_numbers, such as "1-10" or "5"). Optional.
	Numbers string
}

// TicketListing is what a complete ticket listing said besides its tickets.
type TicketListing struct {
	// Server is the HEADER DATETIME of the first page: the listing's time by Qualys's clock.
	Server time.Time
	Pages  int
}

type xmlTicket struct {
	Number, Created, Due, State, Status, Invalid, Assignee string
	IP, DNS, NetBIOS, Port, Protocol, Service, FQDN        string
	QID, Title, Severity                                   string
	History                                                []xmlTicketHistory
}

type xmlTicketHistory struct {
	At, Actor, Old, New, Comment string
}

func (t *xmlTicket) read(r *xmlstream.Reader) error {
	return r.Children(func(name []byte) (err error) {
		switch string(name) {
		case "NUMBER":
			t.Number, err = r.ReadText()
		case "CREATION_DATETIME":
			t.Created, err = r.ReadText()
		case "DUE_DATETIME":
			t.Due, err = r.ReadText()
		case "CURRENT_STATE":
			t.State, err = r.ReadText()
		case "CURRENT_STATUS":
			t.Status, err = r.ReadText()
		case "INVALID":
			t.Invalid, err = r.ReadText()
		case "ASSIGNEE":
			err = r.Children(func(name []byte) (err error) {
				if string(name) == "LOGIN" {
					t.Assignee, err = r.ReadText()
				}
				return err
			})
		case "DETECTION":
			err = r.Children(func(name []byte) (err error) {
				switch string(name) {
				case "IP":
					t.IP, err = r.ReadText()
				case "DNSNAME":
					t.DNS, err = r.ReadText()
				case "NBHNAME":
					t.NetBIOS, err = r.ReadText()
				case "PORT":
					t.Port, err = r.ReadText()
				case "PROTOCOL":
					t.Protocol, err = r.ReadText()
				case "SERVICE":
					t.Service, err = r.ReadText()
				case "FQDN":
					t.FQDN, err = r.ReadText()
				}
				return err
			})
		case "HISTORY_LIST":
			err = r.Children(func(name []byte) error {
				if string(name) != "HISTORY" {
					return nil
				}
				var h xmlTicketHistory
				err := r.Children(func(name []byte) (err error) {
					switch string(name) {
					case "DATETIME":
						h.At, err = r.ReadText()
					case "ACTOR":
						h.Actor, err = r.ReadText()
					case "COMMENT":
						h.Comment, err = r.ReadText()
					case "STATE":
						err = r.Children(func(name []byte) (err error) {
							switch string(name) {
							case "OLD":
								h.Old, err = r.ReadText()
							case "NEW":
								h.New, err = r.ReadText()
							}
							return err
						})
					}
					return err
				})
				t.History = append(t.History, h)
				return err
			})
		case "VULNINFO":
			err = r.Children(func(name []byte) (err error) {
				switch string(name) {
				case "QID":
					t.QID, err = r.ReadText()
				case "TITLE":
					t.Title, err = r.ReadText()
				case "SEVERITY":
					t.Severity, err = r.ReadText()
				}
				return err
			})
		}
		return err
	})
}

func text(s string) string { return strings.TrimSpace(scanner.Clean(s)) }

// ticketState checks a state element's value.
func ticketState(s string) (string, bool) {
	switch s {
	case TicketOpen, TicketResolved, TicketClosed, TicketIgnored:
		return s, true
	}
	return "", false
}

// ticket checks and converts a TICKET element.
func (c *Client) ticket(op string, page int, x *xmlTicket) (Ticket, error) {
	num := text(x.Number)
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		if num == "" {
			return Ticket{}, c.bad(op, page, "TICKET/NUMBER", "missing")
		}
		return Ticket{}, c.bad(op, page, "TICKET/NUMBER", "%q is not a ticket number", num)
	}
	el := "TICKET[NUMBER=" + num + "]/"
	t := Ticket{Number: n, Status: strings.ToUpper(text(x.Status)), Assignee: text(x.Assignee), DNS: strings.ToLower(strings.TrimSuffix(text(x.DNS), ".")),
		NetBIOS: text(x.NetBIOS), Protocol: strings.ToLower(text(x.Protocol)), Service: text(x.Service), Title: text(x.Title), Invalid: text(x.Invalid) == "1"}
	var ok bool
	if t.State, ok = ticketState(text(x.State)); !ok {
		if text(x.State) == "" {
			return Ticket{}, c.bad(op, page, el+"CURRENT_STATE", "missing")
		}
		return Ticket{}, c.bad(op, page, el+"CURRENT_STATE", "unknown state %q (expected OPEN, RESOLVED, CLOSED or IGNORED)", text(x.State))
	}
	if t.DNS == "" {
		t.DNS = strings.ToLower(strings.TrimSuffix(text(x.FQDN), "."))
	}
	if ip := text(x.IP); ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return Ticket{}, c.bad(op, page, el+"DETECTION/IP", "%q is not an IP address", ip)
		}
		t.IP = a.Unmap().String()
	}
	if p := text(x.Port); p != "" {
		v, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return Ticket{}, c.bad(op, page, el+"DETECTION/PORT", "%q is not a port number", p)
		}
		port := int32(v)
		t.Port = &port
	}
	t.QID = text(x.QID)
	if t.QID == "" {
		return Ticket{}, c.bad(op, page, el+"VULNINFO/QID", "missing")
	}
	if q, err := strconv.ParseUint(t.QID, 10, 32); err != nil || q == 0 {
		return Ticket{}, c.bad(op, page, el+"VULNINFO/QID", "%q is not a QID", t.QID)
	}
	if s := text(x.Severity); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 5 {
			return Ticket{}, c.bad(op, page, el+"VULNINFO/SEVERITY", "unknown severity %q (expected 1 to 5)", s)
		}
		t.Severity = v
	}
	if t.Created, err = scanner.ParseTime(x.Created); err != nil {
		return Ticket{}, c.bad(op, page, el+"CREATION_DATETIME", "%v", err)
	}
	if t.Due, err = scanner.ParseTime(x.Due); err != nil {
		return Ticket{}, c.bad(op, page, el+"DUE_DATETIME", "%v", err)
	}
	t.Modified = t.Created
	for i, h := range x.History {
		he := fmt.Sprintf("%sHISTORY_LIST/HISTORY[%d]/", el, i+1)
		var e TicketHistory
		if e.At, err = scanner.ParseTime(h.At); err != nil {
			return Ticket{}, c.bad(op, page, he+"DATETIME", "%v", err)
		}
		if e.At.IsZero() {
			return Ticket{}, c.bad(op, page, he+"DATETIME", "missing")
		}
		e.Actor, e.Comment = text(h.Actor), text(h.Comment)
		for _, s := range []struct{ in, name string }{{h.Old, "OLD"}, {h.New, "NEW"}} {
			if v := text(s.in); v != "" {
				if _, ok := ticketState(v); !ok {
					return Ticket{}, c.bad(op, page, he+"STATE/"+s.name, "unknown state %q (expected OPEN, RESOLVED, CLOSED or IGNORED)", v)
				}
			}
		}
		e.OldState, e.NewState = text(h.Old), text(h.New)
		if e.At.After(t.Modified) {
			t.Modified = e.At
		}
		t.History = append(t.History, e)
	}
	return t, nil
}

// Tickets lists the remediation tickets that f selects, in number order, calling fn for each.
// Qualys answers at most 1,000 tickets at a time; a TRUNCATION element names the last ticket
// of the answer, and the listing goes on with since_ticket_number after it until an answer
// has no TRUNCATION. A listing cut short or failing on any page is an error: the caller must
// not take what it has for the whole list.
func (c *Client) Tickets(ctx context.Context, f TicketFilter, fn func(Ticket) error) (TicketListing, error) {
	q := url.Values{}
	if !f.ModifiedSince.IsZero() {
		q.Set("modified_since_datetime", f.ModifiedSince.UTC().Format("2006-01-02T15:04:05Z"))
	}
	if len(f.States) > 0 {
		q.Set("states", strings.Join(f.States, ","))
	}
	if f.Numbers != "" {
		q.Set("ticket_numbers", f.Numbers)
	}
	op := "remediation tickets"
	var listing TicketListing
	var since, last int64
	for page := 1; ; page++ {
		if since > 0 {
			q.Set("since_ticket_number", strconv.FormatInt(since, 10))
		}
		p, err := c.ticketPage(ctx, op, page, c.endpoint(PathTickets, q), func(t Ticket) error {
			if t.Number <= last {
				return c.bad(op, page, "TICKET[NUMBER="+strconv.FormatInt(t.Number, 10)+"]", "tickets are not in number order (%d follows %d)", t.Number, last)
			}
			last = t.Number
			return fn(t)
		})
		if err != nil {
			return listing, err
		}
		if page == 1 {
			listing.Server = p.at
		}
		listing.Pages = page
		if p.truncatedAt == 0 {
			return listing, nil
		}
		if p.truncatedAt < since || p.truncatedAt < last {
			return listing, c.bad(op, page, "TRUNCATION", "last=%d does not move past the tickets read (up to %d)", p.truncatedAt, max(last, since))
		}
		since = p.truncatedAt + 1
	}
}

// ticketPage is what one answer of the ticket list said besides its tickets.
type ticketPage struct {
	at          time.Time
	truncatedAt int64
}

// ticketPage fetches and reads one answer of the ticket list.
func (c *Client) ticketPage(ctx context.Context, op string, page int, target string, fn func(Ticket) error) (ticketPage, error) {
	var p ticketPage
	body, err := c.get(ctx, op, page, target)
	if err != nil {
		return p, err
	}
	defer body.Close()
	br := bufio.NewReaderSize(body, 4096)
	// API v1 answers an error with an <ERROR number="…"> document, with HTTP 200 too.
	if rootName(br) == "ERROR" {
		sr := readSimpleReturn(br)
		code, msg := text(sr.Code), text(sr.Text)
		kind, msg := classify(http.StatusOK, code, msg)
		return p, &scanner.Error{Vendor: Vendor, Kind: kind, Op: op, Page: page, Status: http.StatusOK, Code: code, Message: msg}
	}
	r := xmlstream.NewReader(br, xmlstream.Options{MaxElementBytes: c.opts.MaxElementBytes})
	var errCode, errText, header, truncation string
	var sawError, sawTruncation bool
	root, err := r.Walk(map[string]func() error{
		"TICKET": func() error {
			var x xmlTicket
			if err := x.read(r); err != nil {
				return err
			}
			t, err := c.ticket(op, page, &x)
			if err != nil {
				return err
			}
			return fn(t)
		},
		"HEADER": func() error {
			return r.Children(func(name []byte) (err error) {
				if string(name) == "DATETIME" {
					header, err = r.ReadText()
				}
				return err
			})
		},
		"ERROR": func() (err error) {
			sawError = true
			v, _ := r.Attr("number")
			errCode = string(v)
			errText, err = r.ReadText()
			return err
		},
		"TRUNCATION": func() error {
			sawTruncation = true
			v, _ := r.Attr("last")
			truncation = string(v)
			return nil
		},
	})
	if err != nil {
		var se *scanner.Error
		if errors.As(err, &se) {
			return p, err
		}
		return p, &scanner.Error{Vendor: Vendor, Kind: readKind(err), Op: op, Page: page, Element: root, Message: err.Error()}
	}
	switch {
	case root == "SIMPLE_RETURN":
		return p, c.bad(op, page, root, "the API answered a SIMPLE_RETURN instead of a ticket list")
	case root != "REMEDIATION_TICKETS":
		return p, c.bad(op, page, root, "the API answered <%s> instead of REMEDIATION_TICKETS", root)
	case sawError:
		code, msg := text(errCode), text(errText)
		kind, msg := classify(http.StatusOK, code, msg)
		return p, &scanner.Error{Vendor: Vendor, Kind: kind, Op: op, Page: page, Status: http.StatusOK, Code: code, Message: msg}
	}
	if p.at, err = scanner.ParseTime(header); err != nil {
		return p, c.bad(op, page, "HEADER/DATETIME", "%v", err)
	}
	if sawTruncation {
		n, err := strconv.ParseInt(strings.TrimSpace(truncation), 10, 64)
		if err != nil || n <= 0 {
			return p, c.bad(op, page, "TRUNCATION", "last=%q is not a ticket number", scanner.Clean(truncation))
		}
		p.truncatedAt = n
	}
	return p, nil
}

// rootName peeks at the name of the document's root element (after the declaration,
// DOCTYPE and comments) without consuming anything; "" when it is not within the first 4 KiB.
func rootName(br *bufio.Reader) string {
	b, _ := br.Peek(4096)
	for {
		i := bytes.IndexByte(b, '<')
		if i < 0 || i+1 >= len(b) {
			return ""
		}
		b = b[i+1:]
		switch {
		case bytes.HasPrefix(b, []byte("!--")):
			end := bytes.Index(b, []byte("-->"))
			if end < 0 {
				return ""
			}
			b = b[end+3:]
		case b[0] == '?' || b[0] == '!':
			end := bytes.IndexByte(b, '>')
			if end < 0 {
				return ""
			}
			b = b[end+1:]
		default:
			end := bytes.IndexAny(b, " \t\r\n/>")
			if end < 0 {
				return ""
			}
			return string(b[:end])
		}
	}
}

// ProbeTickets checks the credentials and the ticket API with one small request: the
// ticket numbered 1, which need not exist.
func (c *Client) ProbeTickets(ctx context.Context) error {
	_, err := c.ticketPage(ctx, "connection test (remediation tickets)", 1, c.endpoint(PathTickets, url.Values{"ticket_numbers": {"1"}}),
		func(Ticket) error { return nil })
	return err
}
