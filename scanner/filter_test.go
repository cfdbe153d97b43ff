package scanner

import "testing"

func TestIPRanges(t *testing.T) {
	m, err := NewIPMatcher([]string{"10.1.0.0/16", "192.0.2.10-192.0.2.20", "2001:db8::1"})
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]bool{"10.1.255.255": true, "10.2.0.0": false, "192.0.2.15": true, "192.0.2.21": false,
		"2001:db8::1": true, "2001:db8::2": false, "::ffff:10.1.0.1": true, "not an ip": false} {
		if got := m.Match(ip); got != want {
			t.Errorf("Match(%s) = %v", ip, got)
		}
	}
	if p := m.Param(); p != "10.1.0.0-10.1.255.255,192.0.2.10-192.0.2.20,2001:db8::1" {
		t.Errorf("Param = %s", p)
	}
	for _, bad := range []string{"10.0.0.300", "10.0.0.9-10.0.0.1", "10.0.0.1-2001:db8::1", "", "10.0.0.0/33"} {
		if _, err := ParseIPRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if (&Host{NetBIOS: "PC1"}).Name() != "PC1" || (&Host{DNS: "a.example", IP: "1.2.3.4"}).Name() != "a.example" {
		t.Error("asset names")
	}
}

// FuzzParseIPRange: a range an admin writes either fails or is ordered, of one family, and
// contains its ends.
func FuzzParseIPRange(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1-10.0.0.9", "::1", "2001:db8::/127", "1.2.3.4-", "/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseIPRange(s)
		if err != nil {
			return
		}
		if r.From.Is4() != r.To.Is4() || r.To.Less(r.From) || !r.Contains(r.From) || !r.Contains(r.To) {
			t.Fatalf("%q -> %v", s, r)
		}
		if _, err := ParseIPRange(r.String()); err != nil {
			t.Fatalf("%q -> %q does not parse again: %v", s, r.String(), err)
		}
	})
}
