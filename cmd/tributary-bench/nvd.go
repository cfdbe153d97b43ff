package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/feeds"
	"github.com/tributary-io/tributary/internal/feedsim"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// benchNVD measures the Live Update Service's NVD source through the simulated CVE API 2.0
// (pages of 2,000, no throttling): a first load of -cves CVEs, then a daily delta of -delta
// modified CVEs, each run in a child process (wall time, peak RSS, peak heap), next to the
// floor: a child that pages through the same answers and decodes them with the same parser,
// storing nothing, in the same run. Peak RSS should stay flat: pages are staged as they come.
func benchNVD(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("nvd", flag.ContinueOnError)
	n := fs.Int("cves", 300_000, "CVEs the NVD holds")
	delta := fs.Int("delta", 2_000, "CVEs modified for the delta")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dbURL, db, closeDB, err := database(ctx, 8)
	if err != nil {
		return err
	}
	defer closeDB()
	st := store.New(db)
	keys, keySpec, err := secrets.NewRandomKeyring("bench")
	if err != nil {
		return err
	}
	sim := feedsim.New(feedsim.Options{Seed: 1, CVEs: *n, Limit: 1 << 30, KeyLimit: 1 << 30, Window: time.Second})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	api := "http://" + ln.Addr().String() + feedsim.NVDPath
	task, err := storeTask(ctx, st, keys, tasktype.LiveUpdate, map[string]any{"source": "nvd", "url": api, "allow_plaintext_http": true,
		"requests_per_window": 1000, "window_seconds": 1})
	if err != nil {
		return err
	}
	fmt.Printf("Live Update Service, NVD CVE API 2.0 through the simulator (pages of 2,000), DATABASE %s\n\n", redactDSN(dbURL))
	fmt.Printf("%-58s %10s %10s %10s %8s\n", "", "wall", "peak RSS", "peak heap", "ratio")
	step := func(title, since string) error {
		floor, floorWall, floorRSS, err := runChild(ctx, "nvd-decode", dbURL, keySpec, api+"|"+since)
		if err != nil {
			return err
		}
		fmt.Printf("%s\n%-58s %10s %10s %10s\n", title, fmt.Sprintf("  floor: page and decode, nothing stored (%d CVEs, %d pages)", floor.Counts["cves"], floor.Counts["pages"]),
			ms(floorWall), mib(floorRSS), mib(floor.PeakHeap))
		res, wall, rss, err := runChild(ctx, "nvd-run", dbURL, keySpec, task.ID.String())
		if err != nil {
			return err
		}
		fmt.Printf("%-58s %10s %10s %10s %7.2fx\n", "  live update (page, stage, diff, apply)", ms(wall), mib(rss), mib(res.PeakHeap), float64(wall)/float64(floorWall))
		fmt.Printf("    counts %v, phases (ms) %v\n", res.Counts, res.PhaseMS)
		return nil
	}
	if err := step(fmt.Sprintf("first load, %d CVEs", *n), ""); err != nil {
		return err
	}
	cur, err := st.CurrentContent(ctx, "nvd")
	if err != nil {
		return err
	}
	// A day's changes: delta CVEs spread over the catalogue, modified after the watermark.
	at := time.Now()
	for i := 0; i < *delta; i++ {
		sim.Modify(i*(*n / *delta), 1, at, false)
	}
	return step(fmt.Sprintf("daily delta, %d CVEs modified", *delta), cur.Watermark.Format(time.RFC3339Nano))
}

// nvdRunChild runs the NVD live update task in this process: the child of benchNVD.
func nvdRunChild(ctx context.Context, args []string) error {
	return taskRunChild(ctx, "nvd-run", args, func(st *store.Store, keys *secrets.Keyring, _ *store.Task) (any, any) {
		acts := &activities.LiveUpdates{Store: st, Keyring: keys}
		return acts, acts.UpdateContent
	})
}

// nvdDecodeChild pages through the API as the task does and decodes every page, storing
// nothing: the floor of benchNVD. Its argument is "URL|SINCE" (SINCE empty: everything).
func nvdDecodeChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: tributary-bench nvd-decode 'URL|SINCE' OUT.json")
	}
	base, since, _ := strings.Cut(args[0], "|")
	stop := sampleHeap()
	start := time.Now()
	var cves, pages int64
	for idx := 0; ; {
		q := url.Values{"startIndex": {strconv.Itoa(idx)}, "resultsPerPage": {"2000"}}
		if since != "" {
			from, err := time.Parse(time.RFC3339Nano, since)
			if err != nil {
				return err
			}
			const iso = "2006-01-02T15:04:05.000-07:00"
			q.Set("lastModStartDate", from.UTC().Format(iso))
			q.Set("lastModEndDate", minTime(from.Add(activities.NVDMaxWindow), time.Now()).UTC().Format(iso))
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"?"+q.Encode(), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		p, err := feeds.ParseNVD(resp.Body, func(feeds.NVDCVE) error { cves++; return nil })
		resp.Body.Close()
		if err != nil {
			return err
		}
		pages++
		if idx += p.Count; idx >= p.TotalResults || p.Count == 0 {
			break
		}
	}
	elapsed := time.Since(start)
	peak, _ := stop()
	b, _ := json.Marshal(childResult{Counts: map[string]int64{"cves": cves, "pages": pages}, ActivityNS: elapsed.Nanoseconds(), PeakHeap: int64(peak)})
	return os.WriteFile(args[1], b, 0o600)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
