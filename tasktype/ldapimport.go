package tasktype

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/tributary-io/tributary/directory"
	"github.com/tributary-io/tributary/valid"
)

// LDAPImport is the type name of the Import Objects from Directory (LDAP) task.
const LDAPImport = "ldap_import"

// Presets.
const (
	PresetOpenLDAP        = "openldap"
	PresetActiveDirectory = "active_directory"
)

func init() {
	Register(Type{ConfigSchema: "LDAPImportConfig",
		Name:        LDAPImport,
		Activity:    "ImportDirectory",
		Title:       "Import Objects from Directory (LDAP)",
		Description: "Imports users, groups (with members) and computers (as technology assets) from an LDAP directory or Active Directory domain; full imports detect deletions, incremental imports read only what changed.",
		New: func() Config {
			return &LDAPImportConfig{
				ConnectTimeoutSeconds: 10, SearchTimeoutSeconds: 120, PageSize: 500,
				FullImportEveryHours: 24, ChangeOverlapSeconds: 300, MaxRemovalPercent: 20,
			}
		},
	})
}

// LDAPImportConfig configures an Import Objects from Directory task.
type LDAPImportConfig struct {
	// Preset fills every setting left empty with the defaults of "openldap" or
	// "active_directory", so that an admin gives only URLs, base DN and credentials. Optional.
	Preset string `json:"preset,omitempty" validate:"omitempty,oneof=openldap active_directory"`
	// URLs are the directory servers (ldap:// or ldaps://), tried in order. Required.
	URLs []string `json:"urls" validate:"required,min=1,max=10,dive,required,max=512"`
	// StartTLS upgrades ldap:// connections with StartTLS. Optional.
	StartTLS bool `json:"start_tls,omitempty"`
	// CACertificate is a PEM bundle of the CAs that sign the servers' certificates. Optional;
	// defaults to the system's trusted CAs.
	CACertificate string `json:"ca_certificate,omitempty" validate:"max=65536"`
	// TLSServerName is the name the servers' certificates carry. Optional; defaults to each URL's host.
	TLSServerName string `json:"tls_server_name,omitempty" validate:"max=255"`
	// InsecureSkipVerify accepts any certificate. Optional; an explicit opt-in for test labs only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// AllowPlaintextBind lets the bind password travel over an unencrypted ldap:// connection.
	// Optional; an explicit opt-in for lab directories.
	AllowPlaintextBind bool `json:"allow_plaintext_bind,omitempty"`
	// BindDN is the service account's DN. Optional; empty binds anonymously.
	BindDN string `json:"bind_dn,omitempty" validate:"max=1024"`
	// BindPassword is the service account's password: write-only, sealed at rest. Optional on
	// update (the stored one is kept).
	BindPassword string `json:"bind_password,omitempty" validate:"max=1024"`
	// BaseDN is where every kind's search starts unless the kind names its own. Optional when
	// every enabled kind has a base_dn.
	BaseDN string `json:"base_dn,omitempty" validate:"max=1024"`
	// ConnectTimeoutSeconds bounds connecting, TLS and the bind. Optional; defaults to 10.
	ConnectTimeoutSeconds int `json:"connect_timeout_seconds" validate:"min=1,max=300"`
	// SearchTimeoutSeconds bounds each page of a search. Optional; defaults to 120.
	SearchTimeoutSeconds int `json:"search_timeout_seconds" validate:"min=1,max=3600"`
	// PageSize is the paged-results page size. Optional; defaults to 500 (AD allows up to 1000).
	PageSize int `json:"page_size" validate:"min=1,max=5000"`
	// FullImportEveryHours is how old the last full import may get before a run is a full import
	// again; the runs in between are incremental. 0 makes every run a full import. Optional;
	// defaults to 24.
	FullImportEveryHours int `json:"full_import_every_hours" validate:"min=0,max=8760"`
	// ChangeOverlapSeconds is how far before the previous run's start an incremental import asks
	// for changes, to cover clock skew and the one-second granularity of modifyTimestamp.
	// Optional; defaults to 300.
	ChangeOverlapSeconds int `json:"change_overlap_seconds" validate:"min=0,max=86400"`
	// MaxRemovalPercent stops a full import that would mark more than this share of a kind's
	// active objects removed, instead of removing them. Optional; defaults to 20; 100 disables the cap.
	MaxRemovalPercent int `json:"max_removal_percent" validate:"min=1,max=100"`
	// Users, Groups and Computers configure each kind of object. A kind left out is not imported
	// unless a preset is set.
	Users     *LDAPObjectSearch `json:"users,omitempty"`
	Groups    *LDAPObjectSearch `json:"groups,omitempty"`
	Computers *LDAPObjectSearch `json:"computers,omitempty"`
}

// LDAPObjectSearch says where and how one kind of object is found.
type LDAPObjectSearch struct {
	// Enabled turns the kind off when false. Optional; defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
	// BaseDN is where the search starts. Optional; defaults to the task's base_dn.
	BaseDN string `json:"base_dn,omitempty" validate:"max=1024"`
	// Scope is "sub", "one" or "base". Optional; defaults to "sub".
	Scope string `json:"scope,omitempty" validate:"omitempty,oneof=sub one base"`
	// Filter is an RFC 4515 filter selecting the kind's entries. Required unless a preset gives it.
	Filter string `json:"filter,omitempty" validate:"max=4096"`
	// IdentityAttribute holds each entry's stable identity (entryUUID, objectGUID). Required
	// unless a preset gives it.
	IdentityAttribute string `json:"identity_attribute,omitempty" validate:"max=128"`
	// ChangedAttribute holds when an entry last changed (modifyTimestamp, whenChanged); incremental
	// imports filter on it. Optional; without it every run is a full import.
	ChangedAttribute string `json:"changed_attribute,omitempty" validate:"max=128"`
	// Attributes maps directory attributes to our fields; empty entries take the preset's.
	Attributes directory.Mapping `json:"attributes"`
}

// On reports whether the kind is imported.
func (s *LDAPObjectSearch) On() bool { return s != nil && (s.Enabled == nil || *s.Enabled) }

// Kinds returns the configured kinds with their schema, in import order: groups last, so
// that their members resolve against users and computers of the same run.
func (c *LDAPImportConfig) Kinds() []LDAPKind {
	var out []LDAPKind
	for _, k := range []struct {
		kind string
		s    *LDAPObjectSearch
	}{{directory.KindUser, c.Users}, {directory.KindComputer, c.Computers}, {directory.KindGroup, c.Groups}} {
		if !k.s.On() {
			continue
		}
		base := k.s.BaseDN
		if base == "" {
			base = c.BaseDN
		}
		out = append(out, LDAPKind{Search: k.s, BaseDN: base, Schema: directory.Schema{
			Kind: k.kind, IdentityAttribute: k.s.IdentityAttribute, ChangedAttribute: k.s.ChangedAttribute, Mapping: k.s.Attributes,
		}})
	}
	return out
}

// LDAPKind is one enabled kind, resolved.
type LDAPKind struct {
	Search *LDAPObjectSearch
	BaseDN string
	Schema directory.Schema
}

var presets = map[string]map[string]LDAPObjectSearch{
	PresetOpenLDAP: {
		directory.KindUser: {Filter: "(objectClass=inetOrgPerson)", IdentityAttribute: "entryUUID", ChangedAttribute: "modifyTimestamp",
			Attributes: directory.Mapping{Username: "uid", Email: "mail", Name: "cn", Description: "description"}},
		directory.KindGroup: {Filter: "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))", IdentityAttribute: "entryUUID", ChangedAttribute: "modifyTimestamp",
			Attributes: directory.Mapping{Name: "cn", Description: "description", Members: "member"}},
		directory.KindComputer: {Filter: "(objectClass=device)", IdentityAttribute: "entryUUID", ChangedAttribute: "modifyTimestamp",
			Attributes: directory.Mapping{Hostname: "cn", Description: "description", IPAddress: "ipHostNumber"}},
	},
	PresetActiveDirectory: {
		directory.KindUser: {Filter: "(&(objectCategory=person)(objectClass=user))", IdentityAttribute: "objectGUID", ChangedAttribute: "whenChanged",
			Attributes: directory.Mapping{Username: "sAMAccountName", Email: "mail", Name: "displayName", Description: "description", AccountControl: "userAccountControl"}},
		directory.KindGroup: {Filter: "(objectClass=group)", IdentityAttribute: "objectGUID", ChangedAttribute: "whenChanged",
			Attributes: directory.Mapping{Name: "cn", Description: "description", Members: "member"}},
		directory.KindComputer: {Filter: "(objectCategory=computer)", IdentityAttribute: "objectGUID", ChangedAttribute: "whenChanged",
			Attributes: directory.Mapping{Hostname: "cn", FQDN: "dNSHostName", OS: "operatingSystem", OSVersion: "operatingSystemVersion",
				Description: "description", AccountControl: "userAccountControl"}},
	},
}

// ApplyDefaults implements Defaulter: a preset fills every kind the client left out and every
// empty field of the kinds it sent.
func (c *LDAPImportConfig) ApplyDefaults() {
	p, ok := presets[c.Preset]
	if !ok {
		return
	}
	for kind, dst := range map[string]**LDAPObjectSearch{directory.KindUser: &c.Users, directory.KindGroup: &c.Groups, directory.KindComputer: &c.Computers} {
		def := p[kind]
		if *dst == nil {
			d := def
			*dst = &d
			continue
		}
		s := *dst
		fill(&s.Filter, def.Filter)
		fill(&s.IdentityAttribute, def.IdentityAttribute)
		fill(&s.ChangedAttribute, def.ChangedAttribute)
		m, dm := &s.Attributes, def.Attributes
		for _, f := range [][2]*string{{&m.Username, &dm.Username}, {&m.Email, &dm.Email}, {&m.Name, &dm.Name}, {&m.Description, &dm.Description},
			{&m.Members, &dm.Members}, {&m.FQDN, &dm.FQDN}, {&m.Hostname, &dm.Hostname}, {&m.IPAddress, &dm.IPAddress},
			{&m.OS, &dm.OS}, {&m.OSVersion, &dm.OSVersion}, {&m.AccountControl, &dm.AccountControl}} {
			fill(f[0], *f[1])
		}
	}
}

func fill(dst *string, def string) {
	if *dst == "" {
		*dst = def
	}
}

// attributeName matches an LDAP attribute description: a name or OID, with options.
var attributeName = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*|[0-9]+(\.[0-9]+)+)(;[A-Za-z0-9-]+)*$`)

// Validate implements Config.
func (c *LDAPImportConfig) Validate() []valid.FieldError {
	var out []valid.FieldError
	add := func(field, format string, args ...any) {
		out = append(out, valid.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	anyPlain := false
	for i, raw := range c.URLs {
		field := fmt.Sprintf("urls[%d]", i)
		u, err := url.Parse(raw)
		switch {
		case err != nil:
			add(field, "is not a valid URL: %s", strings.TrimPrefix(err.Error(), "parse "))
		case u.Scheme != "ldap" && u.Scheme != "ldaps":
			add(field, "must use ldap:// or ldaps://, not %q", u.Scheme)
		case u.Hostname() == "":
			add(field, "must name a host, e.g. ldaps://dc1.example.com:636")
		case u.User != nil:
			add(field, "must not carry credentials; use bind_dn and bind_password")
		case (u.Path != "" && u.Path != "/") || u.RawQuery != "":
			add(field, "must be only scheme, host and port; set base DNs in base_dn")
		case u.Scheme == "ldaps" && c.StartTLS:
			add(field, "is ldaps:// (TLS from the start) and cannot also use start_tls")
		}
		if err == nil && u.Scheme == "ldap" {
			anyPlain = true
		}
	}
	if c.CACertificate != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CACertificate)) {
			if b, _ := pem.Decode([]byte(c.CACertificate)); b == nil {
				add("ca_certificate", "is not PEM: expected -----BEGIN CERTIFICATE-----")
			} else {
				add("ca_certificate", "holds no parseable X.509 certificate")
			}
		}
	}
	if c.InsecureSkipVerify && c.CACertificate != "" {
		add("insecure_skip_verify", "cannot be combined with ca_certificate: either verify against the CA or not at all")
	}
	if c.BindPassword != "" && anyPlain && !c.StartTLS && !c.AllowPlaintextBind {
		add("start_tls", "a bind password over plain ldap:// travels unencrypted: use ldaps://, set start_tls, or opt in with allow_plaintext_bind")
	}
	if c.BindDN != "" {
		if _, err := ldap.ParseDN(c.BindDN); err != nil {
			add("bind_dn", "is not a valid DN: %v", err)
		}
	}
	if c.BaseDN != "" {
		if _, err := ldap.ParseDN(c.BaseDN); err != nil {
			add("base_dn", "is not a valid DN: %v", err)
		}
	}
	if !c.Users.On() && !c.Groups.On() && !c.Computers.On() {
		add("users", "at least one of users, groups and computers must be configured (or set a preset)")
	}
	for _, k := range []struct {
		name string
		s    *LDAPObjectSearch
	}{{"users", c.Users}, {"groups", c.Groups}, {"computers", c.Computers}} {
		if !k.s.On() {
			continue
		}
		s := k.s
		switch {
		case s.BaseDN == "" && c.BaseDN == "":
			add(k.name+".base_dn", "is required when the task has no base_dn")
		case s.BaseDN != "":
			if _, err := ldap.ParseDN(s.BaseDN); err != nil {
				add(k.name+".base_dn", "is not a valid DN: %v", err)
			}
		}
		if s.Filter == "" {
			add(k.name+".filter", "is required unless a preset is set")
		} else if _, err := ldap.CompileFilter(s.Filter); err != nil {
			add(k.name+".filter", "is not a valid LDAP filter: %v", err)
		}
		if s.IdentityAttribute == "" {
			add(k.name+".identity_attribute", "is required (entryUUID on OpenLDAP, objectGUID on Active Directory) unless a preset is set")
		}
		m := s.Attributes
		for _, f := range []struct{ name, v string }{
			{"identity_attribute", s.IdentityAttribute}, {"changed_attribute", s.ChangedAttribute},
			{"attributes.username", m.Username}, {"attributes.email", m.Email}, {"attributes.name", m.Name},
			{"attributes.description", m.Description}, {"attributes.members", m.Members}, {"attributes.fqdn", m.FQDN},
			{"attributes.hostname", m.Hostname}, {"attributes.ip_address", m.IPAddress}, {"attributes.os", m.OS},
			{"attributes.os_version", m.OSVersion}, {"attributes.account_control", m.AccountControl},
		} {
			if f.v != "" && !attributeName.MatchString(f.v) {
				add(k.name+"."+f.name, "%q is not an LDAP attribute name", f.v)
			}
		}
		if k.name == "groups" && m.Members == "" {
			add("groups.attributes.members", "is required: the attribute listing a group's members (member, uniqueMember)")
		}
		if k.name == "computers" && m.Hostname == "" && m.FQDN == "" {
			add("computers.attributes.hostname", "a computer needs hostname or fqdn mapped")
		}
	}
	return out
}

// Redacted implements Config: the bind password becomes bind_password_set.
func (c *LDAPImportConfig) Redacted() any {
	type shown struct {
		LDAPImportConfig
		BindPassword    string `json:"bind_password,omitempty"`
		BindPasswordSet bool   `json:"bind_password_set"`
	}
	return shown{LDAPImportConfig: *c, BindPasswordSet: c.BindPassword != ""}
}

// KeepSecrets implements Config: an update without bind_password keeps the stored one, unless
// the bind DN changed (a new account needs its own password).
func (c *LDAPImportConfig) KeepSecrets(prev Config) {
	p, ok := prev.(*LDAPImportConfig)
	if ok && c.BindPassword == "" && strings.EqualFold(c.BindDN, p.BindDN) {
		c.BindPassword = p.BindPassword
	}
}

// SecretFields implements Config: the bind password.
func (c *LDAPImportConfig) SecretFields() []*string {
	if c.BindPassword == "" {
		return nil
	}
	return []*string{&c.BindPassword}
}

// StoredLDAPImport decodes a stored ldap_import configuration and opens its bind password
// with open, for the code that connects to the directory.
func StoredLDAPImport(raw json.RawMessage, open func(string) (string, error)) (*LDAPImportConfig, error) {
	c, err := DecodeStored(LDAPImport, raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid %s configuration: %w", LDAPImport, err)
	}
	cfg := c.(*LDAPImportConfig)
	if err := OpenSecrets(cfg, open); err != nil {
		return nil, fmt.Errorf("the bind password cannot be opened: %w", err)
	}
	return cfg, nil
}

// Probe connects to the directory, binds with the stored credentials and checks each base DN.
func (c *LDAPImportConfig) Probe(ctx context.Context) (any, error) {
	opts, err := c.DirectoryOptions()
	if err != nil {
		return nil, valid.Field("config.ca_certificate", "%v", err)
	}
	var bases []string
	for _, k := range c.Kinds() {
		if !slices.Contains(bases, k.BaseDN) {
			bases = append(bases, k.BaseDN)
		}
	}
	return directory.Probe(ctx, opts, bases), nil
}

// DirectoryOptions returns the connection options of the task, with the (opened) password.
func (c *LDAPImportConfig) DirectoryOptions() (directory.Options, error) {
	o := directory.Options{
		URLs: c.URLs, StartTLS: c.StartTLS, ServerName: c.TLSServerName, InsecureSkipVerify: c.InsecureSkipVerify,
		BindDN: c.BindDN, BindPassword: c.BindPassword,
		ConnectTimeout: seconds(c.ConnectTimeoutSeconds), RequestTimeout: seconds(c.SearchTimeoutSeconds),
	}
	if c.CACertificate != "" {
		o.RootCAs = x509.NewCertPool()
		if !o.RootCAs.AppendCertsFromPEM([]byte(c.CACertificate)) {
			return o, fmt.Errorf("ca_certificate holds no parseable certificate")
		}
	}
	return o, nil
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }
