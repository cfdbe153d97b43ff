package scanner

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// AssetKeyPrefix is the identity-key prefix of the assets of one scanner server: the tool type
// and the server's host (and port), "qualys:qualysapi.qualys.com:". A host's asset is this
// prefix followed by the vendor's host ID, shared by every task and connector of the server.
func AssetKeyPrefix(toolType, baseURL string) string {
	return strings.ToLower(toolType) + ":" + Server(baseURL) + ":"
}

// Server is the host (and port) of a scanner's base URL, lower-cased: what names the server in
// asset keys, catalogue scopes and run details.
func Server(baseURL string) string {
	host := baseURL
	if u, err := url.Parse(strings.TrimSpace(baseURL)); err == nil && u.Host != "" {
		host = u.Host
	}
	return strings.ToLower(host)
}

// Filter narrows a scanner import to some assets: IP ranges and the vendor's asset groups
// (Qualys) or sites (Nexpose). An empty filter means the whole inventory.
type Filter struct {
	// IPRanges are CIDR blocks (10.0.0.0/8), ranges (10.0.0.1-10.0.0.99) or single addresses.
	IPRanges []string
	// Groups are asset group IDs (Qualys) or site IDs (Nexpose).
	Groups []string
}

// IPRange is an inclusive range of addresses of one family.
type IPRange struct{ From, To netip.Addr }

// ParseIPRange reads a CIDR block, a range "a-b" or one address.
func ParseIPRange(s string) (IPRange, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		p = p.Masked()
		last := p.Addr()
		bits := p.Addr().BitLen()
		b := last.AsSlice()
		for i := p.Bits(); i < bits; i++ {
			b[i/8] |= 1 << (7 - uint(i%8))
		}
		to, _ := netip.AddrFromSlice(b)
		return IPRange{From: p.Addr(), To: to}, nil
	}
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(from))
		b, err2 := netip.ParseAddr(strings.TrimSpace(to))
		if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) {
			return IPRange{}, fmt.Errorf("%q is not an address range such as 10.0.0.1-10.0.0.99", s)
		}
		return IPRange{From: a.Unmap(), To: b.Unmap()}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return IPRange{}, fmt.Errorf("%q is not an address, a CIDR block or a range", s)
	}
	return IPRange{From: a.Unmap(), To: a.Unmap()}, nil
}

// String writes the range as Qualys's ips parameter takes it.
func (r IPRange) String() string {
	if r.From == r.To {
		return r.From.String()
	}
	return r.From.String() + "-" + r.To.String()
}

// Contains says whether ip is in the range.
func (r IPRange) Contains(ip netip.Addr) bool {
	// An IPv4-mapped address (::ffff:10.0.0.1) is the IPv4 address for an IPv4 range; an IPv6
	// range (::/80 ends in ::ffff:255.255.255.255) compares it as IPv6.
	if r.From.Is4() {
		ip = ip.Unmap()
	}
	return ip.Is4() == r.From.Is4() && !ip.Less(r.From) && !r.To.Less(ip)
}

// IPMatcher tells whether an address is in any of a filter's ranges.
type IPMatcher []IPRange

// NewIPMatcher parses ranges; no ranges match every address.
func NewIPMatcher(ranges []string) (IPMatcher, error) {
	var m IPMatcher
	for _, s := range ranges {
		r, err := ParseIPRange(s)
		if err != nil {
			return nil, err
		}
		m = append(m, r)
	}
	return m, nil
}

// Match says whether ip (text) is in a range; with no ranges everything matches, and an
// address that cannot be read matches nothing.
func (m IPMatcher) Match(ip string) bool {
	if len(m) == 0 {
		return true
	}
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return false
	}
	for _, r := range m {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// Param writes the ranges as one comma-separated list of ranges and addresses.
func (m IPMatcher) Param() string {
	parts := make([]string, len(m))
	for i, r := range m {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}
