package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/internal/testenv"
)

// consoleClient is a browser-like client of the console: a cookie jar, no Authorization.
type consoleClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func newConsoleClient(t *testing.T, base string) *consoleClient {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &consoleClient{t: t, base: base, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (cc *consoleClient) do(method, path, body, csrf string) (int, http.Header, []byte) {
	cc.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, cc.base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	resp, err := cc.hc.Do(req)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func (cc *consoleClient) signIn(token string) {
	cc.t.Helper()
	code, h, b := cc.do("POST", "/api/v1/session", `{"token": "`+token+`"}`, "")
	if code != http.StatusCreated {
		cc.t.Fatalf("sign in: %d %s", code, b)
	}
	ck := h.Get("Set-Cookie")
	for _, want := range []string{"tributary_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(ck, want) {
			cc.t.Fatalf("session cookie %q lacks %s", ck, want)
		}
	}
	if strings.Contains(ck, token) {
		cc.t.Fatal("the session cookie shows the token in clear")
	}
	var s struct {
		Name, Role string
		CSRF       string `json:"csrf_token"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.CSRF == "" {
		cc.t.Fatalf("session: %s", b)
	}
	cc.csrf = s.CSRF
}

// The console's files are served by the API server with a strict policy; a token signs in to
// a session cookie that then works like the token for reads, while changes also need the CSRF
// token; roles are the token's; revoking the token ends the session; a forged cookie is
// nobody. A running run's page shows its activity's progress.
func TestConsoleSessionAndCSRF(t *testing.T) {
	s := newStack(t, stackOptions{})
	cc := newConsoleClient(t, s.api.URL)

	code, h, b := cc.do("GET", "/console/", "", "")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(string(b), "/console/app.js") ||
		!strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("console page: %d %v %.200s", code, h, b)
	}
	if code, h, _ := cc.do("GET", "/console/app.js", "", ""); code != http.StatusOK || !strings.Contains(h.Get("Content-Type"), "javascript") {
		t.Fatalf("app.js: %d %v", code, h)
	}
	for _, p := range []string{"/console/nope.js", "/console/static/app.js", "/console/..%2Fconsole.go"} {
		if code, _, _ := cc.do("GET", p, "", ""); code != http.StatusNotFound {
			t.Fatalf("%s: %d", p, code)
		}
	}
	if code, h, _ := cc.do("GET", "/console", "", ""); code != http.StatusMovedPermanently || h.Get("Location") != "/console/" {
		t.Fatalf("/console: %d %v", code, h)
	}

	// Bad sign-ins.
	if code, _, _ := cc.do("POST", "/api/v1/session", `{"token": "trb_`+strings.Repeat("x", 43)+`"}`, ""); code != http.StatusUnauthorized {
		t.Fatalf("unknown token: %d", code)
	}
	if code, _, b := cc.do("POST", "/api/v1/session", `{}`, ""); code != http.StatusBadRequest || !strings.Contains(string(b), "token") {
		t.Fatalf("no token: %d %s", code, b)
	}
	if code, _, _ := cc.do("GET", "/api/v1/tasks", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no session: %d", code)
	}

	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, call int64) {
		if call == 1 {
			time.Sleep(3 * time.Second)
		}
		w.WriteHeader(http.StatusOK)
	})
	task := s.createHTTPTask("console-task", tg.srv.URL, nil)
	runPath := "/api/v1/tasks/" + task.ID + "/runs"

	op := s.newToken("console operator", auth.Operator)
	cc.signIn(op)
	if code, _, b := cc.do("GET", "/api/v1/tasks", "", ""); code != http.StatusOK || !strings.Contains(string(b), "console-task") {
		t.Fatalf("tasks with the session: %d %s", code, b)
	}
	for _, csrf := range []string{"", "wrong", strings.Repeat("A", 43)} {
		code, _, b := cc.do("POST", runPath, "", csrf)
		if code != http.StatusForbidden || !strings.Contains(string(b), `"csrf"`) {
			t.Fatalf("a change with CSRF token %q: %d %s", csrf, code, b)
		}
	}
	code, _, b = cc.do("POST", runPath, "", cc.csrf)
	if code != http.StatusAccepted {
		t.Fatalf("run now with the CSRF token: %d %s", code, b)
	}
	var tr triggered
	if err := json.Unmarshal(b, &tr); err != nil {
		t.Fatal(err)
	}
	// While it runs, the run says which activity runs and how Temporal last heard of it.
	testenv.Eventually(t, 10*time.Second, func() error {
		_, _, b := cc.do("GET", "/api/v1/runs/"+tr.RunID, "", "")
		if !strings.Contains(string(b), `"progress":{"activity":"`) || !strings.Contains(string(b), `"state":"started"`) {
			return fmt.Errorf("no progress yet: %s", b)
		}
		return nil
	})
	if rv := s.waitRun(tr.RunID, 30*time.Second); rv.Status != "succeeded" {
		t.Fatalf("run: %+v", rv)
	}
	if _, _, b := cc.do("GET", "/api/v1/runs/"+tr.RunID, "", ""); strings.Contains(string(b), `"progress"`) {
		t.Fatalf("an ended run shows progress: %s", b)
	}

	// A viewer's session: reads, and no changes even with the CSRF token.
	vc := newConsoleClient(t, s.api.URL)
	viewer := s.newToken("console viewer", auth.Viewer)
	vc.signIn(viewer)
	if code, _, b := vc.do("GET", "/api/v1/session", "", ""); code != http.StatusOK || !strings.Contains(string(b), `"role":"viewer"`) {
		t.Fatalf("viewer session: %d %s", code, b)
	}
	if code, _, _ := vc.do("POST", runPath, "", vc.csrf); code != http.StatusForbidden {
		t.Fatalf("viewer run now: %d", code)
	}

	// A forged or altered cookie is nobody.
	forged := newConsoleClient(t, s.api.URL)
	req, _ := http.NewRequest("GET", s.api.URL+"/api/v1/tasks", nil)
	req.AddCookie(&http.Cookie{Name: "tributary_session", Value: "e2e:" + strings.Repeat("A", 80)})
	if resp, err := forged.hc.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged cookie: %v %v", resp, err)
	}

	// Revoking the token ends its session; signing out clears the cookie.
	var tokens struct {
		Items []struct{ ID, Name string } `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/tokens", nil, &tokens)
	for _, tk := range tokens.Items {
		if tk.Name == "console viewer" {
			s.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+tk.ID, nil, nil)
		}
	}
	if code, _, _ := vc.do("GET", "/api/v1/tasks", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("session of a revoked token: %d", code)
	}
	if code, h, _ := cc.do("DELETE", "/api/v1/session", "", ""); code != http.StatusNoContent || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d %v", code, h)
	}
	if code, _, _ := cc.do("GET", "/api/v1/tasks", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("after signing out: %d", code)
	}
}
