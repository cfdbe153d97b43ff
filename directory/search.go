package directory

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// Scopes by their configuration names.
var scopes = map[string]int{"base": ldap.ScopeBaseObject, "one": ldap.ScopeSingleLevel, "sub": ldap.ScopeWholeSubtree}

// SearchRequest is one paged search.
type SearchRequest struct {
	// BaseDN is where the search starts. Required.
	BaseDN string
	// Scope is "base", "one" or "sub". Optional; defaults to "sub".
	Scope string
	// Filter is an RFC 4515 filter. Optional; defaults to (objectClass=*).
	Filter string
	// Attributes are the attributes to return. Optional; empty returns every user attribute.
	Attributes []string
	// PageSize is the RFC 2696 page size. Optional; defaults to 500.
	PageSize int
}

// SearchStats describes a finished search.
type SearchStats struct {
	Entries   int `json:"entries"`
	Pages     int `json:"pages"`
	Referrals int `json:"referrals"`
}

// SearchPages runs req with the paged results control and hands each page of entries to fn
// before asking for the next, so memory holds one page at a time whatever the directory's
// size. A search that the server ends early (size limit, time limit) is an error, never a
// short success: callers may treat a completed search as the whole directory.
func (c *Conn) SearchPages(ctx context.Context, req SearchRequest, fn func(page []*ldap.Entry) error) (SearchStats, error) {
	var st SearchStats
	scope, ok := scopes[req.Scope]
	if req.Scope == "" {
		scope, ok = ldap.ScopeWholeSubtree, true
	}
	if !ok {
		return st, &Error{Kind: KindProtocol, Msg: fmt.Sprintf("unknown scope %q", req.Scope)}
	}
	if req.Filter == "" {
		req.Filter = "(objectClass=*)"
	}
	if req.PageSize <= 0 {
		req.PageSize = 500
	}
	paging := ldap.NewControlPaging(uint32(req.PageSize))
	page := make([]*ldap.Entry, 0, req.PageSize)
	for {
		sr := ldap.NewSearchRequest(req.BaseDN, scope, ldap.NeverDerefAliases, 0, 0, false, req.Filter, req.Attributes, []ldap.Control{paging})
		sctx, cancel := context.WithCancel(ctx)
		resp := c.conn.SearchAsync(sctx, sr, req.PageSize)
		var cookie []byte
		page = page[:0]
		for resp.Next() {
			if e := resp.Entry(); e != nil {
				page = append(page, e)
			} else if resp.Referral() != "" {
				st.Referrals++
			}
			if ctrl, ok := ldap.FindControl(resp.Controls(), ldap.ControlTypePaging).(*ldap.ControlPaging); ok && ctrl != nil {
				cookie = ctrl.Cookie
			}
		}
		err := resp.Err()
		cancel()
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		if err != nil {
			return st, classifySearch(c.URL, req.BaseDN, st.Entries+len(page), err)
		}
		st.Pages++
		st.Entries += len(page)
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return st, err
			}
		}
		if len(cookie) == 0 {
			return st, nil
		}
		paging.SetCookie(cookie)
	}
}

// searcher is the part of *ldap.Conn that range retrieval needs.
type searcher interface {
	Search(*ldap.SearchRequest) (*ldap.SearchResult, error)
}

// maxRangeRequests bounds range retrieval of one attribute (1,500 values a request on a default
// Active Directory: 15 million values).
const maxRangeRequests = 10000

// Values returns every value of attr on e. When Active Directory returned only a first range
// of a large multi-valued attribute (for example "member;range=0-1499" with an empty "member"),
// it asks for the following ranges ("member;range=1500-*", ...) until the server marks the
// last one with "*".
func (c *Conn) Values(e *ldap.Entry, attr string) ([]string, error) {
	return rangeValues(c.conn, c.URL, e, attr)
}

func rangeValues(s searcher, shown string, e *ldap.Entry, attr string) ([]string, error) {
	values := e.GetEqualFoldAttributeValues(attr)
	name, next, ok := rangeOf(e, attr)
	if !ok {
		return values, nil
	}
	values = append(values[:len(values):len(values)], e.GetAttributeValues(name)...)
	for i := 0; next >= 0; i++ {
		if i >= maxRangeRequests {
			return nil, &Error{Kind: KindProtocol, URL: shown, Msg: fmt.Sprintf("%s of %q: range retrieval did not end after %d requests", attr, e.DN, i)}
		}
		want := fmt.Sprintf("%s;range=%d-*", attr, next)
		sr := ldap.NewSearchRequest(e.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{want}, nil)
		res, err := s.Search(sr)
		if err != nil {
			return nil, classifySearch(shown, e.DN, 0, err)
		}
		if len(res.Entries) != 1 {
			return nil, &Error{Kind: KindProtocol, URL: shown, Msg: fmt.Sprintf("%s of %q: asking for %s returned %d entries", attr, e.DN, want, len(res.Entries))}
		}
		got := res.Entries[0]
		name, n, ok := rangeOf(got, attr)
		if !ok {
			return nil, &Error{Kind: KindProtocol, URL: shown, Msg: fmt.Sprintf("%s of %q: asking for %s returned no ranged values", attr, e.DN, want)}
		}
		if n >= 0 && n <= next {
			return nil, &Error{Kind: KindProtocol, URL: shown, Msg: fmt.Sprintf("%s of %q: the server's range does not advance past %d", attr, e.DN, next)}
		}
		values = append(values, got.GetAttributeValues(name)...)
		next = n
	}
	return values, nil
}

// rangeOf finds a ranged attribute "attr;range=low-high" on e. next is high+1, or -1 when
// high is "*" (the last range).
func rangeOf(e *ldap.Entry, attr string) (name string, next int, ok bool) {
	prefix := strings.ToLower(attr) + ";range="
	for _, a := range e.Attributes {
		lower := strings.ToLower(a.Name)
		if !strings.HasPrefix(lower, prefix) {
			continue
		}
		_, high, found := strings.Cut(lower[len(prefix):], "-")
		if !found {
			continue
		}
		if high == "*" {
			return a.Name, -1, true
		}
		h, err := strconv.Atoi(high)
		if err != nil || h < 0 {
			continue
		}
		return a.Name, h + 1, true
	}
	return "", 0, false
}
