// Command tributary-bench measures the performance goals of the platform and prints its figures.
//
//	tributary-bench runs     p99 of a filtered run-history page with 1,000,000 runs, under load,
//	                         next to the p99 of /healthz measured the same way in the same run
//	tributary-bench trigger  latency from the trigger request to the activity starting, on the
//	                         development stack (embedded Temporal, worker and API)
//	tributary-bench ldap     full LDAP import from a local slapd (wall time, peak RSS) next to
//	                         ldapsearch -E pr=500/noprompt dumping the same entries, per size
//	tributary-bench reimport Qualys record sync through the simulator: 100,000 findings reimported
//	                         against 100,000 (10% new, gone, changed), next to COPY of the same
//	                         rows into an empty table; -million adds a 1,000,000-finding sync
//	tributary-bench scanner  the scanner import tasks through the Qualys simulator: an asset
//	                         import of 100,000 hosts, vulnerability imports of 100,000 and
//	                         1,000,000 occurrences, each next to COPY of the same rows
//	tributary-bench remediation  Synchronize Qualys Scanner Remediation: 100,000 tickets against
//	                         100,000 occurrences and 20,000 events, next to reading the same
//	                         tickets with the client alone
//	tributary-bench xml      Import Vulnerabilities from XML File with the NeXpose XML Export 2.0
//	                         preset on generated 20 and 200 MB exports (wall, peak RSS), next to
//	                         an encoding/xml token loop over the same file
//	tributary-bench sqlout   Export Queries to SQL Tables' engine: 100,000 and 1,000,000 rows to
//	                         PostgreSQL and MariaDB, next to COPY and LOAD DATA of the same rows
//	tributary-bench nvd      Live Update Service, NVD source, through the simulated CVE API 2.0:
//	                         a first load of 300,000 CVEs and a daily delta of 2,000, next to
//	                         paging and decoding the same answers with nothing stored
//
// Without DATABASE_URL each starts a throwaway PostgreSQL cluster.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/tributary-io/tributary/auth"
	"github.com/tributary-io/tributary/internal/devstack"
	"github.com/tributary-io/tributary/schema"
	"github.com/tributary-io/tributary/store"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tributary-bench runs|trigger|ldap|reimport|scanner|remediation|xml|sqlout|nvd [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "runs":
		err = benchRuns(ctx, os.Args[2:])
	case "trigger":
		err = benchTrigger(ctx, os.Args[2:])
	case "ldap":
		err = benchLDAP(ctx, os.Args[2:])
	case "ldap-import":
		err = ldapImportChild(ctx, os.Args[2:])
	case "reimport":
		err = benchReimport(ctx, os.Args[2:])
	case "reimport-sync":
		err = reimportSyncChild(ctx, os.Args[2:])
	case "scanner":
		err = benchScanner(ctx, os.Args[2:])
	case "scanner-run":
		err = scannerRunChild(ctx, os.Args[2:])
	case "remediation":
		err = benchRemediation(ctx, os.Args[2:])
	case "remediation-run":
		err = remediationRunChild(ctx, os.Args[2:])
	case "tickets-read":
		err = ticketsReadChild(ctx, os.Args[2:])
	case "xml":
		err = benchXML(ctx, os.Args[2:])
	case "sqlout":
		err = benchSQLOut(ctx, os.Args[2:])
	case "sqlout-run":
		err = sqloutRunChild(ctx, os.Args[2:])
	case "nvd":
		err = benchNVD(ctx, os.Args[2:])
	case "nvd-run":
		err = nvdRunChild(ctx, os.Args[2:])
	case "nvd-decode":
		err = nvdDecodeChild(ctx, os.Args[2:])
	case "xml-tokens":
		err = xmlTokensChild(ctx, os.Args[2:])
	case "xml-run":
		err = xmlRunChild(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q: use runs, trigger, ldap, reimport, scanner, remediation, xml, sqlout or nvd", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tributary-bench:", err)
		os.Exit(1)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// database opens DATABASE_URL, or a new throwaway cluster, with the schema migrated. closeDB
// closes the connection and stops the cluster.
func database(ctx context.Context, maxConns int) (url string, db *bun.DB, closeDB func(), err error) {
	url, stopPG := os.Getenv("DATABASE_URL"), func() {}
	if url == "" {
		pg, err := devstack.StartPostgres(ctx, devstack.PostgresOptions{Database: "tributary_bench"})
		if err != nil {
			return "", nil, nil, err
		}
		url, stopPG = pg.URL, func() { _ = pg.Stop() }
	}
	db, err = store.Open(ctx, url, store.OpenOptions{MaxOpenConns: maxConns})
	if err == nil {
		_, err = schema.Up(ctx, db)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		stopPG()
		return "", nil, nil, err
	}
	return url, db, func() { db.Close(); stopPG() }, nil
}

// adminToken creates an API token for the benchmark's requests.
func adminToken(ctx context.Context, db *bun.DB) (string, error) {
	secret, _, err := auth.NewTokens(store.New(db)).Create(ctx, auth.CreateOptions{Name: "tributary-bench", Role: auth.Admin}, "tributary-bench")
	return secret, err
}

// authGet sends an authenticated GET.
func authGet(ctx context.Context, token, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return http.DefaultClient.Do(req)
}

// latencies collects request durations.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

func (l *latencies) pct(p float64) time.Duration {
	if len(l.all) == 0 {
		return 0
	}
	sort.Slice(l.all, func(i, j int) bool { return l.all[i] < l.all[j] })
	i := int(float64(len(l.all)-1) * p)
	return l.all[i]
}

func (l *latencies) report(name string, elapsed time.Duration) string {
	return fmt.Sprintf("%-28s n=%-7d rps=%-8.0f p50=%-9s p95=%-9s p99=%-9s max=%s", name, len(l.all),
		float64(len(l.all))/elapsed.Seconds(), round(l.pct(0.50)), round(l.pct(0.95)), round(l.pct(0.99)), round(l.pct(1)))
}

func round(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(time.Microsecond)
	}
	return d.Round(10 * time.Microsecond)
}

// load sends requests from concurrency workers for duration; next returns the URL of each request.
func load(ctx context.Context, token string, concurrency int, duration time.Duration, next func(worker int, i int) string) (*latencies, time.Duration, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency * 2}}
	lat := &latencies{}
	deadline := time.Now().Add(duration)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				u := next(w, i)
				t0 := time.Now()
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("GET %s: %s", u, resp.Status)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				lat.add(time.Since(t0))
			}
		}(w)
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return lat, time.Since(start), fmt.Errorf("%d requests failed, first: %v", n, firstErr.Load())
	}
	return lat, time.Since(start), nil
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(os.Stderr)
	return fs.Parse(args)
}
