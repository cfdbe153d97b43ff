package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/connectortype"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/scanner/qualys"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
)

// benchReimport measures the Sync of one mapped Qualys record through the Qualys simulator:
// a first sync creates N findings, then the next scan (10% gone, 10% changed, 10% new) is
// reimported against them. Its wall time and peak RSS are printed next to the floor: the
// time to COPY the same N rows into an empty table, in the same run. With -million it also
// syncs 1,000,000 findings, to show that memory stays flat.
func benchReimport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reimport", flag.ContinueOnError)
	n := fs.Int("findings", 100_000, "findings in the record (10 per host)")
	text := fs.Int("text", 200, "bytes of each detection's results and each KB text")
	million := fs.Bool("million", false, "also sync a record of 1,000,000 findings")
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
	fmt.Printf("reimport of one Qualys record through the simulator (10 detections per host, %d-byte texts), DATABASE %s\n", *text, redactDSN(dbURL))

	row, err := benchReimportSize(ctx, st, keys, keySpec, dbURL, *n, *text)
	if err != nil {
		return err
	}
	floor, err := copyFloor(ctx, st, row.recordID)
	if err != nil {
		return err
	}
	fmt.Printf("\n%-34s %12s %12s %12s\n", "", "wall", "peak RSS", "peak heap")
	fmt.Printf("%-34s %12s %12s %12s\n", fmt.Sprintf("first sync (%d new)", row.first.counts["created"]), ms(row.first.wall), mib(row.first.rss), mib(row.first.heap))
	fmt.Printf("%-34s %12s %12s %12s\n", "reimport (10% new/gone/changed)", ms(row.again.wall), mib(row.again.rss), mib(row.again.heap))
	fmt.Printf("%-34s %12s\n", "Qualys client read only (no DB)", ms(row.readOnly))
	fmt.Printf("%-34s %12s\n", fmt.Sprintf("COPY %d rows into an empty table", floor.rows), ms(floor.wall))
	fmt.Printf("\nreimport counts: %v\n", row.again.counts)
	fmt.Printf("reimport phases (ms): fetch+parse+stage %d, knowledge base %d, apply %d; activity %s, process %s\n",
		row.again.phases["detections"], row.again.phases["definitions"], row.again.phases["apply"], ms(row.again.activity), ms(row.again.wall))
	fmt.Printf("ratio reimport/COPY floor: %.2fx (activity only: %.2fx; database apply only: %.2fx)\n",
		float64(row.again.wall)/float64(floor.wall), float64(row.again.activity)/float64(floor.wall),
		float64(time.Duration(row.again.phases["apply"])*time.Millisecond)/float64(floor.wall))
	if *million {
		big, err := benchReimportSize(ctx, st, keys, keySpec, dbURL, 1_000_000, *text)
		if err != nil {
			return err
		}
		fmt.Printf("\n1,000,000-finding sync: first %s (peak RSS %s, peak heap %s), reimport %s (peak RSS %s, peak heap %s), counts %v\n",
			ms(big.first.wall), mib(big.first.rss), mib(big.first.heap), ms(big.again.wall), mib(big.again.rss), mib(big.again.heap), big.again.counts)
		fmt.Printf("memory, %d findings -> 1,000,000: peak RSS %s -> %s, peak heap %s -> %s\n", *n, mib(row.again.rss), mib(big.again.rss), mib(row.again.heap), mib(big.again.heap))
	}
	return nil
}

func redactDSN(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}

type syncFigures struct {
	wall, activity time.Duration
	rss, heap      int64
	counts         map[string]int64
	phases         map[string]int64
}

type reimportRow struct {
	recordID     uuid.UUID
	first, again syncFigures
	// readOnly is the Qualys client reading the same detections from the simulator, discarded.
	readOnly time.Duration
}

func benchReimportSize(ctx context.Context, st *store.Store, keys *secrets.Keyring, keySpec, dbURL string, n, text int) (reimportRow, error) {
	var row reimportRow
	sim := qualyssim.New(qualyssim.Options{Seed: 1, AssetGroups: 1, HostsPerGroup: (n + 9) / 10, DetectionsPerHost: 10, TextBytes: text})
	defer sim.Close()
	cfg := &connectortype.Config{Username: "sim", AllowPlaintextHTTP: true}
	var err error
	if cfg.Password, err = keys.Seal("sim-password"); err != nil {
		return row, err
	}
	raw, _ := json.Marshal(cfg)
	now := time.Now().UTC()
	conn := &store.Connector{ID: uuid.New(), ToolType: connectortype.Qualys, Name: fmt.Sprintf("bench %d %s", n, uuid.NewString()[:8]),
		BaseURL: sim.URL, Config: raw, Timezone: "UTC", Enabled: true, CreatedAt: now, UpdatedAt: now}
	if err := st.Connectors.Insert(ctx, conn); err != nil {
		return row, err
	}
	if _, err := st.Connectors.ApplyDiscovery(ctx, conn.ID, uuid.New(), []scanner.Product{{ID: "1", Name: "Asset Group 1", Kind: "asset_group"}}, now); err != nil {
		return row, err
	}
	recs, _, err := st.Connectors.ListRecords(ctx, store.RecordFilter{ConnectorID: conn.ID})
	if err != nil || len(recs) != 1 {
		return row, fmt.Errorf("discovered records: %d, %v", len(recs), err)
	}
	p, err := st.Connectors.EnsureProduct(ctx, conn.Name, now)
	if err != nil {
		return row, err
	}
	if err := st.Connectors.SetRecordState(ctx, conn.ID, recs[0].ID, store.RecordMapped, &p.ID, now); err != nil {
		return row, err
	}
	row.recordID = recs[0].ID
	self, err := os.Executable()
	if err != nil {
		return row, err
	}
	for i, dst := range []*syncFigures{&row.first, &row.again} {
		sim.SetGeneration(i)
		if i > 0 {
			// The existing findings as a day-old sync leaves them: autovacuum has since set
			// their hint bits and visibility, and analyzed the table.
			if _, err := st.DB.ExecContext(ctx, "VACUUM (ANALYZE) findings"); err != nil {
				return row, err
			}
		}
		out := filepath.Join(os.TempDir(), fmt.Sprintf("tributary-bench-reimport-%s-%d.json", conn.ID, i))
		env := []string{"DATABASE_URL=" + dbURL, "TRIBUTARY_SECRET_KEYS=" + keySpec}
		wall, rss, err := timed(ctx, self, []string{"reimport-sync", conn.ID.String(), recs[0].ID.String(), out}, env)
		if err != nil {
			return row, fmt.Errorf("sync: %w", err)
		}
		b, err := os.ReadFile(out)
		os.Remove(out)
		if err != nil {
			return row, err
		}
		var res childResult
		if err := json.Unmarshal(b, &res); err != nil {
			return row, err
		}
		*dst = syncFigures{wall: wall, rss: rss, heap: res.PeakHeap, activity: time.Duration(res.ActivityNS), counts: res.Counts, phases: res.PhaseMS}
	}
	qc, err := qualys.New(qualys.Options{BaseURL: sim.URL, Username: "sim", Password: "sim-password"})
	if err != nil {
		return row, err
	}
	start := time.Now()
	if err := qc.Detections(ctx, "1", func(scanner.Detection) error { return nil }); err != nil {
		return row, err
	}
	row.readOnly = time.Since(start)
	if row.first.counts["created"] != int64(n) {
		return row, fmt.Errorf("the first sync created %d findings, want %d", row.first.counts["created"], n)
	}
	return row, nil
}

type childResult struct {
	Counts     map[string]int64
	PhaseMS    map[string]int64
	ActivityNS int64
	PeakHeap   int64
}

// reimportSyncChild syncs one record in this process: the child of benchReimport.
func reimportSyncChild(ctx context.Context, args []string) error {
	if len(args) != 3 {
		return errors.New("usage: tributary-bench reimport-sync CONNECTOR_ID RECORD_ID OUT.json")
	}
	st, keys, closeDB, err := childStore(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	cid, err := uuid.Parse(args[0])
	if err != nil {
		return err
	}
	run := &store.Run{ID: uuid.New(), Kind: store.KindConnectorSync, ConnectorID: &cid, Trigger: "manual", Status: "running",
		StartedAt: time.Now(), WorkflowID: "connector/" + args[0] + "/sync", Counts: map[string]int64{}, Details: json.RawMessage(`{}`)}
	if err := st.Runs.RecordStart(ctx, run); err != nil {
		return err
	}
	acts := &activities.Connectors{Store: st, Keyring: keys}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.SetTestTimeout(2 * time.Hour)
	env.RegisterActivity(acts)
	stop := sampleHeap()
	started := time.Now()
	val, err := env.ExecuteActivity(acts.SyncRecord, activities.RecordInput{RunID: run.ID.String(), ConnectorID: args[0], RecordID: args[1], StartedAt: started})
	elapsed := time.Since(started)
	peakHeap, _ := stop()
	if err != nil {
		return err
	}
	var out activities.RecordOutput
	if err := val.Get(&out); err != nil {
		return err
	}
	b, _ := json.Marshal(childResult{Counts: out.Counts, PhaseMS: out.PhaseMS, ActivityNS: elapsed.Nanoseconds(), PeakHeap: int64(peakHeap)})
	return os.WriteFile(args[2], b, 0o600)
}

// childStore opens the database and keyring a benchmark child process is given through
// DATABASE_URL and TRIBUTARY_SECRET_KEYS.
func childStore(ctx context.Context) (*store.Store, *secrets.Keyring, func(), error) {
	db, err := store.Open(ctx, os.Getenv("DATABASE_URL"), store.OpenOptions{MaxOpenConns: 4})
	if err != nil {
		return nil, nil, nil, err
	}
	spec := os.Getenv("TRIBUTARY_SECRET_KEYS")
	keys, err := secrets.ParseKeyring(spec, strings.SplitN(spec, ":", 2)[0])
	if err != nil {
		db.Close()
		return nil, nil, nil, err
	}
	return store.New(db), keys, func() { db.Close() }, nil
}

type floorResult struct {
	rows int
	wall time.Duration
}

// copyFloor COPYs the record's findings the reimport produced (all but those it found gone)
// into a new, empty table with the same columns and no index, and times the COPY alone.
func copyFloor(ctx context.Context, st *store.Store, recordID uuid.UUID) (floorResult, error) {
	cols := []string{"test_id", "record_id", "identity", "title", "severity", "vendor_severity", "vendor_id", "cves", "host", "ip", "port",
		"protocol", "description", "solution", "evidence", "first_seen", "last_seen", "active", "content_hash", "created_at", "updated_at"}
	return copySelected(ctx, st, strings.Join(cols, ", "), "findings", "record_id = $1 AND (active OR status <> 'mitigated')", recordID)
}
