// Package scanner holds what the vulnerability-scanner clients (Qualys VM, Rapid7 Nexpose)
// share: the records Discover finds, the rows Sync stages, severity normalisation and the
// classified errors that the connector activities turn into retryable or final failures.
package scanner

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Normalised severities, highest first.
const (
	SeverityCritical = "Critical"
	SeverityHigh     = "High"
	SeverityMedium   = "Medium"
	SeverityLow      = "Low"
	SeverityInfo     = "Info"
)

// Finding statuses: what the vendor says of a detection. Only StatusOpen findings are active;
// the others are kept, marked, and never counted as active.
const (
	// StatusOpen: the vulnerability is present (Qualys New, Active, Re-Opened; Nexpose
	// vulnerable results).
	StatusOpen = "open"
	// StatusRiskAccepted: an exception covers it (Nexpose *-with-exception-applied; Qualys
	// IS_IGNORED or IS_DISABLED).
	StatusRiskAccepted = "risk_accepted"
	// StatusNotVulnerable: the vendor checked and found it absent (Nexpose invulnerable,
	// no-results, not-vulnerable).
	StatusNotVulnerable = "not_vulnerable"
	// StatusMitigated: missing from the latest scan (set by the reimport, never by a client).
	StatusMitigated = "mitigated"
)

// Detection types (Qualys TYPE; Nexpose vulnerable-potential results are potential).
const (
	TypeConfirmed = "confirmed"
	TypePotential = "potential"
	TypeInfo      = "info"
)

// Product is a vendor object that Discover turns into a record: a Qualys asset group or a
// Nexpose site.
type Product struct {
	// ID is the vendor's ID of the object.
	ID string
	// Name is its current name at the vendor.
	Name string
	// Kind is "asset_group" or "site".
	Kind string
}

// Detection is one finding as the vendor reports it for one asset, before it is matched.
type Detection struct {
	// Identity is the stable matching key across scans; see the README's "Finding identity".
	Identity string
	// VendorID is the vendor's vulnerability ID (Qualys QID, Nexpose vulnerability ID); it
	// names the Definition that gives the finding its title, description and solution.
	VendorID string
	// AssetVendorID is the vendor's ID of the asset (Qualys host ID, Nexpose asset ID).
	AssetVendorID string
	// Asset is the host the detection was found on, as the detection list describes it
	// (shared by the host's detections; nil when the vendor says nothing of the host).
	Asset *Host
	Host  string
	IP    string
	// Port is 0 for a finding on no port; HasPort says whether the vendor gave one.
	Port     int32
	HasPort  bool
	Protocol string
	// Evidence is the vendor's proof as readable text; EvidenceHTML its sanitised HTML when the
	// vendor gave HTML (Nexpose proofs).
	Evidence     string
	EvidenceHTML string
	// Type is TypeConfirmed, TypePotential or TypeInfo ("" when the vendor does not say).
	Type string
	// Status is one of the Status* constants but StatusMitigated; VendorStatus is the vendor's
	// own word (Qualys New/Active/Re-Opened, Nexpose vulnerable-version-with-exception-applied).
	Status       string
	VendorStatus string
	// UniqueID is the vendor's own ID of the detection (Qualys UNIQUE_VULN_ID), when given.
	UniqueID string
	// QDS is the Qualys Detection Score (1-100) and TimesFound how often Qualys found it; nil
	// when absent.
	QDS        *int32
	TimesFound *int32
	// LastFixed is when the vendor last saw the vulnerability fixed (Qualys LAST_FIXED_DATETIME).
	LastFixed time.Time
	// Solution is an asset-specific solution (Nexpose), which wins over the Definition's;
	// SolutionHTML its sanitised HTML.
	Solution     string
	SolutionHTML string
	// Severity and VendorSeverity are empty when the vendor rates the vulnerability, not
	// the detection (Nexpose); the Definition's are used then.
	Severity       string
	VendorSeverity string
	FirstSeen      time.Time
	LastSeen       time.Time
}

// Host is a scanned asset as the vendor describes it: a Qualys host, a Nexpose asset.
type Host struct {
	// VendorID is the vendor's own ID of the asset (Qualys host ID, Nexpose asset ID).
	VendorID string
	IP       string
	DNS      string
	NetBIOS  string
	OS       string
	// Groups are the vendor's asset group or site IDs the host belongs to, when known.
	Groups []string
	// RiskScore is the vendor's risk score of the asset (Nexpose), nil when none.
	RiskScore *float64
	// LastScan is the last time the vendor scanned the host.
	LastScan time.Time
}

// Name is the asset's name as Modulo builds it: "NetBIOS (IP)", else NetBIOS, else DNS, else IP.
func (h *Host) Name() string {
	switch {
	case h.NetBIOS != "" && h.IP != "":
		return h.NetBIOS + " (" + h.IP + ")"
	case h.NetBIOS != "":
		return h.NetBIOS
	case h.DNS != "":
		return h.DNS
	}
	return h.IP
}

// Address is the host address an operator reaches the asset by: DNS, else NetBIOS, else IP.
func (h *Host) Address() string {
	switch {
	case h.DNS != "":
		return h.DNS
	case h.NetBIOS != "":
		return h.NetBIOS
	}
	return h.IP
}

// Definition describes a vulnerability: the knowledge-base entry (Qualys) or vulnerability
// definition (Nexpose) that a Detection refers to by VendorID.
type Definition struct {
	VendorID    string
	Title       string
	Description string
	Solution    string
	// DescriptionHTML and SolutionHTML keep the vendor's markup, sanitised, for a UI.
	DescriptionHTML string
	SolutionHTML    string
	CVEs            []string
	Severity        string
	VendorSeverity  string
}

// ErrorKind classifies a vendor failure.
type ErrorKind string

// Error kinds. Retryable kinds are worth another attempt later; the others need an admin.
const (
	// KindUnavailable: the vendor could not be reached or answered 5xx. Retryable.
	KindUnavailable ErrorKind = "unavailable"
	// KindRateLimited: the vendor's limit held for longer than the client waits. Retryable.
	KindRateLimited ErrorKind = "rate_limited"
	// KindBadCredentials: 401, or the vendor's "bad login" answer.
	KindBadCredentials ErrorKind = "bad_credentials"
	// KindForbidden: 403, the account lacks the permission.
	KindForbidden ErrorKind = "forbidden"
	// KindNotFound: the vendor object (asset group, site) does not exist.
	KindNotFound ErrorKind = "not_found"
	// KindRejected: the vendor refused the request (400 and other final answers).
	KindRejected ErrorKind = "rejected"
	// KindBadResponse: the vendor answered something this client cannot accept: malformed or
	// truncated XML/JSON, a missing required element, an unknown severity, a field too large.
	KindBadResponse ErrorKind = "bad_response"
)

// Error is a classified vendor failure. Its message names the vendor, the operation, the page
// and, for bad responses, the element.
type Error struct {
	Vendor string
	Kind   ErrorKind
	// Op is what the client was doing ("list asset groups", "detections of asset group 42").
	Op string
	// Page is the 1-based page of the operation, 0 when not paged.
	Page int
	// Element is the element or JSON field at fault, for KindBadResponse.
	Element string
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Code is the vendor's error code, if it gave one.
	Code string
	// Message is the vendor's or the parser's explanation.
	Message string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Vendor)
	b.WriteString(": ")
	b.WriteString(e.Op)
	if e.Page > 0 {
		fmt.Fprintf(&b, ", page %d", e.Page)
	}
	if e.Element != "" {
		fmt.Fprintf(&b, ", element %s", e.Element)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (code %s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Retryable says whether another attempt later may succeed.
func (e *Error) Retryable() bool { return e.Kind == KindUnavailable || e.Kind == KindRateLimited }

// KindOf returns the kind of a classified error, or "" for any other error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// Clean makes vendor text safe to store: NUL bytes and invalid UTF-8 are dropped.
func Clean(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	s = strings.ToValidUTF8(s, "")
	return strings.ReplaceAll(s, "\x00", "")
}
