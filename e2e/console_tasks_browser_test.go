package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/tasktype"
)

// formStep is one thing a person does in a task form: type value into the input sel, or
// click sel when value is "click", or upload the file value when upload is set.
type formStep struct {
	sel, value string
	upload     bool
}

// taskFormCase creates a task of one type through its form.
type taskFormCase struct {
	typ     string
	first   []formStep // filled before the first Save
	errorAt string     // the field the API's error names
	fix     []formStep // what corrects it
	saved   string     // shown on the task's page afterwards
}

func set(sel, value string) formStep { return formStep{sel: sel, value: value} }
func tick(sel string) formStep       { return formStep{sel: sel, value: "click"} }

// An admin creates a task of every type through the form the console builds from the type's
// config schema: each first with a mistake the API refuses and the console shows next to the
// field it names, then corrected and saved; the task's page shows what was saved. The HTTP
// call task is then edited (its secret header kept), run from its page to success, and a
// task is deleted. A viewer sees no New task, Edit or Delete.
func TestConsoleTaskFormsInBrowser(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int64) {
		if r.Header.Get("X-Api-Key") != "header-Secret-7" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s.must(http.StatusCreated, "POST", "/api/v1/db-connections", map[string]any{"name": "warehouse", "type": "postgres", "host": "db.example.com",
		"database": "reports", "username": "tributary", "password": "db-Secret-3"}, nil)
	s.must(http.StatusCreated, "POST", "/api/v1/saved-queries", map[string]any{"name": "Assets by OS",
		"sql": "SELECT os, count(*) AS assets FROM assets GROUP BY os"}, nil)
	admin := s.newToken("Ada Admin", auth.Admin)
	viewer := s.newToken("Victor Viewer", auth.Viewer)
	nexposeXML, err := filepath.Abs(filepath.Join("..", "tasktype", "testdata", "xml", "nexpose_export_2.xml"))
	if err != nil {
		t.Fatal(err)
	}

	scanner := func(name string) ([]formStep, string, []formStep) {
		return []formStep{set("#f-name", name), set("#f-config-base_url", "https://qualysapi.qualys.eu"), set("#f-config-username", "scanner"),
				set("#f-config-password", "scan-Secret-4"), set("#f-config-groups", "12\nnot-a-group")},
			"config.groups[1]", []formStep{set("#f-config-groups", "12\n14")}
	}
	cases := []taskFormCase{
		{typ: "http_call", first: []formStep{set("#f-name", "Ping the CMDB"), set("#f-config-url", "not a url"),
			tick("#f-config-headers-add"), set("#f-config-headers-0--name", "X-Api-Key"), set("#f-config-headers-0--value", "header-Secret-7"),
			tick("#f-config-headers-0--secret")},
			errorAt: "config.url", fix: []formStep{set("#f-config-url", tg.srv.URL)}, saved: "X-Api-Key"},
		{typ: "ldap_import", first: []formStep{set("#f-name", "Corporate directory"), set("#f-config-preset", "openldap"),
			set("#f-config-base_dn", "dc=example,dc=org")},
			errorAt: "config.urls", fix: []formStep{set("#f-config-urls", "ldap://127.0.0.1:3899")}, saved: "ldap://127.0.0.1:3899"},
		{typ: "live_update", first: []formStep{set("#f-name", "KEV catalogue"), set("#f-config-source", "kev"), set("#f-config-results_per_page", "lots")},
			errorAt: "config.results_per_page", fix: []formStep{set("#f-config-results_per_page", "")}, saved: "kev"},
		{typ: "qualys_remediation", first: []formStep{set("#f-name", "Qualys tickets"), set("#f-config-base_url", "https://qualysapi.qualys.eu"),
			set("#f-config-password", "tick-Secret-5")},
			errorAt: "config.username", fix: []formStep{set("#f-config-username", "remediator")}, saved: "remediator"},
		{typ: "sql_export", first: []formStep{set("#f-name", "Export to the warehouse"), set("#f-config-connection", "warehouse")},
			errorAt: "config.exports", fix: []formStep{tick("#f-config-exports-add"), set("#f-config-exports-0--query", "Assets by OS"),
				set("#f-config-exports-0--table", "assets_by_os")}, saved: "assets_by_os"},
		{typ: "sql_script", first: []formStep{set("#f-name", "Nightly script"), set("#f-config-connection", "warehouse"),
			set("#f-config-script", "SELECT 1 AS one"), set("#f-config-tables", "bad-table-name")},
			errorAt: "config.tables[0]", fix: []formStep{set("#f-config-tables", "ones")}, saved: "SELECT 1 AS one"},
		{typ: "dashboard_service", first: []formStep{set("#f-name", "Dashboards"), set("#f-config-timeout_seconds", "0")},
			errorAt: "config.connection", fix: []formStep{set("#f-config-connection", "warehouse"), set("#f-config-timeout_seconds", "")}, saved: "warehouse"},
		{typ: "xml_assets", first: []formStep{set("#f-name", "NeXpose assets from XML"), set("#f-config-preset", "nexpose_xml_2_assets"),
			set("#f-config-max_failed_percent", "101")},
			errorAt: "config.max_failed_percent", fix: []formStep{set("#f-config-max_failed_percent", "5"),
				{sel: `input[type=file][aria-label="Upload a file for File ID"]`, value: nexposeXML, upload: true}}, saved: "nexpose_xml_2_assets"},
		{typ: "xml_events", first: []formStep{set("#f-name", "Events from XML"), set("#f-config-drop_glob", "events/*.xml"),
			set("#f-config-mapping-record", "/events/event"), set("#f-config-mapping-fields", `[{"target": "title", "xpath": "title"},`)},
			errorAt: "config.mapping.fields", fix: []formStep{set("#f-config-mapping-fields", `[{"target": "title", "xpath": "title"}, {"target": "key", "xpath": "@id"}]`)},
			saved: "/events/event"},
		{typ: "xml_vulnerabilities", first: []formStep{set("#f-name", "Vulnerabilities from XML"), set("#f-config-url", "ftp://reports.example.com/scan.xml"),
			set("#f-config-preset", "nexpose_xml_2_vulnerabilities"), set("#f-config-expire_after_days", "60"), tick("#f-config-detection_types-info")},
			errorAt: "config.url", fix: []formStep{set("#f-config-url", ""),
				{sel: `input[type=file][aria-label="Upload a file for File ID"]`, value: nexposeXML, upload: true}}, saved: "nexpose_xml_2_vulnerabilities"},
	}
	for _, typ := range []string{"qualys_assets", "qualys_vulnerabilities", "nexpose_assets", "nexpose_vulnerabilities"} {
		first, at, fix := scanner("Scanner " + typ)
		cases = append(cases, taskFormCase{typ: typ, first: first, errorAt: at, fix: fix, saved: "qualysapi.qualys.eu"})
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.typ] = true
	}
	for _, name := range tasktype.Names() {
		if !covered[name] && name != e2eProbe { // e2eProbe: the tests' own type
			t.Errorf("task type %s has no case in this test", name)
		}
	}

	b := newBrowserPage(t, s)
	b.signIn(admin, "Ada Admin (admin)")
	fill := func(steps []formStep) {
		t.Helper()
		for _, st := range steps {
			switch {
			case st.upload:
				b.do(chromedp.SetUploadFiles(chromedp.CSS(st.sel), []string{st.value}))
				waitText(t, b.ctx, ".upload .muted", filepath.Base(st.value)+" (") // "Uploaded: name (n bytes)", or "Already stored: …" the second time; not "Uploading name…"
			case st.value == "click":
				b.click(st.sel)
			case st.value == "": // SetValue cannot tell an empty value from a failure
				b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := chromedp.Evaluate[bool](`(document.querySelector(`+strconv.Quote(st.sel)+`).value = "", true)`)(ctx, tg)
					return err
				}))
			default:
				if err := chromedp.Do(b.ctx, chromedp.SetValue(chromedp.CSS(st.sel), st.value)); err != nil {
					html, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll(`+strconv.Quote(st.sel)+`)].map(e => e.outerHTML).join("\n")`))
					t.Fatalf("set %s: %v; the page has: %s", st.sel, err, html)
				}
			}
		}
	}
	ids := map[string]string{}
	for _, c := range cases {
		b.open("#/tasks", "#new-task", "New task")
		b.click("#new-task")
		b.click(`a[data-type="` + c.typ + `"]`)
		waitText(t, b.ctx, "#save", "Create task")
		fill(c.first)
		if c.errorAt != "" {
			b.click("#save")
			b.fieldError(c.errorAt)
			if c.typ == "http_call" {
				screenshot(t, b.ctx, "task-form-error")
			}
			fill(c.fix)
		}
		b.click("#save")
		waitText(t, b.ctx, "#task-config", c.saved)
		loc, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.hash`))
		if err != nil {
			t.Fatal(err)
		}
		ids[c.typ] = strings.TrimPrefix(loc, "#/tasks/")
	}
	// The stored configs hold what the forms said, and no secret is shown back.
	var httpTask struct {
		Config struct {
			URL     string `json:"url"`
			Headers []struct {
				Name, Value string
				Secret      bool
				ValueSet    bool `json:"value_set"`
			} `json:"headers"`
		} `json:"config"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/tasks/"+ids["http_call"], nil, &httpTask)
	if h := httpTask.Config.Headers; httpTask.Config.URL != tg.srv.URL || len(h) != 1 || h[0].Name != "X-Api-Key" || !h[0].Secret || !h[0].ValueSet || h[0].Value != "" {
		t.Fatalf("http task config: %+v", httpTask.Config)
	}
	var xmlTask struct {
		Config map[string]any `json:"config"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/tasks/"+ids["xml_assets"], nil, &xmlTask)
	if id, _ := xmlTask.Config["file_id"].(string); len(id) != 36 || xmlTask.Config["max_failed_percent"] != float64(5) {
		t.Fatalf("xml task config (the uploaded file's ID, 5 %%): %v", xmlTask.Config)
	}

	// Edit the HTTP call: the secret header's value is not shown and, left empty, is kept;
	// then run it from its page: the target sees the secret and the run succeeds.
	b.open("#/tasks/"+ids["http_call"], "#edit-task", "Edit")
	b.click("#edit-task")
	waitText(t, b.ctx, "#save", "Save")
	if v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS("#f-config-headers-0--value"))); err != nil || v != "" {
		t.Fatalf("the secret header's value in the edit form: %q (%v)", v, err)
	}
	b.do(chromedp.SetValue(chromedp.CSS("#f-schedule"), "0 5 * * *"))
	screenshot(t, b.ctx, "task-form")
	b.click("#save")
	waitText(t, b.ctx, "main dl", "0 5 * * *")
	b.click("button.run-now")
	waitText(t, b.ctx, "#run-status", "succeeded")
	b.open("#/tasks/"+ids["http_call"], "main", "succeeded")
	screenshot(t, b.ctx, "task")
	b.open("#/tasks", `tr[data-task="Ping the CMDB"]`, "succeeded")

	// The XML imports made in the browser run from their pages; their assets, vulnerabilities
	// and occurrences are then read in the console, and an event on an occurrence gets a
	// progress entry through its form and is closed.
	for _, typ := range []string{"xml_assets", "xml_vulnerabilities"} {
		b.open("#/tasks/"+ids[typ], "button.run-now", "Run now")
		b.click("button.run-now")
		waitText(t, b.ctx, "#run-status", "succeeded")
	}
	b.open("#/assets", "#assets", "Open occurrences")
	screenshot(t, b.ctx, "assets")
	var assets struct {
		Items []struct {
			ID   string `json:"id"`
			Open int    `json:"open_occurrences"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/assets?limit=200", nil, &assets)
	asset := ""
	for _, a := range assets.Items {
		if a.Open >= 2 {
			asset = a.ID
			break
		}
	}
	if asset == "" {
		t.Fatalf("no asset with two open occurrences: %+v", assets.Items)
	}
	b.click(`#assets a[href="#/assets/` + asset + `"]`)
	waitText(t, b.ctx, "main dl", "Identity")
	waitText(t, b.ctx, "#occurrences", "Last found")
	screenshot(t, b.ctx, "asset")
	b.open("#/vulnerabilities?severity=Critical", "#vulnerabilities", "Critical")
	b.open("#/vulnerabilities", "#vulnerabilities", "Open occurrences")
	screenshot(t, b.ctx, "vulnerabilities")
	b.click("#vulnerabilities tbody tr:first-child a")
	waitText(t, b.ctx, "#occurrences", "Last found")
	var occ struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	s.must(http.StatusOK, "GET", "/api/v1/assets/"+asset+"/occurrences?limit=2", nil, &occ)
	var ev struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	s.must(http.StatusCreated, "POST", "/api/v1/events", map[string]any{"occurrence_ids": []int64{occ.Items[0].ID, occ.Items[1].ID}, "consolidated": true,
		"title": "Patch the web tier", "responsible": "ops"}, &ev)
	b.open("#/events", "#events", "Patch the web tier")
	b.click("#events tbody tr:first-child a")
	waitText(t, b.ctx, "#event-occurrences", "Tickets")
	b.click("#progress-form #save")
	b.fieldError("text")
	b.do(chromedp.SetValue(chromedp.CSS("#f-text"), "Patches staged for the weekend"), chromedp.SetValue(chromedp.CSS("#f-progress"), "40"))
	b.click("#progress-form #save")
	waitText(t, b.ctx, "#event-progress", "Patches staged")
	waitText(t, b.ctx, "main dl", "40%")
	screenshot(t, b.ctx, "event")
	b.click("#close-event")
	waitText(t, b.ctx, "#reopen-event", "Reopen")
	waitText(t, b.ctx, "#event-history", "closed")

	// Tokens: create one (its secret shown once) and revoke it; the audit trail shows both.
	b.open("#/tokens", "#token-form", "Create token")
	b.do(chromedp.SetValue(chromedp.CSS("#f-name"), "Reporting robot"), chromedp.SetValue(chromedp.CSS("#f-role"), "viewer"))
	b.click("#token-form #save")
	waitText(t, b.ctx, "#token-secret", "trb_")
	screenshot(t, b.ctx, "tokens")
	b.acceptConfirm()
	b.click(`#tokens button.revoke[data-name="Reporting robot"]`)
	waitText(t, b.ctx, "#tokens", "Reporting robot")
	b.waitGone(`button.revoke[data-name="Reporting robot"]`)
	b.open("#/audit?actor=Ada+Admin", "#audit", "created viewer token Reporting robot")
	waitText(t, b.ctx, "#audit", "revoked token")
	screenshot(t, b.ctx, "audit")

	// Delete one (the page asks first).
	b.open("#/tasks/"+ids["dashboard_service"], "#delete-task", "Delete")
	b.acceptConfirm()
	b.click("#delete-task")
	waitText(t, b.ctx, "h1", "Integration tasks")
	if r := s.do("GET", "/api/v1/tasks/"+ids["dashboard_service"], nil); r.status != http.StatusNotFound {
		t.Fatalf("deleted task: %d", r.status)
	}

	// A viewer reads the task but has no button to change it.
	b.click("#signout")
	waitText(t, b.ctx, "#token", "")
	b.signIn(viewer, "Victor Viewer (viewer)")
	b.open("#/tasks/"+ids["http_call"], "#task-config", "X-Api-Key")
	n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#edit-task, #delete-task, #new-task, button.run-now").length`))
	if err != nil || n != 0 {
		t.Fatalf("a viewer sees %d change buttons (%v)", n, err)
	}
}

// waitGone waits until nothing on the page matches sel.
func (b *browserPage) waitGone(sel string) {
	b.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			b.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	b.t.Fatalf("%s is still on the page", sel)
}

// fieldError waits until the form shows an error naming field next to the input for it (or
// for the list or group it belongs to), and checks it is not only a message above the form.
func (b *browserPage) fieldError(field string) {
	b.t.Helper()
	waitText(b.t, b.ctx, "form .field-error", field)
	out, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("form .field-error")].map(e =>
		(e.closest(".errors") ? "above: " : "field: ") + e.textContent).join("\n")`))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "field: "+field) {
			return
		}
	}
	b.t.Fatalf("no error next to %s; the form shows:\n%s", field, out)
}
