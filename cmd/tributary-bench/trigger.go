package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/tributary-io/tributary/config"
	"github.com/tributary-io/tributary/internal/app"
	"github.com/tributary-io/tributary/internal/devstack"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/workflows"
)

func benchTrigger(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("trigger", flag.ExitOnError)
	n := fs.Int("n", 200, "runs to trigger, one after another")
	port := fs.Int("temporal-port", 17233, "port of the embedded Temporal frontend")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	dbURL, db, closeDB, err := database(ctx, 20)
	if err != nil {
		return err
	}
	defer closeDB()
	tmp, err := devstack.StartTemporal(devstack.TemporalOptions{FrontendPort: *port, UIPort: -1,
		SearchAttributes: workflows.SearchAttributes, LogLevel: "error"})
	if err != nil {
		return err
	}
	defer tmp.Stop()
	cfg := config.Config{DatabaseURL: dbURL, TemporalAddress: tmp.FrontendAddr, TemporalNamespace: tmp.Namespace,
		TaskQueue: config.DefaultTaskQueue, HTTPAddr: "127.0.0.1:0", HeartbeatTimeout: 30 * time.Second}
	if cfg.Keyring, _, err = secrets.NewRandomKeyring("bench"); err != nil {
		return err
	}
	tc, err := app.DialTemporal(ctx, cfg, quiet)
	if err != nil {
		return err
	}
	defer tc.Close()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	addrc := make(chan string, 1)
	go func() { errc <- app.RunWorker(runCtx, cfg, quiet, db, tc) }()
	go func() { errc <- app.ServeAPI(runCtx, cfg, quiet, db, tc, func(a string) { addrc <- a }) }()
	var api string
	select {
	case a := <-addrc:
		api = "http://" + a
	case err := <-errc:
		return err
	}

	// The target records when each call arrives: the activity has started and sent its request.
	arrived := make(chan time.Time, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	target := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- time.Now()
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = target.Serve(ln) }()
	defer target.Close()

	token, err := adminToken(ctx, db)
	if err != nil {
		return err
	}
	post := func(url string, body []byte) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	}
	body, _ := json.Marshal(map[string]any{"type": "http_call", "name": "bench trigger latency",
		"config": map[string]any{"url": "http://" + ln.Addr().String() + "/"}, "max_attempts": 1})
	resp, err := post(api+"/api/v1/tasks", body)
	if err != nil {
		return err
	}
	var task struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&task)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create task: %s %v", resp.Status, err)
	}

	toStart, toAccepted, toRecorded := &latencies{}, &latencies{}, &latencies{}
	began := time.Now()
	for i := 0; i < *n && ctx.Err() == nil; i++ {
		t0 := time.Now()
		resp, err := post(api+"/api/v1/tasks/"+task.ID+"/runs", nil)
		if err != nil {
			return err
		}
		var tr struct {
			RunID         string `json:"run_id"`
			WorkflowID    string `json:"workflow_id"`
			WorkflowRunID string `json:"workflow_run_id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&tr)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("trigger %d: %s %v", i, resp.Status, err)
		}
		toAccepted.add(time.Since(t0))
		select {
		case at := <-arrived:
			toStart.add(at.Sub(t0))
		case <-time.After(30 * time.Second):
			return fmt.Errorf("run %d: the activity did not call the target within 30s", i)
		}
		if err := waitEnded(ctx, token, api, tr.RunID); err != nil {
			return err
		}
		toRecorded.add(time.Since(t0))
		// The key is free once the workflow has closed, just after the run is recorded.
		if err := tc.GetWorkflow(ctx, tr.WorkflowID, tr.WorkflowRunID).Get(ctx, nil); err != nil {
			return err
		}
	}
	el := time.Since(began)
	fmt.Printf("\ntrigger latency on the development stack (embedded Temporal, in-process worker and API), %d sequential runs\n", len(toStart.all))
	fmt.Println(toAccepted.report("trigger -> 202 Accepted", el))
	fmt.Println(toStart.report("trigger -> activity started", el))
	fmt.Println(toRecorded.report("trigger -> run recorded", el))
	cancel()
	for i := 0; i < 2; i++ {
		if err := <-errc; err != nil {
			return err
		}
	}
	return nil
}

func waitEnded(ctx context.Context, token, api, runID string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		resp, err := authGet(ctx, token, api+"/api/v1/runs/"+runID)
		if err != nil {
			return err
		}
		var run struct{ Status, Error string }
		err = json.NewDecoder(resp.Body).Decode(&run)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK && run.Status != store.StatusRunning {
			if run.Status != store.StatusSucceeded {
				return fmt.Errorf("run %s ended %s: %s", runID, run.Status, run.Error)
			}
			return nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("run %s did not end within 30s", runID)
}
