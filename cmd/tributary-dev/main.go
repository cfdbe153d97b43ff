// Command tributary-dev runs the whole development stack in one process: a throwaway
// PostgreSQL cluster (unless DATABASE_URL is set), an embedded Temporal dev server with its
// Web UI and Tributary's search attributes, the migrations, the worker and the API. It prints
// the addresses, and Ctrl-C stops everything cleanly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/config"
	"github.com/tributary-io/tributary/connectors"
	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/internal/app"
	"github.com/tributary-io/tributary/internal/devstack"
	"github.com/tributary-io/tributary/internal/feedsim"
	"github.com/tributary-io/tributary/internal/nexposesim"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/schema"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasks"
	"github.com/tributary-io/tributary/tasktype"
	"github.com/tributary-io/tributary/workflows"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tributary-dev:", err)
		os.Exit(1)
	}
}

const demoTaskName = "demo: API readiness check"

func run() error {
	httpAddr := flag.String("http", "127.0.0.1:8080", "API listen address")
	frontendPort := flag.Int("temporal-port", 7233, "Temporal frontend gRPC port")
	uiPort := flag.Int("ui-port", 8233, "Temporal Web UI port")
	temporalDB := flag.String("temporal-db", "", "keep Temporal's state in this SQLite file (default: in memory)")
	demo := flag.Bool("demo", true, "create an HTTP-call task that checks the API's readiness every 30 seconds")
	scanners := flag.Bool("scanners", true, "start Qualys and Nexpose simulators and create a connector for each (findings to map and sync)")
	feedSim := flag.Bool("feeds", true, "start a simulator of the Live Update publishers (KEV, NVD, ATT&CK, OSCAL) and print the task configurations for it")
	logLevel := flag.String("log-level", "warn", "log level of the stack: debug, info, warn, error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	dbURL := os.Getenv("DATABASE_URL")
	keys, err := devKeyring(dbURL != "")
	if err != nil {
		return err
	}
	if dbURL == "" {
		fmt.Println("starting a throwaway PostgreSQL cluster …")
		pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{})
		if err != nil {
			return err
		}
		defer func() {
			if err := pg.Stop(); err != nil {
				log.Warn("stop PostgreSQL", "error", err)
			}
		}()
		dbURL = pg.URL
	}

	fmt.Println("starting the Temporal dev server and Web UI …")
	tmp, err := devstack.StartTemporal(devstack.TemporalOptions{
		FrontendPort: *frontendPort, UIPort: *uiPort, SearchAttributes: workflows.SearchAttributes,
		DatabaseFile: *temporalDB, LogLevel: "error",
	})
	if err != nil {
		return err
	}
	defer tmp.Stop()

	db, err := store.Open(ctx, dbURL, store.OpenOptions{})
	if err != nil {
		return err
	}
	defer db.Close()
	g, err := schema.Up(ctx, db)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !g.IsZero() {
		fmt.Printf("applied migrations: %s\n", strings.TrimSpace(g.Migrations.String()))
	}
	if err := secrets.Verify(ctx, keys, store.New(db).SecretChecks); err != nil {
		return err
	}

	reportingURL, dataOutLine := devDataOut(ctx, db, dbURL)
	dropDir := os.Getenv("XML_DROP_DIR")
	if dropDir == "" {
		if dropDir, err = os.MkdirTemp("", "tributary-drop-"); err != nil {
			return err
		}
		defer os.RemoveAll(dropDir)
	}
	cfg := config.Config{
		DatabaseURL: dbURL, TemporalAddress: tmp.FrontendAddr, TemporalNamespace: tmp.Namespace,
		TaskQueue: config.DefaultTaskQueue, TemporalUIURL: tmp.UIURL, HTTPAddr: *httpAddr,
		HeartbeatTimeout: 30 * time.Second, LogLevel: level, Keyring: keys, XMLDropDir: dropDir,
		ReportingDatabaseURL: reportingURL,
	}
	c, err := app.DialTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer c.Close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	apiUp := make(chan string, 1)
	wg.Add(2)
	go func() {
		defer wg.Done()
		errc <- app.RunWorker(runCtx, cfg, log, db, c)
	}()
	go func() {
		defer wg.Done()
		errc <- app.ServeAPI(runCtx, cfg, log, db, c, func(addr string) { apiUp <- addr })
	}()

	var apiAddr string
	select {
	case apiAddr = <-apiUp:
	case err := <-errc:
		cancel()
		wg.Wait()
		return err
	}
	token, _, err := auth.NewTokens(store.New(db)).Create(runCtx, auth.CreateOptions{Name: "tributary-dev admin", Role: auth.Admin}, "tributary-dev")
	if err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("create the development admin token: %w", err)
	}
	demoLine := "off (-demo=false)"
	if *demo {
		if demoLine, err = ensureDemoTask(runCtx, cfg, db, c, apiAddr); err != nil {
			log.Warn("demo task not created", "error", err)
			demoLine = "not created: " + err.Error()
		}
	}
	scannerLines := "off (-scanners=false)"
	if *scanners {
		qs := qualyssim.New(qualyssim.Options{Seed: 1, AssetGroups: 3, HostsPerGroup: 40, DetectionsPerHost: 6})
		defer qs.Close()
		ns := nexposesim.New(nexposesim.Options{Seed: 1, Sites: 2, AssetsPerSite: 20, VulnsPerAsset: 5})
		defer ns.Close()
		if scannerLines, err = ensureDemoConnectors(runCtx, cfg, db, c, qs.URL, ns.URL); err != nil {
			log.Warn("demo connectors not created", "error", err)
			scannerLines = "not created: " + err.Error()
		}
	}
	feedsLine := "off (-feeds=false)"
	if *feedSim {
		fs := feedsim.New(feedsim.Options{Seed: 1, CVEs: 5000, Named: devNamedCVEs(), Window: 30 * time.Second})
		srv := httptest.NewServer(fs)
		defer srv.Close()
		feedsLine = devFeedsLine(srv.URL)
	}
	fmt.Printf(`
Tributary development stack is up.

  Console       http://%s/console/   (sign in with the admin token below)
  API           http://%s/api/v1   (OpenAPI: http://%s/api/v1/openapi.yaml, metrics: http://%s/metrics)
  Temporal UI   %s/namespaces/%s/workflows
  Temporal      %s  namespace %s, task queue %s
  Postgres      %s
  Demo task     %s
  Scanners      %s
  Content feeds %s
  XML drop dir  %s   (drop_glob of the XML import tasks is relative to it)
  Data out      %s
  Admin token   %s

  Try: curl -H 'Authorization: Bearer %s' http://%s/api/v1/runs

Press Ctrl-C to stop.
`, apiAddr, apiAddr, apiAddr, apiAddr, tmp.UIURL, tmp.Namespace, tmp.FrontendAddr, tmp.Namespace, cfg.TaskQueue, dbURL, demoLine, scannerLines, feedsLine, dropDir, dataOutLine, token, token, apiAddr)

	var firstErr error
	select {
	case <-ctx.Done():
		fmt.Println("\nstopping …")
	case firstErr = <-errc:
	}
	cancel()
	wg.Wait()
	return firstErr
}

// devKeyring reads TRIBUTARY_SECRET_KEYS, or, for a throwaway database, makes a random key.
func devKeyring(persistentDB bool) (*secrets.Keyring, error) {
	if spec := os.Getenv("TRIBUTARY_SECRET_KEYS"); spec != "" {
		return secrets.ParseKeyring(spec, os.Getenv("TRIBUTARY_SECRET_KEY_ID"))
	}
	if persistentDB {
		return nil, errors.New("with DATABASE_URL set, also set TRIBUTARY_SECRET_KEYS (id:base64key, e.g. dev:$(openssl rand -base64 32)) so that stored secrets stay readable")
	}
	k, _, err := secrets.NewRandomKeyring("dev")
	return k, err
}

// ensureDemoTask creates, once, an HTTP-call task that checks the API's readiness every 30
// seconds, and starts one run of it right away so that the Temporal UI shows a run at once.
func ensureDemoTask(ctx context.Context, cfg config.Config, db *bun.DB, c client.Client, apiAddr string) (string, error) {
	s := store.New(db)
	d, err := app.Dispatcher(cfg, c, s)
	if err != nil {
		return "", err
	}
	svc := tasks.New(s, d, cfg.Keyring)
	existing, err := svc.List(ctx, store.TaskFilter{Type: tasktype.HTTPCall})
	if err != nil {
		return "", err
	}
	for _, t := range existing {
		if t.Name == demoTaskName {
			return fmt.Sprintf("%q (%s), already configured", t.Name, t.Schedule), nil
		}
	}
	enabled := true
	t, err := svc.Create(ctx, tasks.Spec{
		Type: tasktype.HTTPCall, Name: demoTaskName, Enabled: &enabled, Schedule: "@every 30s",
		Description: "Created by tributary-dev: calls the API's readiness endpoint.",
		Config:      json.RawMessage(fmt.Sprintf(`{"url": "http://%s/readyz", "method": "GET"}`, apiAddr)),
	})
	if err != nil {
		return "", err
	}
	if _, err := svc.Trigger(ctx, t.ID, "tributary-dev", tasks.TriggerOptions{Trigger: store.TriggerManual}); err != nil {
		return "", err
	}
	return fmt.Sprintf("%q every 30s (task %s)", t.Name, t.ID), nil
}

// ensureDemoConnectors creates a connector for each simulator (their URLs change with every
// start, so existing demo connectors are pointed at the new ones) and starts a Discover of each.
func ensureDemoConnectors(ctx context.Context, cfg config.Config, db *bun.DB, c client.Client, qualysURL, nexposeURL string) (string, error) {
	s := store.New(db)
	d, err := app.Dispatcher(cfg, c, s)
	if err != nil {
		return "", err
	}
	svc := connectors.New(s, d, cfg.Keyring)
	existing, err := svc.List(ctx)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, demo := range []struct{ tool, name, url string }{
		{connectortype.Qualys, "Qualys simulator", qualysURL}, {connectortype.Nexpose, "Nexpose simulator", nexposeURL},
	} {
		spec := connectors.Spec{ToolType: demo.tool, Name: demo.name, BaseURL: demo.url,
			Description: "Created by tributary-dev against an in-process simulator.",
			Config:      json.RawMessage(`{"username": "sim", "password": "sim-password", "allow_plaintext_http": true}`)}
		var conn *store.Connector
		for i := range existing {
			if existing[i].Name == demo.name {
				conn, err = svc.Update(ctx, existing[i].ID, spec)
			}
		}
		if conn == nil && err == nil {
			conn, err = svc.Create(ctx, spec)
		}
		if err != nil {
			return "", err
		}
		if _, err := svc.Trigger(ctx, conn.ID, workflows.OpDiscover, "tributary-dev", tasks.TriggerOptions{Trigger: store.TriggerManual}); err != nil {
			return "", err
		}
		lines = append(lines, fmt.Sprintf("%s at %s (connector %s: map its records, then POST …/connectors/%s/sync)", demo.name, demo.url, conn.ID, conn.ID))
	}
	lines = append(lines, fmt.Sprintf("move the Qualys simulator's tickets and scans: curl -u sim:sim-password -X POST '%s%s?generation=1'", qualysURL, qualyssim.ControlPath))
	return strings.Join(lines, "\n                "), nil
}

// devNamedCVEs are the CVEs of the Qualys simulator's first vulnerabilities: the feed
// simulator's NVD describes them and its KEV catalogue lists the first three, so that the
// findings of the demo connector show scores and known exploitation.
func devNamedCVEs() []string {
	var out []string
	for j := 0; j < 20; j++ {
		out = append(out, fmt.Sprintf("CVE-2025-%d", qualyssim.QID(j)))
	}
	return out
}

// devFeedsLine tells how to add the four Live Update feeds against the simulator at url.
func devFeedsLine(url string) string {
	lines := []string{"simulated publishers at " + url + "; add a feed with POST /api/v1/tasks, e.g."}
	for _, f := range []struct{ source, path, extra string }{
		{"kev", feedsim.KEVPath, ""},
		{"nvd", feedsim.NVDPath, ""},
		{"attack", feedsim.ATTACKIndexPath, `, "collection": "Enterprise ATT&CK"`},
		{"oscal", feedsim.OSCALPath, `, "checksum_url": "` + url + feedsim.OSCALChecksumPath + `"`},
	} {
		lines = append(lines, fmt.Sprintf(`{"type": "live_update", "name": "%s", "config": {"source": "%s", "url": "%s%s", "allow_plaintext_http": true%s}}`,
			strings.ToUpper(f.source), f.source, url, f.path, f.extra))
	}
	return strings.Join(lines, "\n                ")
}

// devDataOut gives the reporting role a login (REPORTING_DATABASE_URL, unless set) and creates
// a second database on the same server for the data-out tasks to write to. It returns the
// reporting URL and the line the banner shows.
func devDataOut(ctx context.Context, db *bun.DB, dbURL string) (string, string) {
	if u := os.Getenv("REPORTING_DATABASE_URL"); u != "" {
		return u, "reporting role from REPORTING_DATABASE_URL"
	}
	pw := strings.ReplaceAll(uuid.NewString(), "-", "")
	if _, err := db.ExecContext(ctx, "ALTER ROLE tributary_reporting LOGIN PASSWORD '"+pw+"'"); err != nil {
		return "", "off: the reporting role cannot be given a login here (" + err.Error() + "); set REPORTING_DATABASE_URL"
	}
	ru, err := url.Parse(dbURL)
	if err != nil {
		return "", "off: " + err.Error()
	}
	target := *ru
	ru.User = url.UserPassword("tributary_reporting", pw)
	line := "saved queries run as tributary_reporting"
	var exists bool
	_ = db.NewRaw("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'tributary_dashboards')").Scan(ctx, &exists)
	if !exists {
		if _, err := db.ExecContext(ctx, "CREATE DATABASE tributary_dashboards"); err != nil {
			return ru.String(), line + "; no second database (" + err.Error() + ")"
		}
	}
	target.Path = "/tributary_dashboards"
	port := target.Port()
	if port == "" {
		port = "5432"
	}
	pwd, _ := target.User.Password()
	return ru.String(), fmt.Sprintf(`%s; a second database to export to: psql '%s'
                connection: {"name": "dashboards", "type": "postgres", "host": "%s", "port": %s, "database": "tributary_dashboards", "username": "%s", "password": "%s", "tls_mode": "disable"}`,
		line, target.String(), target.Hostname(), port, target.User.Username(), pwd)
}
