package tasks

import (
	"testing"
	"time"
)

func TestNextRun(t *testing.T) {
	now := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC) // the night Europe/Berlin moves to summer time
	cases := []struct {
		schedule, tz string
		want         string // RFC 3339, "" for none
	}{
		{"0 6 * * *", "UTC", "2026-03-29T06:00:00Z"},
		{"0 6 * * *", "Europe/Berlin", "2026-03-29T04:00:00Z"}, // 06:00 CEST
		{"0 1 * * *", "Europe/Berlin", "2026-03-29T23:00:00Z"}, // 01:00 CET already past today
		{"@hourly", "UTC", "2026-03-29T01:00:00Z"},
		{"@every 45m", "UTC", "2026-03-29T00:45:00Z"}, // counted from the epoch, as Temporal does
		{"@every 7m", "UTC", "2026-03-29T00:34:00Z"},  // 00:34 is a multiple of 7 minutes since 1970
		{"", "UTC", ""},
		{"not a schedule", "UTC", ""},
	}
	for _, c := range cases {
		got := NextRun(c.schedule, c.tz, now)
		s := ""
		if got != nil {
			s = got.Format(time.RFC3339)
		}
		if s != c.want {
			t.Errorf("NextRun(%q, %q) = %q, want %q", c.schedule, c.tz, s, c.want)
		}
	}
}
