package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// benchScanner measures the scanner import tasks through the Qualys simulator: an asset
// import of N hosts, and vulnerability imports of M and 10*M occurrences (10 per host), each in
// a child process (wall time, peak RSS, peak heap), next to the floor: COPY of the same rows
// into an empty table, in the same run.
func benchScanner(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("scanner", flag.ContinueOnError)
	hosts := fs.Int("hosts", 100_000, "hosts of the asset import")
	occ := fs.Int("occurrences", 100_000, "occurrences of the smaller vulnerability import (10 per host); the larger has 10 times as many")
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
	fmt.Printf("scanner import tasks through the Qualys simulator, DATABASE %s\n\n", redactDSN(dbURL))
	fmt.Printf("%-44s %10s %10s %10s %12s %8s\n", "", "wall", "peak RSS", "peak heap", "COPY floor", "ratio")
	type job struct {
		typ   string
		hosts int
		table string
	}
	jobs := []job{{tasktype.QualysAssets, *hosts, "assets"},
		{tasktype.QualysVulnerabilities, (*occ + 9) / 10, "vulnerability_occurrences"},
		{tasktype.QualysVulnerabilities, (*occ*10 + 9) / 10, "vulnerability_occurrences"}}
	for _, j := range jobs {
		sim := qualyssim.New(qualyssim.Options{Seed: 1, AssetGroups: 1, HostsPerGroup: j.hosts, DetectionsPerHost: 10})
		task, err := benchTask(ctx, st, keys, j.typ, sim.URL)
		if err != nil {
			sim.Close()
			return err
		}
		res, wall, rss, err := runChild(ctx, "scanner-run", dbURL, keySpec, task.ID.String())
		sim.Close()
		if err != nil {
			return err
		}
		floor, err := copyRows(ctx, st, j.table, task.ID)
		if err != nil {
			return err
		}
		label := fmt.Sprintf("%s, %d hosts", j.typ, j.hosts)
		fmt.Printf("%-44s %10s %10s %10s %12s %7.2fx\n", label, ms(wall), mib(rss), mib(res.PeakHeap), fmt.Sprintf("%s/%d", ms(floor.wall), floor.rows),
			float64(wall)/float64(floor.wall))
		fmt.Printf("    counts %v, activity %s\n", res.Counts, ms(time.Duration(res.ActivityNS)))
	}
	return nil
}

// benchTask stores a scanner import task of typ against the simulator at url.
func benchTask(ctx context.Context, st *store.Store, keys *secrets.Keyring, typ, url string) (*store.Task, error) {
	return storeTask(ctx, st, keys, typ, map[string]any{"base_url": url, "username": "sim", "password": "sim-password", "allow_plaintext_http": true,
		"max_removal_percent": 100})
}

// storeTask stores a task of typ with config as the API would receive it (checked, secrets
// sealed), enabled, one attempt, two hours at most.
func storeTask(ctx context.Context, st *store.Store, keys *secrets.Keyring, typ string, config map[string]any) (*store.Task, error) {
	raw, _ := json.Marshal(config)
	cfg, err := tasktype.Decode(typ, raw)
	if err != nil {
		return nil, err
	}
	if err := tasktype.SealSecrets(cfg, keys.Seal); err != nil {
		return nil, err
	}
	sealed, _ := json.Marshal(cfg)
	now := time.Now()
	t := &store.Task{ID: uuid.New(), Type: typ, Name: "bench " + typ + " " + uuid.NewString()[:8], Config: sealed, Timezone: "UTC",
		Enabled: true, OverlapPolicy: "skip", MaxDurationSeconds: 7200, MaxAttempts: 1, CreatedAt: now, UpdatedAt: now}
	return t, st.Tasks.Insert(ctx, t)
}

// runChild runs `tributary-bench sub ARG OUT.json` as a child process (wall time, peak RSS)
// and reads the childResult it writes.
func runChild(ctx context.Context, sub, dbURL, keySpec, arg string) (childResult, time.Duration, int64, error) {
	var res childResult
	self, err := os.Executable()
	if err != nil {
		return res, 0, 0, err
	}
	out := filepath.Join(os.TempDir(), "tributary-bench-"+sub+"-"+uuid.NewString()+".json")
	wall, rss, err := timed(ctx, self, []string{sub, arg, out}, []string{"DATABASE_URL=" + dbURL, "TRIBUTARY_SECRET_KEYS=" + keySpec})
	if err != nil {
		return res, 0, 0, fmt.Errorf("%s: %w", sub, err)
	}
	b, err := os.ReadFile(out)
	os.Remove(out)
	if err != nil {
		return res, 0, 0, err
	}
	return res, wall, rss, json.Unmarshal(b, &res)
}

// scannerRunChild runs one scanner import task in this process: the child of benchScanner.
func scannerRunChild(ctx context.Context, args []string) error {
	return taskRunChild(ctx, "scanner-run", args, func(st *store.Store, keys *secrets.Keyring, task *store.Task) (any, any) {
		acts := &activities.ScannerImports{Store: st, Keyring: keys}
		if task.Type == tasktype.QualysVulnerabilities {
			return acts, acts.ImportScannerVulnerabilities
		}
		return acts, acts.ImportScannerAssets
	})
}

// copyRows COPYs the rows the import wrote (the task's assets or occurrences) into a new, empty
// table of the same columns without indexes, and times the COPY alone.
func copyRows(ctx context.Context, st *store.Store, table string, taskID uuid.UUID) (floorResult, error) {
	where := "task_id = $1"
	if table == "assets" {
		where = "id IN (SELECT asset_id FROM asset_sources WHERE source_id = $1)"
	}
	return copySelected(ctx, st, "*", table, where, taskID)
}

// copySelected reads the rows `SELECT cols FROM table WHERE where`, then times the COPY of them
// alone into a new, empty table of those columns without indexes: the floor of an import.
func copySelected(ctx context.Context, st *store.Store, cols, table, where string, args ...any) (floorResult, error) {
	var res floorResult
	conn, err := st.DB.Conn(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		rows, err := pc.Query(ctx, "SELECT "+cols+" FROM "+table+" WHERE "+where, args...)
		if err != nil {
			return err
		}
		var names []string
		for _, f := range rows.FieldDescriptions() {
			names = append(names, f.Name)
		}
		data, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
		if err != nil {
			return err
		}
		res.rows = len(data)
		if _, err := pc.Exec(ctx, "DROP TABLE IF EXISTS bench_copy_floor; CREATE TABLE bench_copy_floor AS SELECT "+cols+" FROM "+table+" WITH NO DATA"); err != nil {
			return err
		}
		start := time.Now()
		if _, err := pc.CopyFrom(ctx, pgx.Identifier{"bench_copy_floor"}, names, pgx.CopyFromRows(data)); err != nil {
			return err
		}
		res.wall = time.Since(start)
		_, err = pc.Exec(ctx, "DROP TABLE bench_copy_floor")
		return err
	})
	return res, err
}

// taskRunChild runs task args[0] once in this process, through the activity pick returns for
// it (its struct to register, and the method to execute), and writes the counts, phases,
// activity time and peak heap to args[1]: the child of the task benchmarks.
func taskRunChild(ctx context.Context, usage string, args []string,
	pick func(st *store.Store, keys *secrets.Keyring, task *store.Task) (acts, act any)) error {
	if len(args) != 2 {
		return errors.New("usage: tributary-bench " + usage + " TASK_ID OUT.json")
	}
	st, keys, closeDB, err := childStore(ctx)
	if err != nil {
		return err
	}
	defer closeDB()
	tid, err := uuid.Parse(args[0])
	if err != nil {
		return err
	}
	task, err := st.Tasks.Get(ctx, tid)
	if err != nil {
		return err
	}
	run := &store.Run{ID: uuid.New(), Kind: "task", TaskID: &tid, TaskType: &task.Type, Trigger: "manual", Status: "running",
		StartedAt: time.Now(), WorkflowID: "task-type/" + task.Type, Counts: map[string]int64{}, Details: json.RawMessage(`{}`)}
	if err := st.Runs.RecordStart(ctx, run); err != nil {
		return err
	}
	acts, act := pick(st, keys, task)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.SetTestTimeout(2 * time.Hour)
	env.RegisterActivity(acts)
	stop := sampleHeap()
	started := time.Now()
	val, err := env.ExecuteActivity(act, activities.TaskInput{RunID: run.ID.String(), TaskID: args[0]})
	elapsed := time.Since(started)
	peak, _ := stop()
	if err != nil {
		return err
	}
	var out activities.TaskOutput
	if err := val.Get(&out); err != nil {
		return err
	}
	var det struct {
		PhaseMS map[string]int64 `json:"phase_ms"`
	}
	if r, err := st.Runs.Get(ctx, run.ID); err == nil {
		_ = json.Unmarshal(r.Details, &det)
	}
	b, _ := json.Marshal(childResult{Counts: out.Counts, PhaseMS: det.PhaseMS, ActivityNS: elapsed.Nanoseconds(), PeakHeap: int64(peak)})
	return os.WriteFile(args[1], b, 0o600)
}
