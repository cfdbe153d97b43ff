package directory_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"

	"github.com/tributary-io/tributary/directory"
)

// FuzzMapEntry feeds any DN and attribute values to the entry mapping (users of OpenLDAP and
// computers of Active Directory): an entry is either skipped with a reason naming its DN, or
// mapped to an object whose stored text is clean and whose identity is set.
func FuzzMapEntry(f *testing.F) {
	f.Add("uid=a,ou=people,dc=example,dc=com", "0d5a2c4e-1f0e-4b8a-9c3d-2e6f1a7b8c9d", "20261125100000Z", "Ann", "512", false)
	f.Add("CN=PC1,OU=Computers,DC=corp,DC=example", "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", "20261125100000.0Z", "pc1.corp.example", "4098", true)
	f.Add("not a dn", "", "yesterday", "a\x00b\xff", "x", false)
	f.Fuzz(func(t *testing.T, dn, id, changed, name, uac string, ad bool) {
		s := directory.Schema{Kind: directory.KindUser, IdentityAttribute: "entryUUID", ChangedAttribute: "modifyTimestamp",
			Mapping: directory.Mapping{Username: "uid", Name: "cn"}}
		attrs := map[string][]string{"entryUUID": {id}, "modifyTimestamp": {changed}, "uid": {name}, "cn": {name}}
		if ad {
			s = directory.Schema{Kind: directory.KindComputer, IdentityAttribute: "objectGUID", ChangedAttribute: "whenChanged",
				Mapping: directory.Mapping{Name: "cn", FQDN: "dNSHostName", AccountControl: "userAccountControl"}}
			attrs = map[string][]string{"objectGUID": {id}, "whenChanged": {changed}, "cn": {name}, "dNSHostName": {name}, "userAccountControl": {uac}}
		}
		o, err := directory.MapEntry(ldap.NewEntry(dn, attrs), s, nil)
		if err != nil {
			var skip *directory.SkipError
			if !errors.As(err, &skip) || skip.Reason == "" {
				t.Fatalf("not a skip: %v", err)
			}
			return
		}
		if o.ExternalID == "" {
			t.Fatalf("mapped without identity: %+v", o)
		}
		for _, v := range []string{o.DN, o.DNNorm, o.ExternalID, o.Name, o.Username, o.FQDN} {
			if !utf8.ValidString(v) || strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("unclean %q in %+v", v, o)
			}
		}
	})
}
