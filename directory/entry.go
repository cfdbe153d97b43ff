package directory

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
)

// Object kinds.
const (
	KindUser     = "user"
	KindGroup    = "group"
	KindComputer = "computer"
)

// MaxValueBytes bounds one attribute value taken from an entry; an entry with a longer value
// is skipped with a reason rather than stored.
const MaxValueBytes = 4096

// Mapping names the directory attribute that fills each of our fields. Empty leaves a field empty.
type Mapping struct {
	Username       string `json:"username,omitempty"`
	Email          string `json:"email,omitempty"`
	Name           string `json:"name,omitempty"`
	Description    string `json:"description,omitempty"`
	Members        string `json:"members,omitempty"`
	FQDN           string `json:"fqdn,omitempty"`
	Hostname       string `json:"hostname,omitempty"`
	IPAddress      string `json:"ip_address,omitempty"`
	OS             string `json:"os,omitempty"`
	OSVersion      string `json:"os_version,omitempty"`
	AccountControl string `json:"account_control,omitempty"`
}

// Schema says how entries of one kind are read.
type Schema struct {
	// Kind is KindUser, KindGroup or KindComputer.
	Kind string
	// IdentityAttribute holds the entry's stable identity: entryUUID (OpenLDAP) or objectGUID
	// (Active Directory, 16 raw bytes).
	IdentityAttribute string
	// ChangedAttribute holds the time the entry last changed: modifyTimestamp or whenChanged.
	ChangedAttribute string
	// Mapping maps directory attributes to fields.
	Mapping Mapping
}

// Attributes returns the attributes a search must ask for.
func (s Schema) Attributes() []string {
	m := s.Mapping
	var out []string
	for _, a := range []string{s.IdentityAttribute, s.ChangedAttribute, m.Username, m.Email, m.Name, m.Description,
		m.Members, m.FQDN, m.Hostname, m.IPAddress, m.OS, m.OSVersion, m.AccountControl} {
		if a != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, a) }) {
			out = append(out, a)
		}
	}
	return out
}

// Member is one member DN of a group.
type Member struct {
	DN     string
	DNNorm string
}

// Object is one user, group or computer read from a directory.
type Object struct {
	Kind        string
	ExternalID  string
	DN          string
	DNNorm      string
	Username    string
	Email       string
	Name        string
	Description string
	FQDN        string
	Hostname    string
	IPAddresses []string
	OS          string
	OSVersion   string
	// Disabled is set when the directory marks the account disabled (userAccountControl bit 2).
	Disabled   bool
	ModifiedAt *time.Time
	Members    []Member
}

// Hash returns a digest of every field that an import stores, to tell changed objects from
// unchanged ones.
func (o *Object) Hash() string {
	h := sha256.New()
	for _, s := range []string{o.Kind, o.DN, o.Username, o.Email, o.Name, o.Description, o.FQDN, o.Hostname, o.OS, o.OSVersion,
		strconv.FormatBool(o.Disabled), strings.Join(o.IPAddresses, ",")} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, m := range o.Members {
		h.Write([]byte(m.DNNorm))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// SkipError says why an entry was not imported. The entry's DN is in the message.
type SkipError struct {
	DN     string
	Reason string
}

func (e *SkipError) Error() string { return fmt.Sprintf("%s: %s", e.DN, e.Reason) }

// MapEntry reads e as an object of s.Kind. members are the group's member values (after range
// retrieval); pass nil for other kinds. An entry that cannot be imported returns a *SkipError.
func MapEntry(e *ldap.Entry, s Schema, members []string) (Object, error) {
	skip := func(format string, args ...any) (Object, error) {
		return Object{}, &SkipError{DN: clean(e.DN), Reason: fmt.Sprintf(format, args...)}
	}
	o := Object{Kind: s.Kind, DN: clean(e.DN)}
	norm, err := NormalizeDN(e.DN)
	if err != nil {
		return skip("the DN cannot be parsed: %v", err)
	}
	o.DNNorm = norm
	id, err := identity(e, s.IdentityAttribute)
	if err != nil {
		return skip("%v", err)
	}
	o.ExternalID = id
	m := s.Mapping
	fields := []struct {
		attr string
		dst  *string
	}{
		{m.Username, &o.Username}, {m.Email, &o.Email}, {m.Name, &o.Name}, {m.Description, &o.Description},
		{m.FQDN, &o.FQDN}, {m.Hostname, &o.Hostname}, {m.OS, &o.OS}, {m.OSVersion, &o.OSVersion},
	}
	for _, f := range fields {
		if f.attr == "" {
			continue
		}
		v := e.GetEqualFoldAttributeValue(f.attr)
		if len(v) > MaxValueBytes {
			return skip("attribute %s is %d bytes long (at most %d)", f.attr, len(v), MaxValueBytes)
		}
		*f.dst = clean(v)
	}
	o.FQDN = strings.TrimSuffix(strings.ToLower(o.FQDN), ".")
	if s.Kind == KindComputer {
		o.Hostname = strings.ToLower(o.Hostname)
		if o.Hostname == "" && o.FQDN != "" {
			o.Hostname, _, _ = strings.Cut(o.FQDN, ".")
		}
		if o.Hostname == "" {
			return skip("a computer needs a host name (%s) or an FQDN (%s)", orNone(m.Hostname), orNone(m.FQDN))
		}
	}
	if m.IPAddress != "" {
		for _, v := range e.GetEqualFoldAttributeValues(m.IPAddress) {
			if len(v) > 64 {
				return skip("attribute %s holds a %d-byte value, not an IP address", m.IPAddress, len(v))
			}
			o.IPAddresses = append(o.IPAddresses, clean(v))
		}
		slices.Sort(o.IPAddresses)
	}
	if m.AccountControl != "" {
		if v := e.GetEqualFoldAttributeValue(m.AccountControl); v != "" {
			uac, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return skip("attribute %s is %q, not a number", m.AccountControl, truncate(v, 40))
			}
			o.Disabled = uac&2 != 0
		}
	}
	if s.ChangedAttribute != "" {
		if v := e.GetEqualFoldAttributeValue(s.ChangedAttribute); v != "" {
			t, err := ParseGeneralizedTime(v)
			if err != nil {
				return skip("attribute %s is %q: %v", s.ChangedAttribute, truncate(v, 40), err)
			}
			o.ModifiedAt = &t
		}
	}
	if s.Kind == KindGroup {
		seen := make(map[string]bool, len(members))
		for _, dn := range members {
			n, err := NormalizeDN(dn)
			if err != nil || n == "" {
				return skip("member %q is not a valid DN", truncate(dn, 200))
			}
			if seen[n] {
				continue
			}
			seen[n] = true
			o.Members = append(o.Members, Member{DN: clean(dn), DNNorm: n})
		}
		slices.SortFunc(o.Members, func(a, b Member) int { return strings.Compare(a.DNNorm, b.DNNorm) })
	}
	return o, nil
}

func identity(e *ldap.Entry, attr string) (string, error) {
	if strings.EqualFold(attr, "objectGUID") || strings.EqualFold(attr, "msDS-ObjectGUID") {
		var raw []byte
		for _, a := range e.Attributes {
			if strings.EqualFold(a.Name, attr) && len(a.ByteValues) > 0 {
				raw = a.ByteValues[0]
			}
		}
		if raw == nil {
			return "", fmt.Errorf("the entry has no %s", attr)
		}
		return DecodeGUID(raw)
	}
	v := e.GetEqualFoldAttributeValue(attr)
	if v == "" {
		return "", fmt.Errorf("the entry has no %s", attr)
	}
	// A NUL cannot be stored in Postgres text, and an identity cannot be cleaned like a name.
	if len(v) > 256 || !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return "", fmt.Errorf("%s is not a usable identity (%d bytes)", attr, len(v))
	}
	if u, err := uuid.Parse(v); err == nil {
		return u.String(), nil
	}
	return v, nil
}

// DecodeGUID decodes an Active Directory objectGUID: 16 bytes whose first three fields are
// little-endian (Microsoft's GUID layout), into the form AD shows, e.g.
// "d3b07384-d9a0-4c8e-8c5e-3f0b7c2e1a44".
func DecodeGUID(b []byte) (string, error) {
	if len(b) != 16 {
		return "", fmt.Errorf("objectGUID is %d bytes, not 16", len(b))
	}
	var u uuid.UUID
	u[0], u[1], u[2], u[3] = b[3], b[2], b[1], b[0]
	u[4], u[5] = b[5], b[4]
	u[6], u[7] = b[7], b[6]
	copy(u[8:], b[8:])
	return u.String(), nil
}

// EncodeGUID is the inverse of DecodeGUID: the 16 bytes AD stores for a GUID string.
func EncodeGUID(s string) ([]byte, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 16)
	b[0], b[1], b[2], b[3] = u[3], u[2], u[1], u[0]
	b[4], b[5] = u[5], u[4]
	b[6], b[7] = u[7], u[6]
	copy(b[8:], u[8:])
	return b, nil
}

// GUIDFilter returns an equality filter matching the objectGUID s, every byte escaped.
func GUIDFilter(s string) (string, error) {
	b, err := EncodeGUID(s)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	sb.WriteString("(objectGUID=")
	for _, c := range b {
		fmt.Fprintf(&sb, "\\%02x", c)
	}
	sb.WriteString(")")
	return sb.String(), nil
}

// NormalizeDN returns the form of dn used to match member values with entries: parsed,
// re-serialised and lower-cased (the naming attributes we meet match case-insensitively).
func NormalizeDN(dn string) (string, error) {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return "", err
	}
	return strings.ToLower(p.String()), nil
}

// ParseGeneralizedTime parses an LDAP GeneralizedTime such as "20261125103000Z" (OpenLDAP's
// modifyTimestamp) or "20261125103000.0Z" (Active Directory's whenChanged).
func ParseGeneralizedTime(v string) (time.Time, error) {
	s := v
	if i := strings.IndexAny(s, ".,"); i >= 0 {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		s = s[:i] + s[j:]
	}
	for _, layout := range []string{"20060102150405Z0700", "20060102150405Z"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a GeneralizedTime")
}

// FormatGeneralizedTime formats t for a filter such as (modifyTimestamp>=...).
func FormatGeneralizedTime(t time.Time) string {
	return t.UTC().Format("20060102150405Z")
}

// clean makes v storable as Postgres text: valid UTF-8 without NUL bytes.
func clean(v string) string {
	if utf8.ValidString(v) && !strings.ContainsRune(v, 0) {
		return v
	}
	return strings.ReplaceAll(strings.ToValidUTF8(v, "\uFFFD"), "\x00", "\uFFFD")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return clean(s)
	}
	return clean(s[:n]) + "…"
}

func orNone(s string) string {
	if s == "" {
		return "not mapped"
	}
	return s
}
