package scanner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Sleep waits for d or until ctx ends: the clients' default wait.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// BaseURL parses a vendor API's base URL, which must be an absolute http(s) URL; pkg names
// the client in the error.
func BaseURL(pkg, raw string) (*url.URL, error) {
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("%s: base URL %q is not an http(s) URL", pkg, raw)
	}
	return base, nil
}

// ParseTime reads a vendor's RFC 3339 date-time; "" is the zero time.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date-time such as 2026-11-25T10:00:00Z", s)
	}
	return t.UTC(), nil
}

// TransportMessage describes a failed HTTP round trip without the request URL: it may be
// long, and it is no use to an operator.
func TransportMessage(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// FinalKind classifies a 4xx answer that no retry can change.
func FinalKind(status int) ErrorKind {
	switch status {
	case http.StatusUnauthorized:
		return KindBadCredentials
	case http.StatusForbidden:
		return KindForbidden
	case http.StatusNotFound:
		return KindNotFound
	}
	return KindRejected
}
