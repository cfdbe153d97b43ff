package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/slapdtest"
)

// Every secret the tests configure — a secret HTTP header, the Qualys connector's and
// scanner tasks' passwords, an LDAP bind password, a database connection's password, an XML
// URL's bearer token, an NVD API key, API tokens — is used by real runs, and then searched for
// everywhere a run leaves something: the Temporal history of every workflow in the namespace
// (payloads in their binary form as well as JSON), the API's and the workers' logs at debug
// level, every API response the test received, and every row of every table in the database
// (as text). None may appear. The scan proves it can see: identifiers that must be there (a
// run ID in the history, the task's name in the database and a response) are found.
func TestSecretsLeaveNoTrace(t *testing.T) {
	secrets := map[string]string{
		"http header":        "hdr-Secret-8841",
		"qualys connector":   "qc-Secret-2290",
		"qualys scanner":     "qs-Secret-7312",
		"ldap bind":          slapdtest.ReaderPW,
		"db connection":      "db-Secret-5127",
		"xml url token":      "xml-Secret-6623",
		"nvd api key":        "nvd-Secret-9051",
		"qualys remediation": "qs-Secret-7312",
	}
	qs := qualyssim.New(qualyssim.Options{Seed: 4, AssetGroups: 2, HostsPerGroup: 3, DetectionsPerHost: 2, Username: "api-user", Password: secrets["qualys scanner"]})
	defer qs.Close()
	qc := qualyssim.New(qualyssim.Options{Seed: 5, AssetGroups: 1, HostsPerGroup: 3, DetectionsPerHost: 2, Username: "api-user", Password: secrets["qualys connector"]})
	defer qc.Close()
	ldap := slapdtest.Start(t, slapdtest.Options{LDIF: slapdtest.WriteDirectory(slapdtest.DirectorySpec{Users: 5, Groups: 2, Computers: 2})})
	s := newStack(t, stackOptions{})
	admin := s.newToken("secret scan admin", auth.Admin)
	secrets["api token"] = admin
	secrets["stack api token"] = s.token

	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		if r.Header.Get("X-Api-Key") != secrets["http header"] {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})
	xmlSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secrets["xml url token"] {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write(xmlFixture(t, "nexpose_export_2.xml"))
	}))
	defer xmlSrv.Close()

	run := func(typ, name string, cfg map[string]any) {
		t.Helper()
		var task taskView
		s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": typ, "name": name, "config": cfg, "max_attempts": 1}, &task)
		var tr triggered
		s.must(http.StatusAccepted, "POST", "/api/v1/tasks/"+task.ID+"/runs", nil, &tr)
		if r := s.waitRun(tr.RunID, 2*time.Minute); r.Status != "succeeded" {
			t.Fatalf("%s: %+v", name, r)
		}
		s.must(http.StatusOK, "GET", "/api/v1/tasks/"+task.ID, nil, nil)
		s.must(http.StatusOK, "GET", "/api/v1/runs/"+tr.RunID, nil, nil)
	}
	run("http_call", "secret header call", map[string]any{"url": tg.srv.URL, "headers": []map[string]any{{"name": "X-Api-Key", "value": secrets["http header"], "secret": true}}})
	run("qualys_assets", "scanner assets", map[string]any{"base_url": qs.URL, "username": "api-user", "password": secrets["qualys scanner"], "allow_plaintext_http": true})
	run("qualys_vulnerabilities", "scanner vulns", map[string]any{"base_url": qs.URL, "username": "api-user", "password": secrets["qualys scanner"], "allow_plaintext_http": true})
	run("qualys_remediation", "remediation", map[string]any{"base_url": qs.URL, "username": "api-user", "password": secrets["qualys remediation"], "allow_plaintext_http": true})
	run("ldap_import", "directory", map[string]any{"preset": "openldap", "urls": []string{ldap.URL}, "base_dn": slapdtest.Suffix, "bind_dn": slapdtest.ReaderDN,
		"bind_password": secrets["ldap bind"], "allow_plaintext_bind": true})
	run("xml_assets", "xml by url", map[string]any{"url": xmlSrv.URL + "/export.xml", "url_token": secrets["xml url token"], "allow_plaintext_http": true,
		"preset": "nexpose_xml_2_assets"})

	// A connector: create, test, discover, map, sync.
	var conn connectorView
	s.must(http.StatusCreated, "POST", "/api/v1/connectors", map[string]any{"tool_type": "qualys", "name": "secret connector", "base_url": qc.URL,
		"config": map[string]any{"username": "api-user", "password": secrets["qualys connector"], "allow_plaintext_http": true}}, &conn)
	base := "/api/v1/connectors/" + conn.ID
	s.must(http.StatusOK, "POST", base+"/test-connection", nil, nil)
	var tr triggered
	s.must(http.StatusAccepted, "POST", base+"/discover", nil, &tr)
	s.waitRun(tr.RunID, time.Minute)
	var recs struct {
		Items []recordView `json:"items"`
	}
	s.must(http.StatusOK, "GET", base+"/records", nil, &recs)
	for _, r := range recs.Items {
		s.must(http.StatusOK, "POST", base+"/records/"+r.ID+"/map", map[string]any{"product_name": r.Name}, nil)
	}
	s.must(http.StatusAccepted, "POST", base+"/sync", nil, &tr)
	if r := s.waitRun(tr.RunID, time.Minute); r.Status != "succeeded" {
		t.Fatalf("sync: %+v", r)
	}
	syncRunID := tr.RunID

	// A database connection (its test uses the password) and an NVD task with an API key.
	var dbc struct {
		ID string `json:"id"`
	}
	s.must(http.StatusCreated, "POST", "/api/v1/db-connections", map[string]any{"name": "warehouse", "type": "mysql", "host": "127.0.0.1", "port": 9,
		"database": "x", "username": "u", "password": secrets["db connection"], "tls_mode": "disable"}, &dbc)
	s.must(http.StatusOK, "POST", "/api/v1/db-connections/"+dbc.ID+"/test", nil, nil)
	s.must(http.StatusCreated, "POST", "/api/v1/tasks", map[string]any{"type": "live_update", "name": "nvd", "config": map[string]any{"source": "nvd", "api_key": secrets["nvd api key"]}}, nil)
	s.must(http.StatusOK, "GET", "/api/v1/tasks", nil, nil)
	s.must(http.StatusOK, "GET", "/api/v1/connectors", nil, nil)
	s.must(http.StatusOK, "GET", "/api/v1/db-connections", nil, nil)
	s.must(http.StatusOK, "GET", "/api/v1/audit?limit=200", nil, nil)

	// Everything a run leaves.
	places := map[string]string{
		"API log":       s.apiLog.String(),
		"worker log":    s.workerLog.String(),
		"API responses": s.responses.String(),
		"database":      databaseText(t, s),
	}
	history := temporalHistories(t, s)
	places["Temporal history"] = history
	for what, must := range map[string]string{"Temporal history": syncRunID, "database": "secret header call", "API responses": "secret connector"} {
		if !strings.Contains(places[what], must) {
			t.Fatalf("the scan of the %s does not find %q: it could not find a secret either", what, must)
		}
	}
	for name, secret := range secrets {
		for where, text := range places {
			if strings.Contains(text, secret) {
				i := strings.Index(text, secret)
				t.Errorf("the %s secret is in the %s: …%s…", name, where, text[max(0, i-120):min(len(text), i+len(secret)+40)])
			}
		}
	}
	t.Logf("| 7 task types and a connector, run | secrets scan | %d secrets | none found | %d bytes of Temporal history, %d of debug logs, %d of API responses, %d of database rows |", len(secrets),
		len(history), len(places["API log"])+len(places["worker log"]), len(places["API responses"]), len(places["database"]))
}

// databaseText is every row of every table of the stack's database, as text.
func databaseText(t *testing.T, s *stack) string {
	t.Helper()
	ctx := context.Background()
	var tables []string
	if err := s.store.DB.NewRaw(`SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables
		WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`).Scan(ctx, &tables); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, table := range tables {
		var rows []string
		if err := s.store.DB.NewRaw("SELECT t::text FROM "+table+" t").Scan(ctx, &rows); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
		b.WriteString(table + "\n" + strings.Join(rows, "\n") + "\n")
	}
	return b.String()
}

// temporalHistories is every event of every workflow execution of the namespace, as JSON and
// in binary form (where payloads are as the SDK wrote them).
func temporalHistories(t *testing.T, s *stack) string {
	t.Helper()
	ctx := ctxTimeout(t, time.Minute)
	var b strings.Builder
	var token []byte
	for {
		resp, err := s.client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: s.temporal.GetDefaultNamespace(), NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.GetExecutions() {
			eachHistoryEvent(t, s, ctx, ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId(), func(_ *historypb.HistoryEvent, text string) {
				b.WriteString(text)
				b.WriteByte('\n')
			})
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return b.String()
		}
	}
}
