package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/server"
	"github.com/tributary-io/tributary/store"
)

// Bad requests get a 4xx with a JSON body naming the bad field, and store nothing.
func TestBadInputIsRejectedAndNothingStored(t *testing.T) {
	s := newStack(t, stackOptions{})
	good := func() map[string]any {
		return map[string]any{"type": "http_call", "name": "n", "config": map[string]any{"url": "https://example.test/x"}}
	}
	with := func(k string, v any) map[string]any {
		b := good()
		b[k] = v
		return b
	}
	cfg := func(c map[string]any) map[string]any { return with("config", c) }
	cases := []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"malformed JSON", `{"type": "http_call",`, 400, "body"},
		{"not an object", `[1,2]`, 400, "body"},
		{"empty body", ``, 400, "body"},
		{"trailing data", `{"type":"http_call","name":"n","config":{"url":"https://e.test"}} {}`, 400, "body"},
		{"unknown field", with("colour", "red"), 400, "colour"},
		{"wrong JSON type", with("name", 12), 400, "name"},
		{"unknown task type", with("type", "ftp_upload"), 400, "type"},
		{"missing name", with("name", ""), 400, "name"},
		{"blank name", with("name", "   "), 400, "name"},
		{"control characters in name", with("name", "a\u0007b"), 400, "name"},
		{"invalid cron", with("schedule", "61 * * * *"), 400, "schedule"},
		{"cron with too many fields", with("schedule", "* * * * * * *"), 400, "schedule"},
		{"interval too short", with("schedule", "@every 10ms"), 400, "schedule"},
		{"cron time zone prefix", with("schedule", "CRON_TZ=UTC 0 * * * *"), 400, "schedule"},
		{"unknown time zone", with("timezone", "Mars/Olympus"), 400, "timezone"},
		{"bad overlap policy", with("overlap_policy", "stack"), 400, "overlap_policy"},
		{"max attempts too high", with("max_attempts", 1000), 400, "max_attempts"},
		{"missing config", with("config", nil), 400, "config"},
		{"missing URL", cfg(map[string]any{}), 400, "config.url"},
		{"relative URL", cfg(map[string]any{"url": "/just/a/path"}), 400, "config.url"},
		{"ftp URL", cfg(map[string]any{"url": "ftp://example.test/"}), 400, "config.url"},
		{"URL with credentials", cfg(map[string]any{"url": "https://u:p@example.test/"}), 400, "config.url"},
		{"bad method", cfg(map[string]any{"url": "https://e.test", "method": "DELETE"}), 400, "config.method"},
		{"GET with body", cfg(map[string]any{"url": "https://e.test", "body": "x"}), 400, "config.body"},
		{"bad header name", cfg(map[string]any{"url": "https://e.test", "headers": []map[string]any{{"name": "Bad Header", "value": "v"}}}), 400, "config.headers[0].name"},
		{"header value with newline", cfg(map[string]any{"url": "https://e.test", "headers": []map[string]any{{"name": "X-A", "value": "a\nb"}}}), 400, "config.headers[0].value"},
		{"status code out of range", cfg(map[string]any{"url": "https://e.test", "expected_status": []int{200, 700}}), 400, "config.expected_status[1]"},
		{"timeout too long", cfg(map[string]any{"url": "https://e.test", "timeout_seconds": 99999}), 400, "config.timeout_seconds"},
		{"unknown config field", cfg(map[string]any{"url": "https://e.test", "verb": "GET"}), 400, "config.verb"},
		{"oversize body", with("description", strings.Repeat("x", 2<<20)), 413, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.do("POST", "/api/v1/tasks", tc.body)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			var e apiErr
			r.decode(t, &e)
			if e.Error.Message == "" {
				t.Fatalf("no message: %s", r.body)
			}
			if tc.field != "" {
				var fields []string
				for _, f := range e.Error.Fields {
					fields = append(fields, f.Field)
				}
				if !contains(fields, tc.field) {
					t.Fatalf("fields %v do not name %q: %s", fields, tc.field, r.body)
				}
			}
		})
	}

	// Wrong content type.
	req, _ := http.NewRequest("POST", s.api.URL+"/api/v1/tasks", strings.NewReader(`{"type":"http_call"}`))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain body: %d", resp.StatusCode)
	}

	var list struct{ Items []taskView }
	s.must(http.StatusOK, "GET", "/api/v1/tasks", nil, &list)
	if len(list.Items) != 0 {
		t.Fatalf("rejected requests stored %d tasks", len(list.Items))
	}
	it, err := s.client.ScheduleClient().List(ctxTimeout(t, 10*time.Second), client.ScheduleListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if it.HasNext() {
		t.Fatal("rejected requests created a schedule")
	}

	// Other routes validate too.
	task := s.createHTTPTask("ok", "https://example.test/", nil)
	s.must(http.StatusBadRequest, "GET", "/api/v1/tasks/not-a-uuid", nil, nil)
	s.must(http.StatusNotFound, "GET", "/api/v1/tasks/"+uuid.NewString(), nil, nil)
	s.must(http.StatusNotFound, "POST", "/api/v1/tasks/"+uuid.NewString()+"/runs", nil, nil)
	s.must(http.StatusBadRequest, "POST", "/api/v1/tasks/"+task.ID+"/runs", map[string]any{"trigger": "scheduled"}, nil)
	s.must(http.StatusBadRequest, "POST", "/api/v1/tasks/"+task.ID+"/runs", map[string]any{"whom": "x"}, nil)
	s.must(http.StatusConflict, "POST", "/api/v1/tasks", map[string]any{"type": "http_call", "name": "OK", "config": map[string]any{"url": "https://e.test"}}, nil)
	upd := map[string]any{"type": "e2e_probe", "name": "ok", "config": map[string]any{"url": "https://e.test"}}
	s.must(http.StatusBadRequest, "PUT", "/api/v1/tasks/"+task.ID, upd, nil)
	s.must(http.StatusMethodNotAllowed, "PATCH", "/api/v1/tasks/"+task.ID, nil, nil)
	s.must(http.StatusNotFound, "GET", "/api/v2/anything", nil, nil)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// A secret header is write-only: never shown, kept when an update leaves it empty.
func TestSecretHeadersAreWriteOnly(t *testing.T) {
	s := newStack(t, stackOptions{})
	body := map[string]any{"type": "http_call", "name": "secret", "config": map[string]any{"url": "https://e.test",
		"headers": []map[string]any{{"name": "X-Token", "value": "hunter2", "secret": true}, {"name": "X-Plain", "value": "visible"}}}}
	var tv taskView
	r := s.must(http.StatusCreated, "POST", "/api/v1/tasks", body, &tv)
	if strings.Contains(string(r.body), "hunter2") || !strings.Contains(string(r.body), `"value_set":true`) || !strings.Contains(string(r.body), "visible") {
		t.Fatalf("create answer: %s", r.body)
	}
	sealedValue := func() string {
		stored, err := s.store.Tasks.Get(context.Background(), mustParse(tv.ID))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(stored.Config), "hunter2") {
			t.Fatalf("the secret is stored in plain text: %s", stored.Config)
		}
		var cfg struct {
			Headers []struct{ Name, Value string }
		}
		if err := json.Unmarshal(stored.Config, &cfg); err != nil {
			t.Fatal(err)
		}
		return cfg.Headers[0].Value
	}
	first := sealedValue()
	if plain, err := s.keys.Open(first); err != nil || plain != "hunter2" || !strings.HasPrefix(first, "enc:v1:e2e:") {
		t.Fatalf("stored %q opens to %q (%v)", first, plain, err)
	}
	// An update that leaves the value empty keeps the sealed value as it is.
	body["config"].(map[string]any)["headers"] = []map[string]any{{"name": "X-Token", "secret": true}}
	s.must(http.StatusOK, "PUT", "/api/v1/tasks/"+tv.ID, body, nil)
	if sealedValue() != first {
		t.Fatal("the update should keep the stored secret")
	}
	// A client cannot plant a ciphertext for the worker to open: what it sends is sealed again.
	body["config"].(map[string]any)["headers"] = []map[string]any{{"name": "X-Token", "secret": true, "value": first}}
	s.must(http.StatusOK, "PUT", "/api/v1/tasks/"+tv.ID, body, nil)
	if plain, err := s.keys.Open(sealedValue()); err != nil || plain != first {
		t.Fatalf("a sealed-looking client value should be sealed as given: %q %v", plain, err)
	}
	r = s.must(http.StatusOK, "GET", "/api/v1/tasks/"+tv.ID, nil, nil)
	if strings.Contains(string(r.body), "hunter2") {
		t.Fatalf("get shows the secret: %s", r.body)
	}
}

// Run history pages with a stable keyset cursor, filters, and clear errors.
func TestRunListingPagination(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	ctx := context.Background()
	taskA, taskB := uuid.New(), uuid.New()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	typ := "http_call"
	for i := 0; i < 130; i++ {
		tid := taskA
		if i%3 == 0 {
			tid = taskB
		}
		r := &store.Run{ID: uuid.New(), Kind: store.KindTask, TaskID: &tid, TaskType: &typ, Trigger: store.TriggerAPI,
			StartedAt:  base.Add(time.Duration(i/2) * time.Minute), // pairs share a start time
			WorkflowID: "task-type/http_call", WorkflowRunID: uuid.NewString()}
		var err error
		if i%5 == 0 {
			_, err = s.store.Runs.RecordSkipped(ctx, r)
		} else {
			err = s.store.Runs.RecordStart(ctx, r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	var all []runView
	path := "/api/v1/runs?limit=50"
	pages := 0
	for {
		var p runPage
		s.must(http.StatusOK, "GET", path, nil, &p)
		pages++
		for _, r := range p.Items {
			if seen[r.ID] {
				t.Fatalf("run %s on two pages", r.ID)
			}
			seen[r.ID] = true
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			break
		}
		path = "/api/v1/runs?limit=50&cursor=" + p.NextCursor
	}
	if pages != 3 || len(all) != 130 {
		t.Fatalf("%d pages, %d runs", pages, len(all))
	}
	if !sort.SliceIsSorted(all, func(i, j int) bool {
		if !all[i].StartedAt.Equal(all[j].StartedAt) {
			return all[i].StartedAt.After(all[j].StartedAt)
		}
		return all[i].ID > all[j].ID
	}) {
		t.Fatal("runs are not newest first")
	}

	count := func(query string) int {
		n := 0
		path := "/api/v1/runs?limit=7&" + query
		for {
			var p runPage
			s.must(http.StatusOK, "GET", path, nil, &p)
			n += len(p.Items)
			if p.NextCursor == "" {
				return n
			}
			path = "/api/v1/runs?limit=7&" + query + "&cursor=" + p.NextCursor
		}
	}
	if n := count("task_id=" + taskB.String()); n != 44 {
		t.Fatalf("task B has %d runs, want 44", n)
	}
	if n := count("status=skipped"); n != 26 {
		t.Fatalf("%d skipped runs, want 26", n)
	}
	if n := count("status=running&task_id=" + taskA.String()); n != 69 {
		t.Fatalf("%d running runs of task A, want 69", n)
	}
	after := base.Add(30 * time.Minute).Format(time.RFC3339)
	before := base.Add(40 * time.Minute).Format(time.RFC3339)
	if n := count("started_after=" + after + "&started_before=" + before); n != 20 {
		t.Fatalf("%d runs in the window, want 20", n)
	}
	if n := count("trigger=scheduled"); n != 0 {
		t.Fatalf("%d scheduled runs, want 0", n)
	}

	for _, q := range []string{"limit=0", "limit=201", "limit=x", "status=done", "kind=nope", "trigger=cron",
		"task_id=12", "started_after=yesterday", "cursor=!!!", "cursor=eyJ4IjoxfQ", "colour=red", "limit=5&limit=6",
		"started_after=" + before + "&started_before=" + after} {
		r := s.do("GET", "/api/v1/runs?"+q, nil)
		if r.status != http.StatusBadRequest {
			t.Fatalf("?%s: status %d: %s", q, r.status, r.body)
		}
	}
	s.must(http.StatusNotFound, "GET", "/api/v1/runs/"+uuid.NewString(), nil, nil)
}

// Every route is in the OpenAPI document and every documented operation is a route.
func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	doc, err := openapi3.NewLoader().LoadFromData(server.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	routed := map[string]bool{}
	for _, r := range s.router.Routes() {
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") { // *name: the rest of the path
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		routed[r.Method+" "+path] = true
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("route %s is not in the OpenAPI document", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("the OpenAPI document lists %s, which is not a route", k)
		}
	}
	r := s.must(http.StatusOK, "GET", "/api/v1/openapi.yaml", nil, nil)
	if !strings.HasPrefix(string(r.body), "openapi: 3") {
		t.Fatalf("served document: %.40s", r.body)
	}
	var ready struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	s.must(http.StatusOK, "GET", "/readyz", nil, &ready)
	if ready.Checks["postgres"] != "ok" || ready.Checks["temporal"] != "ok" {
		t.Fatalf("readiness: %+v", ready)
	}
	s.must(http.StatusOK, "GET", "/healthz", nil, nil)
	s.must(http.StatusOK, "GET", "/api/v1/task-types", nil, nil)
}

// Every task type names the OpenAPI component that describes its config, and the document is
// served as JSON too (the console builds task forms from it): the same paths and components
// as the YAML, and the named component is there, with properties.
func TestTaskTypesDescribeTheirConfig(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	var types struct {
		Items []struct {
			Name         string `json:"name"`
			ConfigSchema string `json:"config_schema"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/task-types", nil, &types)
	var doc struct {
		Paths      map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	r := s.must(http.StatusOK, "GET", "/api/v1/openapi.json", nil, &doc)
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("content type %q", r.header.Get("Content-Type"))
	}
	yamlDoc := loadDoc(t)
	if len(doc.Paths) != yamlDoc.Paths.Len() || len(doc.Components.Schemas) != len(yamlDoc.Components.Schemas) {
		t.Fatalf("JSON document: %d paths, %d schemas; YAML: %d, %d", len(doc.Paths), len(doc.Components.Schemas), yamlDoc.Paths.Len(), len(yamlDoc.Components.Schemas))
	}
	if len(types.Items) < 10 {
		t.Fatalf("%d task types", len(types.Items))
	}
	for _, tt := range types.Items {
		sc, ok := doc.Components.Schemas[tt.ConfigSchema]
		if !ok || len(sc.Properties) == 0 {
			t.Errorf("task type %s: config_schema %q is not a component with properties", tt.Name, tt.ConfigSchema)
		}
	}
}
