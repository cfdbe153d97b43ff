package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tributary-io/tributary/secrets"
)

// FuzzSessionCookie: whatever a client sends as the session cookie, reading it never panics,
// and only a cookie this keyring sealed, with a token, a CSRF secret and a future expiry, is
// a session.
func FuzzSessionCookie(f *testing.F) {
	keys, _, err := secrets.NewRandomKeyring("k1")
	if err != nil {
		f.Fatal(err)
	}
	a := &api{Options: Options{Keyring: keys}}
	seal := func(s session) string {
		b, _ := json.Marshal(s)
		v, err := keys.Seal(string(b))
		if err != nil {
			f.Fatal(err)
		}
		return v
	}
	good := seal(session{Token: "trb_x", CSRF: "c", Expires: time.Now().Add(time.Hour)})
	f.Add(good)
	f.Add(seal(session{Token: "trb_x", CSRF: "c", Expires: time.Now().Add(-time.Hour)}))
	f.Add(seal(session{Token: "", CSRF: "c", Expires: time.Now().Add(time.Hour)}))
	f.Add("k1:" + good[3:len(good)/2])
	f.Add("")
	f.Add("not a cookie")
	f.Fuzz(func(t *testing.T, value string) {
		req := httptest.NewRequest(http.MethodGet, "/api/v1/tasks", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: value})
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = req
		s, ok := a.readSession(c)
		if ok && (s.Token == "" || s.CSRF == "" || !time.Now().Before(s.Expires)) {
			t.Fatalf("accepted %+v", s)
		}
		if ok && (s.Token != "trb_x" || s.CSRF != "c") {
			t.Fatalf("a session this test did not seal was accepted: %q", value)
		}
	})
}
