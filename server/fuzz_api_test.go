package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"
	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
)

// FuzzAPIRequest sends requests to every route of the API (chosen by "METHOD /path"), with
// the fuzzer's path parameter, query string and body, as an admin, against a real database
// (TEST_DATABASE_URL) and a Temporal that is not there (its calls fail fast). Whatever the
// bytes, the answer is never a 5xx other than 503 (a backing service away), and a JSON answer
// is JSON: query parameters and bodies are checked before anything is stored, and what
// passes is stored without an internal error.
func FuzzAPIRequest(f *testing.F) {
	db := testenv.DB(f)
	st := store.New(db)
	keys, _, err := secrets.NewRandomKeyring("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	// Nothing listens on the discard port: every Temporal call fails, within the request
	// timeout.
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:9", Namespace: "default"})
	if err != nil {
		f.Fatal(err)
	}
	d, err := dispatch.New(dispatch.Options{Client: tc, Store: st, TaskQueue: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	router, err := NewRouter(Options{Store: st, Dispatcher: d, Temporal: tc, Namespace: "default", Keyring: keys,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RequestTimeout: 300 * time.Millisecond, MaxUploadBytes: 1 << 20,
		FailedAuthPerMinute: 1 << 30})
	if err != nil {
		f.Fatal(err)
	}
	token, _, err := auth.NewTokens(st).Create(context.Background(), auth.CreateOptions{Name: "fuzz", Role: auth.Admin}, "fuzz")
	if err != nil {
		f.Fatal(err)
	}
	var rules []Rule
	for _, r := range Rules() {
		if r.Method == http.MethodDelete && r.Path == "/api/v1/tokens/:id" {
			continue // the fuzzer's own token stays
		}
		rules = append(rules, r)
	}

	for _, seed := range []struct{ route, param, query, body string }{
		{"POST /api/v1/events", "", "", `{"title":"Patch the web tier","urgency":4,"severity":5,"responsible":"ops"}`},
		{"POST /api/v1/events", "", "", `{"occurrence_ids":[1,2,3],"consolidated":true,"asset_ids":["6f1c1b4e-9a57-4d55-9d0b-0a3b8d1b2c3d"]}`},
		{"PATCH /api/v1/events/:id", "1", "", `{"title":"x","progress":50,"version":1}`},
		{"POST /api/v1/events/:id/progress", "1", "", `{"body":"half done","progress":50}`},
		{"POST /api/v1/events/:id/close", "1", "", `{"comment":"done"}`},
		{"GET /api/v1/events", "", "status=open&limit=5&responsible=ops&asset_id=6f1c1b4e-9a57-4d55-9d0b-0a3b8d1b2c3d", ""},
		{"GET /api/v1/assets", "", "source=qualys&min_criticality=50&limit=2&cursor=eyJpZCI6MX0", ""},
		{"PATCH /api/v1/assets/:id", "6f1c1b4e-9a57-4d55-9d0b-0a3b8d1b2c3d", "", `{"name":"Payments DB","relevance":5,"criticality":90}`},
		{"GET /api/v1/vulnerabilities", "", "source=nexpose&cve=CVE-2023-48795&known_exploited=true", ""},
		{"GET /api/v1/assets/:id/occurrences", "6f1c1b4e-9a57-4d55-9d0b-0a3b8d1b2c3d", "status=open", ""},
		{"POST /api/v1/db-connections", "", "", `{"name":"warehouse","type":"postgres","host":"db.example.com","port":5432,"database":"dw","username":"u","password":"p","tls_mode":"verify-full"}`},
		{"PUT /api/v1/db-connections/:id", "6f1c1b4e-9a57-4d55-9d0b-0a3b8d1b2c3d", "", `{"name":"w","type":"mysql","host":"h","port":3306,"database":"d","username":"u"}`},
		{"POST /api/v1/saved-queries", "", "", `{"name":"Open findings","sql":"SELECT * FROM reporting.findings WHERE active","description":"all"}`},
		{"POST /api/v1/tasks", "", "", `{"type":"http_call","name":"ping","config":{"url":"https://example.com"},"schedule":"@every 15m"}`},
		{"GET /api/v1/runs", "", "kind=connector_sync&status=failed&limit=10&since=2026-11-01T00:00:00Z", ""},
		{"GET /api/v1/findings", "", "severity=High&active=true&product_id=6f1c1b4e-9a57-4d55-9d0b-0a3b8d1b2c3d", ""},
		{"GET /api/v1/content/items", "", "source=nvd&kind=cve&q=openssh", ""},
		{"POST /api/v1/tokens", "", "", `{"name":"ci","role":"operator","expires_in_days":30}`},
		{"GET /api/v1/audit", "", "limit=3&actor=fuzz", ""},
		{"POST /api/v1/connectors", "", "", `{"tool_type":"qualys","name":"q","base_url":"https://qualysapi.qualys.eu","config":{"username":"u","password":"p"}}`},
		{"GET /api/v1/events", "", "status=open&status=closed&colour=red", ""},
		{"POST /api/v1/events", "", "", `{"occurrence_ids":[0,-1],"":1}`},
	} {
		f.Add(seed.route, seed.param, seed.query, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, route, param, query string, body []byte) {
		rule := pickRule(rules, route)
		path := rule.Path
		for _, seg := range strings.Split(rule.Path, "/") {
			if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
				path = strings.Replace(path, seg, url.PathEscape(param), 1)
			}
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return // not a request a client can send
		}
		req := httptest.NewRequest(rule.Method, "/", bytes.NewReader(body))
		req.URL, req.RequestURI = u, u.RequestURI()
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		before := configured(t, db)
		rec := httptest.NewRecorder()
		start := time.Now()
		router.ServeHTTP(rec, req)
		if took := time.Since(start); took > 5*time.Second {
			t.Fatalf("%s %s took %s: the request timeout is 300ms", rule.Method, u.RequestURI(), took)
		}
		if rec.Code == http.StatusServiceUnavailable {
			if after := configured(t, db); after != before {
				t.Fatalf("%s %s answered 503 but changed what is configured: %s, then %s", rule.Method, u.RequestURI(), before, after)
			}
		}
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s with %q: %d %s", rule.Method, u.RequestURI(), body, rec.Code, rec.Body.String())
		}
		if mt, _, _ := mime.ParseMediaType(rec.Header().Get("Content-Type")); mt == "application/json" && rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: a JSON answer that is not JSON: %s", rule.Method, u.RequestURI(), rec.Body.String())
		}
		if rec.Code >= 400 && rec.Code != http.StatusServiceUnavailable {
			var e struct {
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Message == "" {
				t.Fatalf("%s %s: %d without a JSON error saying what is wrong: %s", rule.Method, u.RequestURI(), rec.Code, rec.Body.String())
			}
		}
	})
}

// configured counts tasks and connectors: a request that fails on Temporal leaves none behind.
func configured(t *testing.T, db *bun.DB) string {
	var tasks, connectors int
	if err := db.QueryRowContext(context.Background(), "SELECT (SELECT count(*) FROM integration_tasks), (SELECT count(*) FROM connectors)").
		Scan(&tasks, &connectors); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d tasks, %d connectors", tasks, connectors)
}

// pickRule returns the rule route names ("METHOD /path"), or one chosen by route's hash.
func pickRule(rules []Rule, route string) Rule {
	for _, r := range rules {
		if r.Method+" "+r.Path == route {
			return r
		}
	}
	h := fnv.New32a()
	fmt.Fprint(h, route)
	return rules[int(h.Sum32())%len(rules)]
}
