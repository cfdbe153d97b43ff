package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/internal/qualyssim"
)

// browser starts a headless Debian Chromium for the test (scripts/test installs it); the
// flags keep it from reaching for Google's services, which this network refuses.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed (scripts/test installs Debian's chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1366, 860))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	ctx, cancelT := context.WithTimeout(ctx, 6*time.Minute)
	t.Cleanup(cancelT)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// screenshot saves the page as name.png: into docs/console when UPDATE_SCREENSHOTS is set
// (the README shows them), else into the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := t.TempDir()
	if os.Getenv("UPDATE_SCREENSHOTS") != "" {
		dir = filepath.Join("..", "docs", "console")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Every page photographed is also checked for values the script failed to render.
	junk, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector("main").innerText.match(/\b(null|undefined|NaN)\b|\[object Object\]/) || [""])[0]`))
	if err != nil || junk != "" {
		t.Fatalf("the %s page shows %q (%v)", name, junk, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// In a real headless Chromium: a wrong token is refused next to its field; an operator signs
// in, sees the overview, runs a task from the tasks page and watches its run finish on the run
// page without reloading it, then finds it in the run history; a change the page sends without
// the CSRF token is refused; a viewer sees no Run now buttons.
func TestConsoleInBrowser(t *testing.T) {
	s := newStack(t, stackOptions{})
	tg := newTarget(t, func(w http.ResponseWriter, _ *http.Request, call int64) {
		if call == 1 {
			time.Sleep(3 * time.Second) // long enough to be seen running
		}
		w.WriteHeader(http.StatusOK)
	})
	s.createHTTPTask("Nightly asset export — a deliberately long task name that must wrap and not break the table layout", tg.srv.URL, map[string]any{"schedule": "0 2 * * *"})
	task := s.createHTTPTask("browser-task", tg.srv.URL, nil)
	s.runTask(s.createHTTPTask("failing-task", "http://127.0.0.1:9/unreachable", nil), "failed")
	op := s.newToken("Olivia Operator", auth.Operator)
	viewer := s.newToken("Victor Viewer", auth.Viewer)
	admin := s.newToken("Ada Admin", auth.Admin)

	b := newBrowserPage(t, s)
	ctx, do, open, click, signIn := b.ctx, b.do, b.open, b.click, b.signIn
	text := b.text

	// A wrong token: refused, with the reason next to the field.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(s.api.URL+"/console/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "trb_not-a-real-token"),
		chromedp.Click(chromedp.CSS("#signin")),
	); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#token-error", "not valid")
	screenshot(t, ctx, "sign-in")

	signIn(op, "Olivia Operator (operator)")
	if who := text("#who"); !strings.Contains(who, "Olivia Operator (operator)") {
		t.Fatalf("signed in as %q", who)
	}
	waitText(t, ctx, "#failed-24h", "1")

	// Run a task from the tasks page; the run page follows the run to its end by itself.
	row := `tr[data-task="browser-task"] button.run-now`
	open("#/tasks", row, "Run now")
	screenshot(t, ctx, "tasks")
	click(row)
	waitText(t, ctx, "#run-status", "")
	waitText(t, ctx, "#progress", "activity")
	screenshot(t, ctx, "run-running")
	waitText(t, ctx, "#run-status", "succeeded")
	if loc, err := chromedp.Run(ctx, chromedp.Location()); err != nil || !strings.Contains(loc, "#/runs/") {
		t.Fatalf("after run now the page is %s (%v)", loc, err)
	}
	screenshot(t, ctx, "run")
	// A second click while a run of the type is in progress would be a 409; here the run is
	// over, and the run history lists it.
	open("#/runs?task_id="+task.ID, "table", "succeeded")
	open("#/runs", "table", "failing-task")
	screenshot(t, ctx, "runs")

	// An admin does the whole connector flow in the browser: creates a connector against the
	// Qualys simulator (a missing username is shown next to its field), discovers, maps a
	// record to a product, syncs, and reads the record's findings.
	sim := qualyssim.New(qualyssim.Options{Seed: 5, AssetGroups: 2, HostsPerGroup: 2, DetectionsPerHost: 2})
	defer sim.Close()
	click("#signout")
	waitText(t, ctx, "#token", "")
	signIn(admin, "Ada Admin (admin)")
	open("#/connectors", "#new-connector", "New connector")
	click("#new-connector")
	waitText(t, ctx, "#save", "Create connector")
	do(chromedp.SendKeys(chromedp.CSS("#f-name"), "Qualys EU"), chromedp.SendKeys(chromedp.CSS("#f-base_url"), sim.URL),
		chromedp.SendKeys(chromedp.CSS("#f-config-password"), "sim-password"), chromedp.Click(chromedp.CSS(`input[name="config.allow_plaintext_http"]`)))
	click("#save")
	b.fieldError("config.username")
	screenshot(t, ctx, "connector-form-error")
	do(chromedp.SendKeys(chromedp.CSS("#f-config-username"), "sim"))
	click("#save")
	waitText(t, ctx, "h1", "Qualys EU")
	connectorPage, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash`))
	if err != nil {
		t.Fatal(err)
	}
	click("button.discover")
	waitText(t, ctx, "#run-status", "succeeded")
	open(connectorPage, "#records", "unmapped")
	screenshot(t, ctx, "connector-records")
	click("#records tbody tr:first-child button.map")
	waitText(t, ctx, "#records tbody tr:first-child button.unmap", "Unmap")
	click("button.sync")
	waitText(t, ctx, "#run-status", "succeeded")
	waitText(t, ctx, "main", "connector_sync")
	open(connectorPage, "#records", "succeeded")
	screenshot(t, ctx, "connector")
	click(`#records a[href^="#/findings"]`)
	waitText(t, ctx, "#findings", "First seen")
	rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#findings tbody tr").length`))
	if err != nil || rows == 0 {
		t.Fatalf("the mapped record's findings page lists %d findings (%v)", rows, err)
	}
	screenshot(t, ctx, "findings")
	click("#findings tbody tr:first-child a")
	waitText(t, ctx, "#finding-history", "created")
	screenshot(t, ctx, "finding")
	// The overview's chart now shows the open findings of today.
	open("#/", "#severity-chart figcaption", "Critical")
	chartBars, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#severity-chart rect").length`))
	if err != nil || chartBars == 0 {
		t.Fatalf("the severity chart draws %d bars (%v)", chartBars, err)
	}
	screenshot(t, ctx, "overview")

	// The connectors list shows each one's health; the admin edits the connector (its
	// password, not shown, is kept) and deletes it.
	open("#/connectors", `tr[data-connector="Qualys EU"] .last-sync`, "succeeded")
	waitText(t, ctx, `tr[data-connector="Qualys EU"] .last-discover`, "succeeded")
	screenshot(t, ctx, "connectors")
	open(connectorPage, "#edit-connector", "Edit")
	click("#edit-connector")
	waitText(t, ctx, "#save", "Save")
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS("#f-config-password"))); err != nil || v != "" {
		t.Fatalf("the password in the edit form: %q (%v)", v, err)
	}
	do(chromedp.SetValue(chromedp.CSS("#f-sync_schedule"), "30 7 * * *"))
	click("#save")
	waitText(t, ctx, "main dl", "sync 30 7 * * *")
	click("#test-connection")
	waitText(t, ctx, "#toast", "Connection works")
	b.acceptConfirm()
	click("#delete-connector")
	waitText(t, ctx, "h1", "Connectors")
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('tr[data-connector="Qualys EU"]').length`)); err != nil || n != 0 {
		t.Fatalf("the deleted connector is listed %d times (%v)", n, err)
	}

	// The page's own script sends changes with the CSRF token; without it they are refused.
	status, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch("/api/v1/tasks/`+task.ID+`/runs", {method: "POST", credentials: "same-origin"}).then(r => r.status)`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusForbidden {
		t.Fatalf("a change without the CSRF token answered %d", status)
	}

	// A viewer sees the tasks but no button to run them.
	click("#signout")
	waitText(t, ctx, "#token", "")
	signIn(viewer, "Victor Viewer (viewer)")
	open("#/tasks", `tr[data-task="browser-task"]`, "browser-task")
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("button.run-now").length`))
	if err != nil {
		t.Fatal(err)
	}
	if buttons != 0 {
		t.Fatalf("a viewer sees %d Run now buttons", buttons)
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("header nav a.admin:not([hidden])").length`)); err != nil || n != 0 {
		t.Fatalf("a viewer sees %d admin links (%v)", n, err)
	}
}

// browserPage drives the console in a headless Chromium for one test.
type browserPage struct {
	t   *testing.T
	ctx context.Context
	s   *stack
}

func newBrowserPage(t *testing.T, s *stack) *browserPage {
	return &browserPage{t: t, ctx: browser(t), s: s}
}

// text waits for sel and returns its text.
func (b *browserPage) text(sel string) string {
	b.t.Helper()
	waitText(b.t, b.ctx, sel, "")
	out, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("%s: %v", sel, err)
	}
	return out
}

// visit changes the page's hash, as a click on a link does (a Navigate to the same document
// with another hash would wait for a load that never comes).
func (b *browserPage) visit(hash string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[string](`location.hash = `+strconv.Quote(hash))(ctx, tg)
		return err
	})
}

func (b *browserPage) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

// open goes to a page and waits until sel shows want.
func (b *browserPage) open(hash, sel, want string) {
	b.t.Helper()
	b.do(b.visit(hash))
	waitText(b.t, b.ctx, sel, want)
}

// click clicks sel; a page that re-renders between finding the node and clicking it gets
// another try.
func (b *browserPage) click(sel string) {
	b.t.Helper()
	var err error
	for range 3 {
		if err = chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel))); err == nil || !strings.Contains(err.Error(), "Could not find node") {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

// signIn signs in with token from the sign-in page (the first time, the console's address).
func (b *browserPage) signIn(token string, name string) {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	if !strings.HasPrefix(loc, b.s.api.URL+"/console/") {
		b.do(chromedp.Navigate(b.s.api.URL + "/console/#/login"))
	} else {
		b.do(b.visit("#/login"))
	}
	waitText(b.t, b.ctx, "#signin", "Sign in")
	b.do(chromedp.SetValue(chromedp.CSS("#token"), token), chromedp.Click(chromedp.CSS("#signin")))
	waitText(b.t, b.ctx, "#who", name)
	waitText(b.t, b.ctx, "h1", "Overview")
}

// acceptConfirm answers yes to the page's next confirm() questions.
func (b *browserPage) acceptConfirm() {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)(ctx, tg)
		return err
	}))
}

// waitText waits until the element sel contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		n, err := chromedp.Run(try, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err == nil && n > 0 {
			if got, err = chromedp.Run(try, chromedp.Text(chromedp.CSS(sel))); err == nil && strings.Contains(got, want) {
				cancel()
				return
			}
		}
		cancel()
		time.Sleep(200 * time.Millisecond)
	}
	page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.hash + " | " + document.body.innerText`))
	t.Fatalf("%s says %q, want %q; the page: %.1500s", sel, got, want, page)
}
