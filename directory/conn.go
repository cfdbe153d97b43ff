// Package directory reads users, groups and computers from an LDAP directory (OpenLDAP, Active
// Directory) with github.com/go-ldap/ldap/v3: it connects and binds with clear, classified
// errors, streams paged searches page by page, follows Active Directory range retrieval, and
// maps entries to [Object] values.
package directory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// ErrorKind classifies why talking to a directory failed, so that operators see the cause
// (and the test-connection endpoint can tell them apart).
type ErrorKind string

// Error kinds.
const (
	KindUnreachable    ErrorKind = "unreachable"
	KindTLS            ErrorKind = "tls"
	KindBadCredentials ErrorKind = "bad_credentials"
	KindNoSuchObject   ErrorKind = "no_such_object"
	KindSizeLimit      ErrorKind = "size_limit"
	KindTimeout        ErrorKind = "timeout"
	KindDenied         ErrorKind = "insufficient_access"
	KindProtocol       ErrorKind = "protocol"
)

// Error is a failure to talk to a directory. Its message never contains the bind password.
type Error struct {
	// Kind is the class of failure.
	Kind ErrorKind
	// URL is the server the failure happened on.
	URL string
	// Msg says what went wrong, for operators.
	Msg string
	// Err is the underlying error.
	Err error
}

func (e *Error) Error() string {
	if e.URL == "" {
		return e.Msg
	}
	return e.URL + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Options configures Connect.
type Options struct {
	// URLs are the servers to try, in order (ldap:// or ldaps://). The next one is tried only
	// when a server cannot be reached. Required.
	URLs []string
	// StartTLS upgrades ldap:// connections with the StartTLS extended operation. Optional.
	StartTLS bool
	// RootCAs verifies the server's certificate. Optional; defaults to the system pool.
	RootCAs *x509.CertPool
	// ServerName is the name the server's certificate must carry. Optional; defaults to the
	// URL's host.
	ServerName string
	// InsecureSkipVerify turns certificate verification off. Optional; an explicit opt-in.
	InsecureSkipVerify bool
	// BindDN and BindPassword are the service account. Optional; empty binds anonymously.
	BindDN       string
	BindPassword string
	// ConnectTimeout bounds connecting, the TLS handshake and the bind. Optional; defaults to 10s.
	ConnectTimeout time.Duration
	// RequestTimeout bounds each request, such as one page of a search. Optional; defaults to 2m.
	RequestTimeout time.Duration
}

// Conn is a bound connection to one directory server.
type Conn struct {
	// URL is the server this connection went to.
	URL  string
	conn *ldap.Conn
}

// Connect dials the first reachable server, secures the connection as configured and binds.
func Connect(ctx context.Context, opts Options) (*Conn, error) {
	if len(opts.URLs) == 0 {
		return nil, &Error{Kind: KindProtocol, Msg: "no directory server URL configured"}
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 2 * time.Minute
	}
	var errs []error
	for _, raw := range opts.URLs {
		c, err := connectOne(ctx, raw, opts)
		if err == nil {
			return c, nil
		}
		var de *Error
		if errors.As(err, &de) && de.Kind != KindUnreachable {
			return nil, err
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return nil, &Error{Kind: KindUnreachable, Msg: "no directory server could be reached: " + strings.Join(msgs, "; "), Err: errs[len(errs)-1]}
}

func connectOne(ctx context.Context, raw string, opts Options) (*Conn, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Hostname() == "" {
		return nil, &Error{Kind: KindProtocol, URL: raw, Msg: "not an ldap:// or ldaps:// URL with a host"}
	}
	shown := u.Scheme + "://" + u.Host
	tlsCfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            opts.RootCAs,
		ServerName:         opts.ServerName,
		InsecureSkipVerify: opts.InsecureSkipVerify, //nolint:gosec // explicit, validated opt-in
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = u.Hostname()
	}
	deadline := time.Now().Add(opts.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	dialer := &net.Dialer{Deadline: deadline}
	conn, err := ldap.DialURL(shown, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(tlsCfg))
	if err != nil {
		return nil, classifyDial(shown, err)
	}
	conn.SetTimeout(opts.ConnectTimeout)
	// Close the connection if ctx ends while connecting: go-ldap's calls take no context.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if opts.StartTLS && u.Scheme == "ldap" {
		if err := conn.StartTLS(tlsCfg); err != nil {
			conn.Close()
			return nil, classifyStartTLS(shown, err)
		}
	}
	if opts.BindDN != "" {
		if err := conn.Bind(opts.BindDN, opts.BindPassword); err != nil {
			conn.Close()
			return nil, classifyBind(shown, opts.BindDN, err)
		}
	}
	if ctx.Err() != nil {
		conn.Close()
		return nil, ctx.Err()
	}
	conn.SetTimeout(opts.RequestTimeout)
	return &Conn{URL: shown, conn: conn}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.conn.Close() }

func classifyDial(shown string, err error) error {
	if strings.HasPrefix(shown, "ldaps://") && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset")) {
		return &Error{Kind: KindTLS, URL: shown, Msg: "TLS handshake failed: the server closed the connection (is this an ldaps:// port?)", Err: err}
	}
	if isTLSError(err) {
		return &Error{Kind: KindTLS, URL: shown, Msg: "TLS handshake failed: " + tlsReason(err), Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Kind: KindUnreachable, URL: shown, Msg: "no answer within the connect timeout", Err: err}
	}
	return &Error{Kind: KindUnreachable, URL: shown, Msg: "cannot connect: " + innermost(err), Err: err}
}

func classifyStartTLS(shown string, err error) error {
	if isTLSError(err) {
		return &Error{Kind: KindTLS, URL: shown, Msg: "StartTLS failed: " + tlsReason(err), Err: err}
	}
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode != ldap.ErrorNetwork {
		return &Error{Kind: KindTLS, URL: shown, Msg: "the server refused StartTLS: " + resultText(le), Err: err}
	}
	return &Error{Kind: KindUnreachable, URL: shown, Msg: "connection lost during StartTLS: " + innermost(err), Err: err}
}

func classifyBind(shown, bindDN string, err error) error {
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.LDAPResultInvalidCredentials:
			return &Error{Kind: KindBadCredentials, URL: shown, Msg: fmt.Sprintf("bind as %q rejected: invalid credentials", bindDN), Err: err}
		case ldap.LDAPResultConfidentialityRequired, ldap.LDAPResultStrongAuthRequired:
			return &Error{Kind: KindTLS, URL: shown, Msg: "the server requires an encrypted connection before a bind: use ldaps:// or StartTLS", Err: err}
		case ldap.LDAPResultInappropriateAuthentication, ldap.LDAPResultInsufficientAccessRights, ldap.LDAPResultUnwillingToPerform:
			return &Error{Kind: KindBadCredentials, URL: shown, Msg: fmt.Sprintf("bind as %q refused: %s", bindDN, resultText(le)), Err: err}
		case ldap.ErrorNetwork:
			return &Error{Kind: KindUnreachable, URL: shown, Msg: "connection lost during the bind: " + innermost(err), Err: err}
		}
		return &Error{Kind: KindProtocol, URL: shown, Msg: fmt.Sprintf("bind as %q failed: %s", bindDN, resultText(le)), Err: err}
	}
	return &Error{Kind: KindProtocol, URL: shown, Msg: "bind failed: " + innermost(err), Err: err}
}

// classifySearch turns a search failure into an Error naming the base DN.
func classifySearch(shown, base string, entries int, err error) error {
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.LDAPResultNoSuchObject:
			return &Error{Kind: KindNoSuchObject, URL: shown, Msg: fmt.Sprintf("base DN %q does not exist on the server", base), Err: err}
		case ldap.LDAPResultSizeLimitExceeded:
			return &Error{Kind: KindSizeLimit, URL: shown, Msg: fmt.Sprintf(
				"the server stopped the search under %q after %d entries: size limit exceeded. The bind account needs an unlimited paged-results limit (OpenLDAP: limits dn.exact=<bind DN> size.prtotal=unlimited)", base, entries), Err: err}
		case ldap.LDAPResultTimeLimitExceeded, ldap.ErrorNetwork:
			if strings.Contains(le.Error(), "timeout") || le.ResultCode == ldap.LDAPResultTimeLimitExceeded {
				return &Error{Kind: KindTimeout, URL: shown, Msg: fmt.Sprintf("search under %q timed out after %d entries", base, entries), Err: err}
			}
			return &Error{Kind: KindUnreachable, URL: shown, Msg: fmt.Sprintf("connection lost during the search under %q after %d entries: %s", base, entries, innermost(err)), Err: err}
		case ldap.LDAPResultInsufficientAccessRights:
			return &Error{Kind: KindDenied, URL: shown, Msg: fmt.Sprintf("the bind account may not search under %q", base), Err: err}
		}
		return &Error{Kind: KindProtocol, URL: shown, Msg: fmt.Sprintf("search under %q failed after %d entries: %s", base, entries, resultText(le)), Err: err}
	}
	return &Error{Kind: KindProtocol, URL: shown, Msg: fmt.Sprintf("search under %q failed after %d entries: %s", base, entries, innermost(err)), Err: err}
}

func isTLSError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
	)
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &record) || errors.As(err, &alert) ||
		strings.Contains(err.Error(), "tls: ")
}

func tlsReason(err error) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		record   tls.RecordHeaderError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &unknown) || strings.Contains(msg, "x509: certificate signed by unknown authority"):
		return "the server's certificate is not signed by a trusted CA (set ca_certificate)"
	case errors.As(err, &hostname):
		return "the server's certificate does not match the host name: " + hostname.Error()
	case strings.Contains(msg, "x509: certificate is valid for"):
		return "the server's certificate does not match the host name: " + msg[strings.Index(msg, "x509: "):]
	case strings.Contains(msg, "x509: certificate has expired"):
		return "the server's certificate has expired or is not yet valid"
	case errors.As(err, &record):
		return "the server did not answer with TLS (is this an ldap:// port?)"
	}
	return innermost(err)
}

func resultText(le *ldap.Error) string {
	name := ldap.LDAPResultCodeMap[le.ResultCode]
	msg := ""
	if le.Err != nil {
		msg = le.Err.Error()
	}
	if msg == "" {
		return fmt.Sprintf("%s (result code %d)", name, le.ResultCode)
	}
	return fmt.Sprintf("%s (result code %d): %s", name, le.ResultCode, msg)
}

// innermost returns the message of the deepest wrapped error, without go-ldap's prefixes.
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// ProbeReport is the outcome of a connection test.
type ProbeReport struct {
	// OK is true when the server was reached, the bind succeeded and every base DN exists.
	OK bool `json:"ok"`
	// Kind classifies a failure; empty when OK.
	Kind ErrorKind `json:"error_kind,omitempty"`
	// Message says what happened, for the admin.
	Message string `json:"message"`
	// Server is the URL that answered.
	Server string `json:"server,omitempty"`
	// BaseDNs reports each base DN the configuration searches.
	BaseDNs    []BaseDNCheck `json:"base_dns"`
	DurationMS int64         `json:"duration_ms"`
}

// BaseDNCheck says whether one base DN exists.
type BaseDNCheck struct {
	BaseDN string `json:"base_dn"`
	Exists bool   `json:"exists"`
	Error  string `json:"error,omitempty"`
}

// Probe connects and binds as opts says, then checks that each base DN exists. Failures are
// reported in the result, classified, never returned as errors.
func Probe(ctx context.Context, opts Options, baseDNs []string) ProbeReport {
	started := time.Now()
	rep := ProbeReport{BaseDNs: []BaseDNCheck{}}
	c, err := Connect(ctx, opts)
	if err != nil {
		rep.Kind, rep.Message = kindOf(err), err.Error()
		rep.DurationMS = time.Since(started).Milliseconds()
		return rep
	}
	defer c.Close()
	rep.Server = c.URL
	rep.OK = true
	for _, dn := range baseDNs {
		chk := BaseDNCheck{BaseDN: dn, Exists: true}
		sr := ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(opts.RequestTimeout.Seconds()), false, "(objectClass=*)", []string{"1.1"}, nil)
		if _, err := c.conn.Search(sr); err != nil {
			e := classifySearch(c.URL, dn, 0, err)
			chk.Exists, chk.Error = false, e.Error()
			if rep.OK {
				rep.OK, rep.Kind = false, kindOf(e)
			}
		}
		rep.BaseDNs = append(rep.BaseDNs, chk)
	}
	if rep.OK {
		rep.Message = fmt.Sprintf("connected to %s and bound; every base DN exists", c.URL)
	} else {
		rep.Message = fmt.Sprintf("connected to %s and bound, but a base DN cannot be searched", c.URL)
	}
	rep.DurationMS = time.Since(started).Milliseconds()
	return rep
}

func kindOf(err error) ErrorKind {
	var de *Error
	if errors.As(err, &de) {
		return de.Kind
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTimeout
	}
	return KindProtocol
}
