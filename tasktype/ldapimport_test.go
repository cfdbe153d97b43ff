package tasktype

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tributary-io/tributary/valid"
)

func TestLDAPImportPresetFillsOnlyWhatIsEmpty(t *testing.T) {
	cfg, err := Decode(LDAPImport, json.RawMessage(`{"preset":"active_directory","urls":["ldaps://dc1.corp.example:636"],
		"base_dn":"DC=corp,DC=example","bind_dn":"CN=svc,DC=corp,DC=example","bind_password":"pw",
		"users":{"filter":"(&(objectClass=user)(department=IT))"},"computers":{"enabled":false}}`))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.(*LDAPImportConfig)
	if c.Users.Filter != "(&(objectClass=user)(department=IT))" || c.Users.IdentityAttribute != "objectGUID" ||
		c.Users.Attributes.Username != "sAMAccountName" || c.Users.Attributes.AccountControl != "userAccountControl" {
		t.Fatalf("users: %+v", c.Users)
	}
	if c.Groups.Attributes.Members != "member" || c.Groups.ChangedAttribute != "whenChanged" {
		t.Fatalf("groups: %+v", c.Groups)
	}
	kinds := c.Kinds()
	if len(kinds) != 2 || kinds[0].Schema.Kind != "user" || kinds[1].Schema.Kind != "group" || kinds[0].BaseDN != "DC=corp,DC=example" {
		t.Fatalf("kinds: %+v", kinds)
	}
	if c.PageSize != 500 || c.FullImportEveryHours != 24 || c.MaxRemovalPercent != 20 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestLDAPImportValidationNamesFields(t *testing.T) {
	_, err := Decode(LDAPImport, json.RawMessage(`{"urls":["ldaps://dc1","ldap://u:p@dc2/dc=x"],"start_tls":true,
		"ca_certificate":"not pem","insecure_skip_verify":true,
		"users":{"base_dn":"ou=a,,","filter":"uid=*","identity_attribute":"entry UUID"},"groups":{"base_dn":"ou=g,dc=x","filter":"(cn=*)","identity_attribute":"entryUUID"}}`))
	var ve *valid.Error
	if !errors.As(err, &ve) {
		t.Fatalf("got %v", err)
	}
	fields := map[string]string{}
	for _, f := range ve.Fields {
		fields[f.Field] = f.Message
	}
	for field, want := range map[string]string{
		"config.urls[0]":                   "cannot also use start_tls",
		"config.urls[1]":                   "must not carry credentials",
		"config.ca_certificate":            "is not PEM",
		"config.insecure_skip_verify":      "cannot be combined",
		"config.users.base_dn":             "is not a valid DN",
		"config.users.filter":              "is not a valid LDAP filter",
		"config.users.identity_attribute":  "is not an LDAP attribute name",
		"config.groups.attributes.members": "is required",
	} {
		if !strings.Contains(fields[field], want) {
			t.Errorf("%s: got %q, want %q (all: %v)", field, fields[field], want, fields)
		}
	}
}

func TestLDAPImportSecrets(t *testing.T) {
	decode := func(raw string) *LDAPImportConfig {
		cfg, err := Decode(LDAPImport, json.RawMessage(raw))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.(*LDAPImportConfig)
	}
	prev := decode(`{"preset":"openldap","urls":["ldaps://l"],"base_dn":"dc=x","bind_dn":"cn=a,dc=x","bind_password":"s3cret"}`)
	shown, _ := json.Marshal(prev.Redacted())
	if strings.Contains(string(shown), "s3cret") || !strings.Contains(string(shown), `"bind_password_set":true`) {
		t.Fatalf("redacted: %s", shown)
	}
	same := decode(`{"preset":"openldap","urls":["ldaps://l"],"base_dn":"dc=x","bind_dn":"CN=a,dc=x"}`)
	same.KeepSecrets(prev)
	if same.BindPassword != "s3cret" {
		t.Fatal("an update without bind_password lost the stored password")
	}
	other := decode(`{"preset":"openldap","urls":["ldaps://l"],"base_dn":"dc=x","bind_dn":"cn=b,dc=x"}`)
	other.KeepSecrets(prev)
	if other.BindPassword != "" {
		t.Fatal("a new bind DN inherited the old account's password")
	}
	if len(prev.SecretFields()) != 1 || len(other.SecretFields()) != 0 {
		t.Fatal("SecretFields")
	}
}
