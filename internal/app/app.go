// Package app wires the long-running parts of Tributary (API server and worker) from a
// Config, so that the production binaries and the development stack share one assembly.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/uptrace/bun"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/tributary-io/tributary/config"
	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/server"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/worker"
)

// DialTemporal connects to the Temporal frontend of cfg, with the SDK's metrics in the
// process's registry.
func DialTemporal(ctx context.Context, cfg config.Config, log *slog.Logger) (client.Client, error) {
	mh, err := metrics.Default().Temporal()
	if err != nil {
		return nil, fmt.Errorf("temporal metrics: %w", err)
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.TemporalNamespace,
		Logger:         sdklog.NewStructuredLogger(log.With("component", "temporal-sdk")),
		MetricsHandler: mh,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	return c, nil
}

// Dispatcher returns the dispatcher for cfg.
func Dispatcher(cfg config.Config, c client.Client, s *store.Store) (*dispatch.Dispatcher, error) {
	return dispatch.New(dispatch.Options{Client: c, Store: s, TaskQueue: cfg.TaskQueue, HeartbeatTimeout: cfg.HeartbeatTimeout})
}

// ServeAPI serves the API on cfg.HTTPAddr until ctx is done, then shuts down gracefully.
// ready, if not nil, receives the bound address once the listener is up.
func ServeAPI(ctx context.Context, cfg config.Config, log *slog.Logger, db *bun.DB, c client.Client, ready func(addr string)) error {
	s := store.New(db)
	d, err := Dispatcher(cfg, c, s)
	if err != nil {
		return err
	}
	router, err := server.NewRouter(server.Options{
		Store: s, Dispatcher: d, Temporal: c, Namespace: cfg.TemporalNamespace, TemporalUIURL: cfg.TemporalUIURL, Logger: log,
		Keyring: cfg.Keyring, TrustedProxies: cfg.TrustedProxies, MaxUploadBytes: cfg.MaxUploadBytes, UploadTimeout: cfg.UploadTimeout,
		Reporting: sqlout.NewReporting(cfg.ReportingDatabaseURL), Metrics: metrics.Default(),
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr: cfg.HTTPAddr, Handler: router, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute,
	}
	return serve(ctx, srv, log, ready)
}

// RunWorker reconciles Temporal with Postgres, then runs the worker until ctx is done.
func RunWorker(ctx context.Context, cfg config.Config, log *slog.Logger, db *bun.DB, c client.Client) error {
	s := store.New(db)
	d, err := Dispatcher(cfg, c, s)
	if err != nil {
		return err
	}
	if err := worker.Reconcile(ctx, log, c, cfg.TemporalNamespace, s, d); err != nil {
		return err
	}
	w, err := worker.New(worker.Options{Client: c, Store: s, TaskQueue: cfg.TaskQueue, Keyring: cfg.Keyring, XMLDropDir: cfg.XMLDropDir,
		MaxXMLFileBytes: cfg.MaxUploadBytes, Reporting: sqlout.NewReporting(cfg.ReportingDatabaseURL), Metrics: metrics.Default(),
		Worker: sdkworker.Options{WorkerStopTimeout: 10 * time.Second}})
	if err != nil {
		return err
	}
	// polling is set once the worker polls its task queue: /readyz says so, for Kubernetes
	// probes and load balancers; /healthz answers while the process serves at all.
	var polling atomic.Bool
	if cfg.WorkerMetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Default().Handler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			writeStatus(w, http.StatusOK, "ok")
		})
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
			if polling.Load() {
				writeStatus(w, http.StatusOK, "ready")
				return
			}
			writeStatus(w, http.StatusServiceUnavailable, "not ready")
		})
		srv := &http.Server{Addr: cfg.WorkerMetricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 30 * time.Second}
		mlog := log.With("component", "worker-metrics")
		go func() {
			// Without its metrics the worker still does its work: Prometheus shows the target
			// down, and the log says why.
			if err := serve(ctx, srv, mlog, nil); err != nil {
				mlog.Error("metrics not served", "addr", cfg.WorkerMetricsAddr, "error", err)
			}
		}()
	}
	if cfg.RunRetention > 0 {
		go worker.PruneRunHistory(ctx, worker.RetentionOptions{Store: s, Keep: cfg.RunRetention, Logger: log.With("component", "retention"),
			Metrics: metrics.Default()})
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	polling.Store(true)
	log.Info("worker polling", "task_queue", cfg.TaskQueue, "namespace", cfg.TemporalNamespace)
	<-ctx.Done()
	polling.Store(false)
	w.Stop()
	return nil
}

// writeStatus writes the worker's probe answer, {"status": "…"}, like the API server's.
func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": status})
}

func serve(ctx context.Context, srv *http.Server, log *slog.Logger, ready func(string)) error {
	ln, err := listen(srv.Addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	log.Info("listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down API: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Main is the body of a long-running binary: it reads the configuration, opens the database
// and the Temporal client, and runs fn until SIGINT or SIGTERM. It exits the process on error.
func Main(name string, fn func(ctx context.Context, cfg config.Config, log *slog.Logger, db *bun.DB, c client.Client) error) {
	err := func() error {
		cfg, err := config.FromEnv()
		if err != nil {
			return err
		}
		log := cfg.Logger()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		db, err := store.Open(ctx, cfg.DatabaseURL, store.OpenOptions{})
		if err != nil {
			return err
		}
		defer db.Close()
		if err := secrets.Verify(ctx, cfg.Keyring, store.New(db).SecretChecks); err != nil {
			return err
		}
		c, err := DialTemporal(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer c.Close()
		return fn(ctx, cfg, log, db, c)
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
