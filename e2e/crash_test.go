package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-io/tributary/store"
)

// The real tributary-worker binary is killed with SIGKILL in the middle of a run; a second
// worker process finishes it. Run history shows one run, succeeded on its second attempt.
func TestWorkerProcessKilledMidRun(t *testing.T) {
	bin := buildWorker(t)
	s := newStack(t, stackOptions{noWorker: true})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, call int64) {
		if call == 1 {
			<-r.Context().Done() // the first attempt dies with its worker
			return
		}
		fmt.Fprint(w, "done by the second worker")
	})
	task := s.createHTTPTask("crash", tg.srv.URL, map[string]any{"max_attempts": 3})
	w1 := s.startProcess(bin, "worker-1")
	tr := trigger(s, task.ID)
	waitCalls(t, tg, 1)
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()
	s.startProcess(bin, "worker-2")
	run := s.waitRun(tr.RunID, 90*time.Second)
	if run.Status != store.StatusSucceeded || run.Attempt != 2 || run.Details["excerpt"] != "done by the second worker" {
		t.Fatalf("run after the crash: %+v", run)
	}
	var page runPage
	s.must(http.StatusOK, "GET", "/api/v1/runs?task_id="+task.ID, nil, &page)
	if len(page.Items) != 1 {
		t.Fatalf("want one run in history, got %d", len(page.Items))
	}
}

// buildWorker builds the tributary-worker binary into the test's temporary directory.
func buildWorker(t *testing.T) string {
	t.Helper()
	return buildBinary(t, "tributary-worker")
}

// buildBinary builds the production binary cmd/<name> into the test's temporary directory.
func buildBinary(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/"+name).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
	return bin
}

// startProcess starts a production binary (the worker, the API server) against the stack,
// logging to a file named after it, with env added to (and overriding) its environment; the
// process is killed when the test ends.
func (s *stack) startProcess(bin, name string, env ...string) *exec.Cmd {
	t := s.t
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+s.dbURL,
		"TEMPORAL_ADDRESS="+s.temporal.GetFrontendHostPort(),
		"TEMPORAL_NAMESPACE="+s.temporal.GetDefaultNamespace(),
		"TEMPORAL_TASK_QUEUE="+taskQueue,
		"LOG_LEVEL=warn",
		"TRIBUTARY_SECRET_KEYS="+s.keySpec,
		"REPORTING_DATABASE_URL="+s.reportingURL,
		"WORKER_METRICS_ADDR=127.0.0.1:0", // several workers may run at once
	)
	cmd.Env = append(cmd.Env, env...)
	logf, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	return cmd
}
