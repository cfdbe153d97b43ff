package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/config"
	"github.com/tributary-io/tributary/internal/app"
	"github.com/tributary-io/tributary/secrets"
)

const benchTasks = 100

func benchTaskID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i%benchTasks) }

func benchRuns(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("runs", flag.ExitOnError)
	rows := fs.Int("rows", 1_000_000, "runs in the table")
	concurrency := fs.Int("c", 16, "concurrent clients")
	duration := fs.Duration("d", 10*time.Second, "load duration per endpoint")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the listing's load phase (server and load generator) to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dbURL, db, closeDB, err := database(ctx, *concurrency+4)
	if err != nil {
		return err
	}
	defer closeDB()
	var have int
	if err := db.NewRaw("SELECT count(*) FROM runs").Scan(ctx, &have); err != nil {
		return err
	}
	if have != *rows {
		fmt.Printf("seeding %d runs …\n", *rows)
		t0 := time.Now()
		if _, err := db.ExecContext(ctx, "TRUNCATE runs"); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, `
INSERT INTO runs (id, kind, task_id, task_type, subject_name, trigger, status, started_at, ended_at, duration_ms,
                  workflow_id, workflow_run_id, counts)
SELECT gen_random_uuid(), 'task', ('00000000-0000-4000-8000-' || lpad((g % ?)::text, 12, '0'))::uuid, 'http_call',
       'bench task ' || (g % ?), (ARRAY['scheduled','manual','api'])[1 + g % 3],
       CASE WHEN (g / ?) % 10 = 0 THEN 'failed' WHEN (g / ?) % 17 = 0 THEN 'skipped' ELSE 'succeeded' END,
       now() - g * interval '7 seconds', now() - g * interval '7 seconds' + interval '2 seconds', 2000,
       'task-type/http_call', gen_random_uuid()::text, '{"requests": 1}'
FROM generate_series(1, ?) AS g`, benchTasks, benchTasks, benchTasks, benchTasks, *rows); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		if _, err := db.ExecContext(ctx, "ANALYZE runs"); err != nil {
			return err
		}
		fmt.Printf("seeded in %s\n", time.Since(t0).Round(time.Millisecond))
	}

	// The listing needs no Temporal: a lazy client never connects.
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		return err
	}
	keys, _, err := secrets.NewRandomKeyring("bench")
	if err != nil {
		return err
	}
	cfg := config.Config{DatabaseURL: dbURL, TemporalNamespace: "default", TaskQueue: config.DefaultTaskQueue, HTTPAddr: "127.0.0.1:0", Keyring: keys}
	srvCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- app.ServeAPI(srvCtx, cfg, quiet, db, tc, func(a string) { addrc <- a }) }()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-errc:
		return err
	}

	token, err := adminToken(ctx, db)
	if err != nil {
		return err
	}
	// Second-page cursors, so that part of the load pages on like a client does.
	cursors := make([]string, benchTasks)
	for i := range cursors {
		resp, err := authGet(ctx, token, fmt.Sprintf("%s/api/v1/runs?task_id=%s&status=succeeded&limit=50", base, benchTaskID(i)))
		if err != nil {
			return err
		}
		var page struct {
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || page.NextCursor == "" {
			return fmt.Errorf("no second page for task %d: %v", i, err)
		}
		cursors[i] = page.NextCursor
	}
	filtered := func(w, i int) string {
		n := w*7919 + i
		switch n % 4 {
		case 0:
			return fmt.Sprintf("%s/api/v1/runs?task_id=%s&status=failed&limit=50", base, benchTaskID(n))
		case 1:
			return fmt.Sprintf("%s/api/v1/runs?task_id=%s&limit=50&cursor=%s&status=succeeded", base, benchTaskID(n), cursors[n%benchTasks])
		case 2:
			return fmt.Sprintf("%s/api/v1/runs?status=skipped&trigger=scheduled&limit=50", base)
		default:
			return fmt.Sprintf("%s/api/v1/runs?task_id=%s&started_before=%s&limit=50", base, benchTaskID(n),
				time.Now().Add(-time.Duration(n%1000)*time.Hour).UTC().Format(time.RFC3339))
		}
	}
	health := func(int, int) string { return base + "/healthz" }

	fmt.Printf("\nrun-history listing: %d runs, %d concurrent clients, %s per endpoint, server and load generator on loopback\n", *rows, *concurrency, *duration)
	hLat, hEl, err := load(ctx, token, *concurrency, *duration, health)
	if err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	lLat, lEl, err := load(ctx, token, *concurrency, *duration, filtered)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	fmt.Println("each endpoint alone, under its own load:")
	fmt.Println(hLat.report("GET /healthz", hEl))
	fmt.Println(lLat.report("GET /api/v1/runs (filtered)", lEl))
	fmt.Printf("p99 ratio listing/health: %.2f\n", float64(lLat.pct(0.99))/float64(hLat.pct(0.99)))

	// Both endpoints under the same load: the clients above keep paging filtered run history
	// while one probe asks /healthz and a filtered page in turn, so that both answers wait
	// for the same busy server and database.
	fmt.Printf("\nboth endpoints under one load (%d clients listing filtered pages, one probe alternating /healthz and a filtered page every 5 ms):\n", *concurrency)
	bgErr := make(chan error, 1)
	go func() {
		_, _, err := load(ctx, token, *concurrency, *duration, filtered)
		bgErr <- err
	}()
	time.Sleep(500 * time.Millisecond) // let the load build up
	pH, pL, pEl, err := probe(ctx, token, *duration-time.Second, 5*time.Millisecond, base+"/healthz", func(i int) string { return filtered(1000, i) })
	if err != nil {
		return err
	}
	if err := <-bgErr; err != nil {
		return err
	}
	fmt.Println(pH.report("GET /healthz (probe)", pEl))
	fmt.Println(pL.report("GET /api/v1/runs (probe)", pEl))
	fmt.Printf("p99 ratio listing/health under one load: %.2f\n", float64(pL.pct(0.99))/float64(pH.pct(0.99)))
	cancel()
	return <-errc
}

// probe asks health and then listing(i), waiting every between pairs, for duration, and
// returns each one's latencies.
func probe(ctx context.Context, token string, duration, every time.Duration, health string, listing func(i int) string) (*latencies, *latencies, time.Duration, error) {
	hc := &http.Client{}
	h, l := &latencies{}, &latencies{}
	get := func(u string, into *latencies) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		t0 := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		into.add(time.Since(t0))
		return err
	}
	start := time.Now()
	for i := 0; time.Since(start) < duration && ctx.Err() == nil; i++ {
		if err := get(health, h); err != nil {
			return h, l, 0, err
		}
		if err := get(listing(i), l); err != nil {
			return h, l, 0, err
		}
		time.Sleep(every)
	}
	return h, l, time.Since(start), nil
}
