package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"
	"go.temporal.io/sdk/testsuite"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/directory"
	"github.com/tributary-io/tributary/internal/slapdtest"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// benchLDAP measures a full directory import from a local slapd next to ldapsearch dumping
// the same entries (the floor), at several directory sizes, so that wall time and peak memory
// can be compared across sizes. Each import runs in a child process whose peak RSS is its own.
func benchLDAP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("ldap", flag.ExitOnError)
	sizes := fs.String("users", "10000,50000", "comma-separated directory sizes (users) to measure")
	groupsPer := fs.Int("users-per-group", 50, "one group per this many users (50,000 users: 1,000 groups)")
	members := fs.Int("members", 50, "members per group")
	pageSize := fs.Int("page-size", 500, "paged-results page size, for the import and ldapsearch")
	_ = fs.Parse(args)

	ldapsearch, err := slapdtest.Binary("ldapsearch")
	if err != nil {
		return err
	}
	url, db, closeDB, err := database(ctx, 20)
	if err != nil {
		return err
	}
	defer closeDB()
	st := store.New(db)
	keys, keySpec, err := secrets.NewRandomKeyring("bench")
	if err != nil {
		return err
	}

	fmt.Printf("full LDAP import vs `ldapsearch -E pr=%d/noprompt` (same filters and attributes), %d members per group\n", *pageSize, *members)
	fmt.Println("floor: ldapsearch wall time; import: the activity's wall time (process wall in brackets); ratio: import / floor")
	fmt.Println("RSS: peak resident set (VmHWM) of the process; heap: peak Go heap objects (garbage included); live: peak heap marked live by a GC")
	fmt.Println("go-ldap: the same searches read with go-ldap and discarded (no mapping, no storing), one kind after the other")
	fmt.Printf("%-7s %-6s %-9s %-9s %-20s %-6s %-10s %-10s %-10s %-9s %-20s %-10s %-10s %-10s\n", "users", "groups", "floor", "go-ldap", "import", "ratio",
		"RSS", "heap", "live", "floor RSS", "re-import", "RSS", "heap", "live")
	for _, s := range strings.Split(*sizes, ",") {
		users, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || users <= 0 {
			return fmt.Errorf("-users: %q is not a positive number", s)
		}
		groups := max(users / *groupsPer, 1)
		dir, err := os.MkdirTemp("", "tributary-bench-slapd-")
		if err != nil {
			return err
		}
		srv, err := slapdtest.StartServer(dir, slapdtest.Options{LDIF: slapdtest.WriteDirectory(slapdtest.DirectorySpec{
			Users: users, Groups: groups, MembersPerGroup: *members})})
		if err != nil {
			os.RemoveAll(dir)
			return err
		}
		row, err := benchLDAPSize(ctx, st, keys, keySpec, url, srv, ldapsearch, *pageSize)
		srv.Stop()
		os.RemoveAll(dir)
		if err != nil {
			return err
		}
		fmt.Printf("%-7d %-6d %-9s %-9s %-20s %-6.2f %-10s %-10s %-10s %-9s %-20s %-10s %-10s %-10s\n", users, groups, ms(row.floor), ms(row.read),
			ms(row.fullActivity)+" ("+ms(row.full)+")", row.fullActivity.Seconds()/row.floor.Seconds(), mib(row.fullRSS), mib(row.fullHeap),
			mib(row.fullLive), mib(row.floorRSS), ms(row.againActivity)+" ("+ms(row.again)+")", mib(row.againRSS), mib(row.againHeap), mib(row.againLive))
	}
	return nil
}

type ldapRow struct {
	floor, read, full, again    time.Duration
	floorRSS, fullRSS, againRSS int64
	fullHeap, againHeap         int64
	fullLive, againLive         int64
	fullActivity, againActivity time.Duration
}

func benchLDAPSize(ctx context.Context, st *store.Store, keys *secrets.Keyring, keySpec, dbURL string, srv *slapdtest.Server, ldapsearch string, pageSize int) (ldapRow, error) {
	var row ldapRow
	raw, _ := json.Marshal(map[string]any{
		"preset": "openldap", "urls": []string{srv.URL}, "base_dn": slapdtest.Suffix, "bind_dn": slapdtest.ReaderDN,
		"bind_password": slapdtest.ReaderPW, "allow_plaintext_bind": true, "page_size": pageSize, "full_import_every_hours": 0,
		"computers": map[string]any{"enabled": false},
	})
	cfg, err := tasktype.Decode(tasktype.LDAPImport, raw)
	if err != nil {
		return row, err
	}
	kinds := cfg.(*tasktype.LDAPImportConfig).Kinds()
	// The floor: ldapsearch pages through the same searches, asking for the same attributes.
	for _, k := range kinds {
		args := append([]string{"-x", "-LLL", "-H", srv.URL, "-D", slapdtest.ReaderDN, "-w", slapdtest.ReaderPW, "-b", k.BaseDN,
			"-E", fmt.Sprintf("pr=%d/noprompt", pageSize), k.Search.Filter}, k.Schema.Attributes()...)
		d, rss, err := timed(ctx, ldapsearch, args, nil)
		if err != nil {
			return row, fmt.Errorf("ldapsearch: %w", err)
		}
		row.floor += d
		row.floorRSS = max(row.floorRSS, rss)
	}
	// go-ldap alone: the same paged searches through the directory package, entries discarded.
	opts, err := cfg.(*tasktype.LDAPImportConfig).DirectoryOptions()
	if err != nil {
		return row, err
	}
	readStart := time.Now()
	for _, k := range kinds {
		conn, err := directory.Connect(ctx, opts)
		if err != nil {
			return row, err
		}
		_, err = conn.SearchPages(ctx, directory.SearchRequest{BaseDN: k.BaseDN, Filter: k.Search.Filter, Attributes: k.Schema.Attributes(),
			PageSize: pageSize}, func([]*ldap.Entry) error { return nil })
		conn.Close()
		if err != nil {
			return row, err
		}
	}
	row.read = time.Since(readStart)
	if err := tasktype.SealSecrets(cfg, keys.Seal); err != nil {
		return row, err
	}
	sealed, _ := json.Marshal(cfg)
	task := &store.Task{ID: uuid.New(), Type: tasktype.LDAPImport, Name: "bench " + uuid.NewString()[:8], Config: sealed,
		Timezone: "UTC", Enabled: true, OverlapPolicy: "skip", MaxDurationSeconds: 3600, MaxAttempts: 1, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := st.Tasks.Insert(ctx, task); err != nil {
		return row, err
	}
	self, err := os.Executable()
	if err != nil {
		return row, err
	}
	for i, dst := range []struct {
		d, act          *time.Duration
		rss, heap, live *int64
	}{{&row.full, &row.fullActivity, &row.fullRSS, &row.fullHeap, &row.fullLive}, {&row.again, &row.againActivity, &row.againRSS, &row.againHeap, &row.againLive}} {
		env := []string{"DATABASE_URL=" + dbURL, "TRIBUTARY_SECRET_KEYS=" + keySpec}
		out := filepath.Join(os.TempDir(), fmt.Sprintf("tributary-bench-ldap-%s-%d.json", task.ID, i))
		d, rss, err := timed(ctx, self, []string{"ldap-import", task.ID.String(), out}, env)
		if err != nil {
			return row, fmt.Errorf("import: %w", err)
		}
		b, err := os.ReadFile(out)
		os.Remove(out)
		if err != nil {
			return row, err
		}
		var counts map[string]int64
		if err := json.Unmarshal(b, &counts); err != nil {
			return row, err
		}
		if i == 0 && counts["users_created"] == 0 {
			return row, fmt.Errorf("the import created no users: %v", counts)
		}
		*dst.d, *dst.rss = d, rss
		*dst.act, *dst.heap, *dst.live = time.Duration(counts["bench_activity_ns"]), counts["bench_peak_heap_bytes"], counts["bench_peak_live_bytes"]
	}
	return row, nil
}

// ldapImportChild runs one import of the task in this process: the child of benchLDAP.
func ldapImportChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: tributary-bench ldap-import TASK_ID OUT.json")
	}
	taskID, err := uuid.Parse(args[0])
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, os.Getenv("DATABASE_URL"), store.OpenOptions{MaxOpenConns: 4})
	if err != nil {
		return err
	}
	defer db.Close()
	spec := os.Getenv("TRIBUTARY_SECRET_KEYS")
	keys, err := secrets.ParseKeyring(spec, strings.SplitN(spec, ":", 2)[0])
	if err != nil {
		return err
	}
	st := store.New(db)
	typ := tasktype.LDAPImport
	run := &store.Run{ID: uuid.New(), Kind: "task", TaskID: &taskID, TaskType: &typ, Trigger: "manual", Status: "running",
		StartedAt: time.Now(), WorkflowID: "task-type/ldap_import", Counts: map[string]int64{}, Details: json.RawMessage(`{}`)}
	if err := st.Runs.RecordStart(ctx, run); err != nil {
		return err
	}
	if p := os.Getenv("TRIBUTARY_BENCH_CPUPROFILE"); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	acts := &activities.DirectoryImports{Store: st, Keyring: keys}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.SetTestTimeout(time.Hour)
	env.RegisterActivity(acts)
	// Sample the Go heap while the import runs: RSS also counts the binary's code and the
	// runtime's slack, the heap is what grows with the data.
	stopSampling := sampleHeap()
	started := time.Now()
	val, err := env.ExecuteActivity(acts.ImportDirectory, activities.TaskInput{RunID: run.ID.String(), TaskID: taskID.String()})
	elapsed := time.Since(started)
	if p := os.Getenv("TRIBUTARY_BENCH_HEAPPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			_ = pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	peakHeap, peakLive := stopSampling()
	if err != nil {
		return err
	}
	var out activities.TaskOutput
	if err := val.Get(&out); err != nil {
		return err
	}
	out.Counts["bench_activity_ns"] = elapsed.Nanoseconds()
	out.Counts["bench_peak_heap_bytes"] = int64(peakHeap)
	out.Counts["bench_peak_live_bytes"] = int64(peakLive)
	b, _ := json.Marshal(out.Counts)
	return os.WriteFile(args[1], b, 0o600)
}

// sampleHeap samples the Go heap every 2 ms until the returned function is called, which
// returns the peak heap in use and the peak live heap, in bytes.
func sampleHeap() func() (uint64, uint64) {
	var peakHeap, peakLive atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peakHeap.Load() {
				peakHeap.Store(v)
			}
			if v := sample[1].Value.Uint64(); v > peakLive.Load() {
				peakLive.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (uint64, uint64) {
		close(stop)
		<-done
		return peakHeap.Load(), peakLive.Load()
	}
}

// timed runs a command and returns its wall time and peak RSS in bytes. The peak is the
// process's VmHWM, sampled every 5 ms until it exits (getrusage's ru_maxrss of a child
// counts the parent's memory at fork time, so it cannot be used).
func timed(ctx context.Context, name string, args, env []string) (time.Duration, int64, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = nil
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	done := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hwm int64
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if v := vmHWM(cmd.Process.Pid); v > hwm {
				hwm = v
			}
			select {
			case <-done:
				peak <- hwm
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	d := time.Since(start)
	close(done)
	rss := <-peak
	if err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, stderr.String())
	}
	return d, rss, nil
}

// vmHWM reads a process's peak resident set size from /proc, in bytes (0 once it exited).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func mib(b int64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
