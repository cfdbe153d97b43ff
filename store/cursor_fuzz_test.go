package store

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

// FuzzCursor feeds the cursor query parameter every listing takes to its decoders: a cursor
// the API did not make is ErrInvalidCursor (the API's 400), never a panic; one it made decodes
// to what it encoded.
func FuzzCursor(f *testing.F) {
	f.Add(encodeCursor(runCursor{StartedAt: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC), ID: uuid.MustParse("6f1c1b4e-9a57-4d55-9d0b-0a3b8d1b2c3d")}))
	f.Add(encodeCursor(idCursor{ID: 42}))
	f.Add("bm90LWEtY3Vyc29y")
	f.Add("")
	f.Add("eyJpIjotMX0")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, s string) {
		var rc runCursor
		err := decodeCursor(s, &rc, func() bool { return rc.ID != uuid.Nil && !rc.StartedAt.IsZero() }, "run")
		if err != nil && !errors.Is(err, ErrInvalidCursor) {
			t.Fatalf("run cursor %q: %v is not ErrInvalidCursor", s, err)
		}
		if err == nil {
			var again runCursor
			if decodeCursor(encodeCursor(rc), &again, func() bool { return true }, "run") != nil || !again.StartedAt.Equal(rc.StartedAt) || again.ID != rc.ID {
				t.Fatalf("run cursor %q does not round-trip: %+v %+v", s, rc, again)
			}
		}
		var ic idCursor
		if err := decodeCursor(s, &ic, func() bool { return ic.ID > 0 }, "id"); err != nil && !errors.Is(err, ErrInvalidCursor) {
			t.Fatalf("id cursor %q: %v", s, err)
		}
	})
}
