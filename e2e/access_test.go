package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/server"
)

// Every route in the route table refuses callers without a token (401) and callers whose
// role is too low (403), and lets the required role through. The cases are generated from
// the table, so a new route cannot be added without a rule, and the OpenAPI document must
// declare the same role.
func TestEveryRouteEnforcesItsRole(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	tokens := map[auth.Role]string{
		auth.Admin:    s.token,
		auth.Operator: s.newToken("operator", auth.Operator),
		auth.Viewer:   s.newToken("viewer", auth.Viewer),
	}
	documented := documentedRoles(t)
	routed := map[string]bool{}
	for _, r := range s.router.Routes() {
		routed[r.Method+" "+r.Path] = true
	}
	rules := server.Rules()
	if len(rules) != len(routed) {
		t.Fatalf("%d rules for %d routes", len(rules), len(routed))
	}
	for _, rule := range rules {
		key := rule.Method + " " + rule.Path
		if !routed[key] {
			t.Fatalf("rule %s has no route", key)
		}
		path := strings.NewReplacer(":id", uuid.NewString(), ":source", "kev").Replace(rule.Path)
		var body any
		if rule.Method == http.MethodPost || rule.Method == http.MethodPut || rule.Method == http.MethodPatch {
			body = map[string]any{}
		}
		t.Run(key, func(t *testing.T) {
			if doc := documented[key]; doc != string(rule.Role) {
				t.Fatalf("the OpenAPI document gives %s role %q, the route table %q", key, doc, rule.Role)
			}
			if rule.Role == auth.Public {
				if r := s.doAs("", rule.Method, path, body); r.status == 401 || r.status == 403 {
					t.Fatalf("public route answered %d", r.status)
				}
				return
			}
			r := s.doAs("", rule.Method, path, body)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
				t.Fatalf("without a token: %d %s", r.status, r.body)
			}
			for _, bad := range []string{"nope", "trb_" + strings.Repeat("A", 43), "trb_'; DROP TABLE api_tokens; --"} {
				if r := s.doAs(bad, rule.Method, path, body); r.status != http.StatusUnauthorized {
					t.Fatalf("with token %q: %d %s", bad, r.status, r.body)
				}
			}
			for _, role := range auth.Roles {
				r := s.doAs(tokens[role], rule.Method, path, body)
				allowed := role.Allows(rule.Role)
				if !allowed && r.status != http.StatusForbidden {
					t.Fatalf("%s token: %d, want 403: %s", role, r.status, r.body)
				}
				if allowed && (r.status == http.StatusUnauthorized || r.status == http.StatusForbidden) {
					t.Fatalf("%s token refused: %d %s", role, r.status, r.body)
				}
			}
		})
	}
}

func documentedRoles(t *testing.T) map[string]string {
	t.Helper()
	doc := loadDoc(t)
	out := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			role, _ := op.Extensions["x-role"].(string)
			out[method+" "+strings.NewReplacer("{id}", ":id", "{record_id}", ":record_id", "{source}", ":source", "{filepath}", "*filepath").Replace(path)] = role
		}
	}
	return out
}

// Tokens: created through the API and shown once, expired and revoked ones refused, and
// every change lands in the audit trail with who, what and from where.
func TestTokenLifecycleAndAuditTrail(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	var created struct {
		ID    string `json:"id"`
		Token string `json:"token"`
		Role  string `json:"role"`
	}
	s.must(http.StatusCreated, "POST", "/api/v1/tokens", map[string]any{"name": "ci bot", "role": "operator", "expires_in_days": 30}, &created)
	if !strings.HasPrefix(created.Token, "trb_") || created.Role != "operator" {
		t.Fatalf("created: %+v", created)
	}
	list := s.must(http.StatusOK, "GET", "/api/v1/tokens", nil, nil)
	if strings.Contains(string(list.body), created.Token) || strings.Contains(string(list.body), "token_hash") {
		t.Fatalf("token list shows a secret: %s", list.body)
	}
	s.must(http.StatusBadRequest, "POST", "/api/v1/tokens", map[string]any{"name": "x", "role": "root"}, nil)
	s.must(http.StatusBadRequest, "POST", "/api/v1/tokens", map[string]any{"name": " ", "role": "viewer"}, nil)

	// The operator token works, and its refused attempt to create a task is audited.
	s.doAs(created.Token, "GET", "/api/v1/runs", nil)
	if r := s.doAs(created.Token, "POST", "/api/v1/tasks", map[string]any{}); r.status != http.StatusForbidden {
		t.Fatalf("operator creating a task: %d", r.status)
	}
	task := s.createHTTPTask("audited", "https://example.test/", nil)
	s.must(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+created.ID, nil, nil)
	if r := s.doAs(created.Token, "GET", "/api/v1/runs", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", r.status)
	}

	// An expired token is refused.
	expired := s.newToken("short-lived", auth.Viewer)
	if _, err := s.store.DB.ExecContext(context.Background(), "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'short-lived'"); err != nil {
		t.Fatal(err)
	}
	if r := s.doAs(expired, "GET", "/api/v1/runs", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", r.status)
	}

	var audit struct {
		Items []struct {
			Actor      string `json:"actor"`
			RemoteAddr string `json:"remote_addr"`
			Method     string `json:"method"`
			Route      string `json:"route"`
			ResourceID string `json:"resource_id"`
			Status     int    `json:"status"`
			Summary    string `json:"summary"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/audit?limit=10", nil, &audit)
	// Newest first: revoke, create task, the refused attempt, two rejected token requests, create token.
	if len(audit.Items) != 6 {
		t.Fatalf("want 6 audit events, got %+v", audit.Items)
	}
	revoke, createTask, refused, createToken := audit.Items[0], audit.Items[1], audit.Items[2], audit.Items[5]
	if audit.Items[3].Status != 400 || audit.Items[4].Status != 400 {
		t.Fatalf("rejected requests should be audited with their status: %+v", audit.Items[3:5])
	}
	if revoke.Route != "/api/v1/tokens/:id" || revoke.ResourceID != created.ID || revoke.Actor != "e2e admin" || revoke.Status != 204 {
		t.Fatalf("revoke event: %+v", revoke)
	}
	if createTask.ResourceID != task.ID || createTask.Status != 201 || !strings.Contains(createTask.Summary, "audited") || createTask.RemoteAddr != "127.0.0.1" {
		t.Fatalf("create task event: %+v", createTask)
	}
	if refused.Actor != "ci bot" || refused.Status != 403 || refused.Method != "POST" {
		t.Fatalf("refused event: %+v", refused)
	}
	if createToken.ResourceID != created.ID || createToken.Status != 201 {
		t.Fatalf("create token event: %+v", createToken)
	}
	var page struct {
		Items      []any  `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/audit?limit=3", nil, &page)
	cursor := page.NextCursor
	page.Items, page.NextCursor = nil, ""
	s.must(http.StatusOK, "GET", "/api/v1/audit?limit=3&cursor="+cursor, nil, &page)
	if len(page.Items) != 3 || page.NextCursor != "" {
		t.Fatalf("second audit page: %+v", page)
	}
	s.must(http.StatusOK, "GET", "/api/v1/audit?actor="+url.QueryEscape("ci bot"), nil, &page)
	if len(page.Items) != 1 {
		t.Fatalf("audit filtered by actor: %+v", page)
	}
}

// Injection attempts in query parameters are rejected or treated as plain values.
func TestInjectionAttemptsInQueryParameters(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	s.createHTTPTask("victim", "https://example.test/", nil)
	for _, q := range []string{
		"task_id=" + url.QueryEscape("' OR 1=1 --"),
		"status=" + url.QueryEscape("failed' OR '1'='1"),
		"kind=" + url.QueryEscape("task; DROP TABLE runs"),
		"trigger=" + url.QueryEscape("api)) OR ((1=1"),
		"started_after=" + url.QueryEscape("2026-01-01'::timestamptz OR true --"),
		"cursor=" + url.QueryEscape("' UNION SELECT * FROM api_tokens --"),
		"limit=" + url.QueryEscape("1; DELETE FROM runs"),
	} {
		if r := s.do("GET", "/api/v1/runs?"+q, nil); r.status != http.StatusBadRequest {
			t.Fatalf("?%s: %d %s", q, r.status, r.body)
		}
	}
	if r := s.do("GET", "/api/v1/tasks?type="+url.QueryEscape("http_call' OR '1'='1"), nil); r.status != http.StatusBadRequest {
		t.Fatalf("task type injection: %d", r.status)
	}
	var page struct{ Items []any }
	s.must(http.StatusOK, "GET", "/api/v1/audit?actor="+url.QueryEscape("x' OR '1'='1"), nil, &page)
	if len(page.Items) != 0 {
		t.Fatalf("the actor filter matched %d events", len(page.Items))
	}
	var tasks struct{ Items []taskView }
	s.must(http.StatusOK, "GET", "/api/v1/tasks", nil, &tasks)
	if len(tasks.Items) != 1 {
		t.Fatal("the tasks table changed")
	}
}

// Failed authentications from one address are rate limited.
func TestFailedAuthenticationIsRateLimited(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true, failedAuthPerMinute: 3})
	for i := 0; i < 3; i++ {
		if r := s.doAs("trb_wrong", "GET", "/api/v1/runs", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	r := s.doAs("trb_wrong", "GET", "/api/v1/runs", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d (Retry-After %q)", r.status, r.header.Get("Retry-After"))
	}
	if r := s.doAs("", "GET", "/healthz", nil); r.status != http.StatusOK {
		t.Fatalf("health is not rate limited: %d", r.status)
	}
	// A client cannot escape the limit by claiming another address.
	req, _ := http.NewRequest("GET", s.api.URL+"/api/v1/runs", nil)
	req.Header.Set("Authorization", "Bearer trb_wrong")
	req.Header.Set("X-Forwarded-For", "203.0.113.7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("with a forged X-Forwarded-For: %d", resp.StatusCode)
	}
}

// The limit on failed authentications holds across API replicas: failures on one replica
// block the address on another (within about a second), even with a valid token.
func TestFailedAuthLimitAcrossReplicas(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true, failedAuthPerMinute: 5})
	router2, err := server.NewRouter(server.Options{Store: s.store, Dispatcher: s.dispatcher, Temporal: s.client,
		Namespace: s.temporal.GetDefaultNamespace(), Keyring: s.keys, FailedAuthPerMinute: 5, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	replica2 := httptest.NewServer(router2)
	defer replica2.Close()
	get := func(base, token string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/tasks", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(replica2.URL, s.token); got != http.StatusOK {
		t.Fatalf("replica 2 before: %d", got)
	}
	for i := 0; i < 5; i++ {
		if got := get(s.api.URL, "trb_"+strings.Repeat("B", 43)); got != http.StatusUnauthorized {
			t.Fatalf("failure %d on replica 1: %d", i+1, got)
		}
	}
	if got := get(s.api.URL, s.token); got != http.StatusTooManyRequests {
		t.Fatalf("replica 1 after five failures: %d", got)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		if got := get(replica2.URL, s.token); got != http.StatusTooManyRequests {
			return fmt.Errorf("replica 2 answers %d", got)
		}
		return nil
	})
}
