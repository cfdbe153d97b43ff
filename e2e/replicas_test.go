package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/tributary-io/tributary/internal/testenv"
)

// freeAddr returns a loopback address with a port free at the time of asking.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// metricValue reads one sample, such as `tributary_runs_finished_total{…}`, from a /metrics
// page; 0 when it is absent.
func metricValue(t *testing.T, addr, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", sample, err)
			}
			return f
		}
	}
	return 0
}

// Two API server processes and two worker processes against one Postgres and one Temporal,
// as a Kubernetes install runs them. Both workers start at once and reconcile drifted
// schedules while an admin changes every task's schedule through the API: both become ready,
// and every schedule ends as the admin left it (neither a second reconciliation nor a stale
// one undoes it). A thousand concurrent triggers of one task type spread over both API servers start exactly
// one run; the others are 409s, none a 5xx (while a probe measures run history and /healthz);
// later runs through either server are each executed
// once, whichever worker takes them (the workers' own metrics add up to the runs).
func TestReplicasAsProcesses(t *testing.T) {
	s := newStack(t, stackOptions{noWorker: true})
	workerBin, serverBin := buildWorker(t), buildBinary(t, "tributary-server")
	ctx := ctxTimeout(t, 4*time.Minute)

	// Drift: 24 scheduled tasks; a third of their schedules deleted in Temporal, a third
	// changed behind Tributary's back.
	ok := newTarget(t, func(w http.ResponseWriter, _ *http.Request, _ int64) { w.WriteHeader(http.StatusOK) })
	var tasks []taskView
	for i := range 24 {
		tasks = append(tasks, s.createHTTPTask(fmt.Sprintf("replica-%02d", i), ok.srv.URL, map[string]any{"schedule": "0 3 * * *"}))
	}
	for i, tk := range tasks {
		h := s.client.ScheduleClient().GetHandle(ctx, tk.ScheduleID)
		var err error
		switch i % 3 {
		case 0:
			err = h.Delete(ctx)
		case 1:
			err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(u client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				sc := u.Description.Schedule
				sc.Spec = &client.ScheduleSpec{CronExpressions: []string{"0 5 * * *"}}
				return &client.ScheduleUpdate{Schedule: &sc}, nil
			}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	workerAddrs, apiAddrs := []string{freeAddr(t), freeAddr(t)}, []string{freeAddr(t), freeAddr(t)}
	var workerLogs []string
	for i, addr := range workerAddrs {
		cmd := s.startProcess(workerBin, fmt.Sprintf("worker-%d", i+1), "WORKER_METRICS_ADDR="+addr, "LOG_LEVEL=info")
		workerLogs = append(workerLogs, cmd.Stdout.(*os.File).Name())
	}
	for i, addr := range apiAddrs {
		s.startProcess(serverBin, fmt.Sprintf("api-%d", i+1), "HTTP_ADDR="+addr)
	}
	// Meanwhile an admin moves every task to 04:00 (through the in-process API server, which
	// shares the database and Temporal with the processes).
	for _, tk := range tasks {
		s.must(http.StatusOK, "PUT", "/api/v1/tasks/"+tk.ID, map[string]any{"type": "http_call", "name": tk.Name,
			"config": map[string]any{"url": ok.srv.URL}, "max_attempts": 1, "schedule": "0 4 * * *"}, nil)
	}

	showLogs := func() {
		for _, f := range workerLogs {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%.3000s", f, b)
		}
	}
	for _, addr := range append(append([]string{}, workerAddrs...), apiAddrs...) {
		testenv.Eventually(t, 90*time.Second, func() error {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s/readyz: %d %s", addr, resp.StatusCode, b)
			}
			return nil
		})
	}
	for _, f := range workerLogs {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), `"msg":"schedules reconciled","synced":24,"deleted":0,"error":""`) {
			showLogs()
			t.Fatalf("%s: no clean reconciliation of the 24 tasks", f)
		}
	}
	for _, tk := range tasks {
		d, err := s.client.ScheduleClient().GetHandle(ctx, tk.ScheduleID).Describe(ctx)
		if err != nil {
			showLogs()
			t.Fatalf("%s: %v", tk.Name, err)
		}
		cals := d.Schedule.Spec.Calendars
		if len(cals) != 1 || len(cals[0].Hour) != 1 || cals[0].Hour[0].Start != 4 {
			showLogs()
			t.Fatalf("%s: schedule %+v, want the admin's 04:00", tk.Name, cals)
		}
	}

	// A thousand concurrent triggers of one task type, alternating between the API servers,
	// while a probe reads a filtered run-history page and /healthz in turn: one run starts,
	// every other trigger is a 409, nothing is a 5xx; the probe's latencies are the figures.
	release := make(chan struct{})
	slow := newTarget(t, func(w http.ResponseWriter, r *http.Request, call int64) {
		if call == 1 {
			blockingHandler(release)(w, r, call)
		}
	})
	busy := s.createHTTPTask("replica-busy", slow.srv.URL, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: time.Minute}
	request := func(method, addr, path string) (int, []byte, time.Duration) {
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil, 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b, time.Since(start)
	}
	post := func(addr, path string) (int, []byte) {
		code, b, _ := request(http.MethodPost, addr, path)
		return code, b
	}
	triggers := 1000
	if v, err := strconv.Atoi(os.Getenv("TRIBUTARY_TRIGGERS")); err == nil && v > 0 {
		triggers = v
	}
	var mu sync.Mutex
	statuses := map[int]int{}
	var listing, health []time.Duration
	stopProbe := make(chan struct{})
	probeDone := make(chan struct{})
	go func() {
		defer close(probeDone)
		for i := 0; ; i++ {
			select {
			case <-stopProbe:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if i%2 == 0 {
				code, b, d := request(http.MethodGet, apiAddrs[i/2%2], "/api/v1/runs?status=succeeded&limit=50")
				if code != http.StatusOK {
					t.Errorf("run history under load: %d %s", code, b)
				}
				listing = append(listing, d)
			} else {
				code, _, d := request(http.MethodGet, apiAddrs[i/2%2], "/healthz")
				if code != http.StatusOK {
					t.Errorf("/healthz under load: %d", code)
				}
				health = append(health, d)
			}
		}
	}()
	loadStart := time.Now()
	var wg sync.WaitGroup
	for i := range triggers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := post(apiAddrs[i%2], "/api/v1/tasks/"+busy.ID+"/runs")
			mu.Lock()
			statuses[code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	loadTime := time.Since(loadStart)
	close(stopProbe)
	<-probeDone
	if statuses[http.StatusAccepted] != 1 || statuses[http.StatusConflict] != triggers-1 {
		t.Fatalf("%d triggers through two API servers: %v, want one 202 and %d 409s", triggers, statuses, triggers-1)
	}
	p99 := func(ds []time.Duration) time.Duration {
		if len(ds) == 0 {
			return 0
		}
		slices.Sort(ds)
		return ds[min(len(ds)-1, len(ds)*99/100)]
	}
	t.Logf("| http_call triggers through 2 API processes, 2 workers | %d concurrent triggers in %s (%.0f/s) | %d | 1 × 202, %d × 409, 0 × 5xx | under that load: run history p99 %s (%d probes), /healthz p99 %s (%d) |",
		triggers, loadTime.Round(time.Millisecond), float64(triggers)/loadTime.Seconds(), triggers, statuses[http.StatusConflict],
		p99(listing).Round(100*time.Microsecond), len(listing), p99(health).Round(100*time.Microsecond), len(health))
	waitCalls(t, slow, 1)
	close(release)

	// Six more runs, one after the other, through either server: each executed once.
	for i := range 6 {
		var tr triggered
		testenv.Eventually(t, 30*time.Second, func() error { // the previous run's workflow may still be closing
			code, b := post(apiAddrs[i%2], "/api/v1/tasks/"+busy.ID+"/runs")
			if code != http.StatusAccepted {
				return fmt.Errorf("trigger %d: %d %s", i, code, b)
			}
			return json.Unmarshal(b, &tr)
		})
		if rv := s.waitRun(tr.RunID, 60*time.Second); rv.Status != "succeeded" {
			t.Fatalf("run %d: %+v", i, rv)
		}
	}
	if got := slow.calls.Load(); got != 7 {
		t.Fatalf("the target was called %d times for 7 runs", got)
	}
	if n := slow.max(); n > 1 {
		t.Fatalf("%d calls at once", n)
	}
	sample := `tributary_runs_finished_total{kind="task",status="succeeded",type="http_call"}`
	testenv.Eventually(t, 20*time.Second, func() error {
		sum := metricValue(t, workerAddrs[0], sample) + metricValue(t, workerAddrs[1], sample)
		if sum != 7 {
			return fmt.Errorf("the workers counted %v succeeded runs, want 7", sum)
		}
		return nil
	})
}
