package directory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"crypto/x509"

	"github.com/go-ldap/ldap/v3"

	"github.com/tributary-io/tributary/directory"
	"github.com/tributary-io/tributary/internal/slapdtest"
)

func connect(t *testing.T, opts directory.Options) (*directory.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := directory.Connect(ctx, opts)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func kindOf(t *testing.T, err error) directory.ErrorKind {
	t.Helper()
	var de *directory.Error
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *directory.Error", err, err)
	}
	return de.Kind
}

func TestPagedSearchReadsPastTheSizeLimit(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{SizeLimit: 50, LDIF: slapdtest.WriteDirectory(slapdtest.DirectorySpec{Users: 230})})
	c, err := connect(t, directory.Options{URLs: []string{srv.URL}, BindDN: slapdtest.ReaderDN, BindPassword: slapdtest.ReaderPW})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	biggest := 0
	st, err := c.SearchPages(context.Background(), directory.SearchRequest{
		BaseDN: slapdtest.People, Filter: "(objectClass=inetOrgPerson)", Attributes: []string{"uid"}, PageSize: 40,
	}, func(page []*ldap.Entry) error {
		biggest = max(biggest, len(page))
		for _, e := range page {
			seen[e.GetAttributeValue("uid")] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 230 || st.Entries != 230 || st.Pages != 6 || biggest != 40 {
		t.Fatalf("got %d distinct users, stats %+v, biggest page %d; want 230 users in 6 pages of at most 40", len(seen), st, biggest)
	}

	// An account whose paged searches are capped by the size limit must fail, never return
	// a short list that an import would take for the whole directory.
	lc, err := connect(t, directory.Options{URLs: []string{srv.URL}, BindDN: slapdtest.LimitedDN, BindPassword: slapdtest.LimitedPW})
	if err != nil {
		t.Fatal(err)
	}
	_, err = lc.SearchPages(context.Background(), directory.SearchRequest{BaseDN: slapdtest.People, Filter: "(objectClass=inetOrgPerson)", PageSize: 40},
		func([]*ldap.Entry) error { return nil })
	if kindOf(t, err) != directory.KindSizeLimit || !strings.Contains(err.Error(), "size limit exceeded") {
		t.Fatalf("limited account: got %v, want a size-limit error", err)
	}

	// A base DN that does not exist is named in the error.
	_, err = c.SearchPages(context.Background(), directory.SearchRequest{BaseDN: "ou=nobody," + slapdtest.Suffix}, func([]*ldap.Entry) error { return nil })
	if kindOf(t, err) != directory.KindNoSuchObject || !strings.Contains(err.Error(), `"ou=nobody,dc=example,dc=com" does not exist`) {
		t.Fatalf("missing base DN: got %v", err)
	}
}

func TestConnectClassifiesFailures(t *testing.T) {
	srv := slapdtest.Start(t, slapdtest.Options{TLS: true})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(srv.CAPEM))
	reader := func(o directory.Options) directory.Options {
		o.BindDN, o.BindPassword, o.ConnectTimeout = slapdtest.ReaderDN, slapdtest.ReaderPW, 5*time.Second
		return o
	}

	for name, o := range map[string]directory.Options{
		"starttls with the test CA":   reader(directory.Options{URLs: []string{srv.URL}, StartTLS: true, RootCAs: pool}),
		"ldaps with the test CA":      reader(directory.Options{URLs: []string{srv.LDAPSURL}, RootCAs: pool}),
		"second URL after a dead one": reader(directory.Options{URLs: []string{"ldap://127.0.0.1:1", srv.URL}}),
	} {
		if _, err := connect(t, o); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	cases := []struct {
		name string
		opts directory.Options
		kind directory.ErrorKind
		text string
	}{
		{"bad password", directory.Options{URLs: []string{srv.URL}, BindDN: slapdtest.ReaderDN, BindPassword: "wrong"},
			directory.KindBadCredentials, "invalid credentials"},
		{"unreachable", directory.Options{URLs: []string{"ldap://127.0.0.1:1"}}, directory.KindUnreachable, "cannot connect"},
		{"starttls without the CA", reader(directory.Options{URLs: []string{srv.URL}, StartTLS: true}), directory.KindTLS, "not signed by a trusted CA"},
		{"ldaps with the wrong name", reader(directory.Options{URLs: []string{srv.LDAPSURL}, RootCAs: pool, ServerName: "ldap.example.org"}),
			directory.KindTLS, "does not match"},
		{"ldaps on the plain port", reader(directory.Options{URLs: []string{strings.Replace(srv.URL, "ldap://", "ldaps://", 1)}, RootCAs: pool}),
			directory.KindTLS, "TLS"},
	}
	for _, tc := range cases {
		_, err := connect(t, tc.opts)
		if err == nil {
			t.Errorf("%s: connected", tc.name)
			continue
		}
		if k := kindOf(t, err); k != tc.kind || !strings.Contains(err.Error(), tc.text) {
			t.Errorf("%s: got %s %q, want %s containing %q", tc.name, k, err, tc.kind, tc.text)
		}
		if strings.Contains(err.Error(), slapdtest.ReaderPW) {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
}

func TestDecodeGUID(t *testing.T) {
	// .NET's Guid("00112233-4455-6677-8899-aabbccddeeff").ToByteArray(): the layout AD stores.
	raw := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	got, err := directory.DecodeGUID(raw)
	if err != nil || got != "00112233-4455-6677-8899-aabbccddeeff" {
		t.Fatalf("DecodeGUID = %q, %v", got, err)
	}
	back, err := directory.EncodeGUID(got)
	if err != nil || string(back) != string(raw) {
		t.Fatalf("EncodeGUID = %x, %v", back, err)
	}
	f, _ := directory.GUIDFilter(got)
	if f != `(objectGUID=\33\22\11\00\55\44\77\66\88\99\aa\bb\cc\dd\ee\ff)` {
		t.Fatalf("GUIDFilter = %s", f)
	}
	if _, err := directory.DecodeGUID(raw[:15]); err == nil {
		t.Fatal("a 15-byte GUID decoded")
	}

	// An AD entry keyed by objectGUID maps to that GUID.
	e := &ldap.Entry{DN: "CN=PC1,OU=Computers,DC=corp,DC=example", Attributes: []*ldap.EntryAttribute{
		{Name: "objectGUID", ByteValues: [][]byte{raw}, Values: []string{string(raw)}},
		{Name: "cn", Values: []string{"PC1"}, ByteValues: [][]byte{[]byte("PC1")}},
		{Name: "dNSHostName", Values: []string{"PC1.corp.example."}},
		{Name: "userAccountControl", Values: []string{"4098"}},
		{Name: "whenChanged", Values: []string{"20261125103000.0Z"}},
	}}
	o, err := directory.MapEntry(e, directory.Schema{Kind: directory.KindComputer, IdentityAttribute: "objectGUID", ChangedAttribute: "whenChanged",
		Mapping: directory.Mapping{Hostname: "cn", FQDN: "dNSHostName", AccountControl: "userAccountControl"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.ExternalID != got || o.FQDN != "pc1.corp.example" || o.Hostname != "pc1" || !o.Disabled ||
		o.ModifiedAt == nil || !o.ModifiedAt.Equal(time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)) {
		t.Fatalf("mapped %+v", o)
	}
}

func TestMapEntrySkipsBadEntries(t *testing.T) {
	schema := directory.Schema{Kind: directory.KindUser, IdentityAttribute: "entryUUID", Mapping: directory.Mapping{Username: "uid", Name: "cn"}}
	for name, tc := range map[string]struct {
		attrs map[string][]string
		want  string
	}{
		"no identity":   {map[string][]string{"uid": {"a"}}, "has no entryUUID"},
		"NUL identity":  {map[string][]string{"entryUUID": {"a\x00"}}, "is not a usable identity"},
		"huge value":    {map[string][]string{"entryUUID": {"0d5a2c4e-1f0e-4b8a-9c3d-2e6f1a7b8c9d"}, "cn": {strings.Repeat("x", 5000)}}, "5000 bytes long"},
		"bad timestamp": {map[string][]string{"entryUUID": {"0d5a2c4e-1f0e-4b8a-9c3d-2e6f1a7b8c9d"}, "modifyTimestamp": {"yesterday"}}, "not a GeneralizedTime"},
	} {
		s := schema
		if name == "bad timestamp" {
			s.ChangedAttribute = "modifyTimestamp"
		}
		_, err := directory.MapEntry(ldap.NewEntry("uid=a,ou=people,dc=example,dc=com", tc.attrs), s, nil)
		var skip *directory.SkipError
		if !errors.As(err, &skip) || !strings.Contains(err.Error(), tc.want) || skip.DN != "uid=a,ou=people,dc=example,dc=com" {
			t.Errorf("%s: got %v, want a skip naming the DN and %q", name, err, tc.want)
		}
	}
	// Values Postgres text cannot hold are cleaned, not rejected.
	o, err := directory.MapEntry(ldap.NewEntry("uid=a,ou=people,dc=example,dc=com", map[string][]string{
		"entryUUID": {"0D5A2C4E-1F0E-4B8A-9C3D-2E6F1A7B8C9D"}, "cn": {"a\x00b\xff"}}), schema, nil)
	if err != nil || o.Name != "a\uFFFDb\uFFFD" || o.ExternalID != "0d5a2c4e-1f0e-4b8a-9c3d-2e6f1a7b8c9d" {
		t.Fatalf("got %+v, %v", o, err)
	}
}

// rangeServer answers base searches for "member;range=N-*" the way Active Directory does with
// MaxValRange = step.
type rangeServer struct {
	values []string
	step   int
	calls  int
}

func (s *rangeServer) Search(r *ldap.SearchRequest) (*ldap.SearchResult, error) {
	s.calls++
	var low int
	if _, err := fmt.Sscanf(r.Attributes[0], "member;range=%d-*", &low); err != nil {
		return nil, err
	}
	return &ldap.SearchResult{Entries: []*ldap.Entry{s.entry(r.BaseDN, low)}}, nil
}

func (s *rangeServer) entry(dn string, low int) *ldap.Entry {
	high := min(low+s.step, len(s.values)) - 1
	name := fmt.Sprintf("member;range=%d-%d", low, high)
	if high == len(s.values)-1 {
		name = fmt.Sprintf("member;range=%d-*", low)
	}
	return &ldap.Entry{DN: dn, Attributes: []*ldap.EntryAttribute{{Name: "member", Values: nil}, {Name: name, Values: s.values[low : high+1]}}}
}

func TestRangeRetrieval(t *testing.T) {
	for _, n := range []int{1499, 1500, 1501, 4000} {
		s := &rangeServer{step: 1500}
		for i := range n {
			s.values = append(s.values, fmt.Sprintf("CN=u%d,DC=corp", i))
		}
		first := s.entry("CN=big,DC=corp", 0)
		got, err := directory.RangeValuesForTest(s, first, "member")
		if err != nil {
			t.Fatalf("%d members: %v", n, err)
		}
		if len(got) != n || got[0] != s.values[0] || got[n-1] != s.values[n-1] || s.calls != (n-1)/1500 {
			t.Fatalf("%d members: got %d values with %d extra requests", n, len(got), s.calls)
		}
	}
	// A server that repeats a range is an error, not an endless loop.
	stuck := &stuckServer{}
	_, err := directory.RangeValuesForTest(stuck, &ldap.Entry{DN: "CN=g", Attributes: []*ldap.EntryAttribute{{Name: "member;range=0-1", Values: []string{"a", "b"}}}}, "member")
	if err == nil || !strings.Contains(err.Error(), "does not advance") {
		t.Fatalf("stuck server: %v", err)
	}
}

type stuckServer struct{}

func (stuckServer) Search(r *ldap.SearchRequest) (*ldap.SearchResult, error) {
	return &ldap.SearchResult{Entries: []*ldap.Entry{{DN: r.BaseDN, Attributes: []*ldap.EntryAttribute{{Name: "member;range=0-1", Values: []string{"a", "b"}}}}}}, nil
}
