// Package worker assembles the Temporal worker: it registers every workflow and activity on
// the task queue and reconciles Temporal with Postgres at start.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/dispatch"
	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/sqlout"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/workflows"
)

// Options configures a worker.
type Options struct {
	// Client is the Temporal client. Required.
	Client client.Client
	// Store is the database. Required.
	Store *store.Store
	// TaskQueue is the task queue to poll. Required.
	TaskQueue string
	// Keyring opens sealed secrets inside activities. Required.
	Keyring *secrets.Keyring
	// HTTPClient sends the requests of HTTP call tasks. Optional; defaults to http.DefaultClient.
	HTTPClient *http.Client
	// ScannerTransport makes the HTTP requests of connectors to Qualys and Nexpose. Optional;
	// defaults to http.DefaultTransport.
	ScannerTransport http.RoundTripper
	// XMLDropDir is the drop directory of XML imports with a drop_glob. Optional.
	XMLDropDir string
	// MaxXMLFileBytes caps a file an XML import fetches or picks up. Optional; 1 GiB.
	MaxXMLFileBytes int64
	// Reporting runs the data-out tasks' SQL as the reporting role. Optional; without it
	// those tasks fail with a clear message.
	Reporting *sqlout.Reporting
	// XMLClient fetches the URLs of XML imports. Optional.
	XMLClient *http.Client
	// Worker holds Temporal worker options. Optional.
	Worker sdkworker.Options
	// Metrics counts runs and the rows they moved. Optional.
	Metrics *metrics.Registry
}

// Register registers Tributary's workflows and activities on r.
func Register(r sdkworker.Registry, opts Options) {
	r.RegisterWorkflowWithOptions(workflows.IntegrationTaskWorkflow, workflow.RegisterOptions{Name: workflows.IntegrationTaskName})
	r.RegisterWorkflowWithOptions(workflows.ScheduledTaskWorkflow, workflow.RegisterOptions{Name: workflows.ScheduledIntegrationTaskName})
	r.RegisterActivity(&activities.Runs{Store: opts.Store, Temporal: opts.Client, Metrics: opts.Metrics})
	r.RegisterActivity(&activities.HTTPCalls{Store: opts.Store, Keyring: opts.Keyring, Client: opts.HTTPClient})
	r.RegisterActivity(&activities.DirectoryImports{Store: opts.Store, Keyring: opts.Keyring, Metrics: opts.Metrics})
	r.RegisterWorkflowWithOptions(workflows.ConnectorOperationWorkflow, workflow.RegisterOptions{Name: workflows.ConnectorOperationName})
	r.RegisterWorkflowWithOptions(workflows.ScheduledConnectorOperationWorkflow, workflow.RegisterOptions{Name: workflows.ScheduledConnectorOperationName})
	r.RegisterActivity(&activities.Connectors{Store: opts.Store, Keyring: opts.Keyring, Transport: opts.ScannerTransport, Metrics: opts.Metrics})
	r.RegisterActivity(&activities.ScannerImports{Store: opts.Store, Keyring: opts.Keyring, Transport: opts.ScannerTransport, Metrics: opts.Metrics})
	r.RegisterActivity(&activities.Remediation{Store: opts.Store, Keyring: opts.Keyring, Transport: opts.ScannerTransport, Metrics: opts.Metrics})
	r.RegisterActivity(&activities.XMLImports{Store: opts.Store, Keyring: opts.Keyring, DropDir: opts.XMLDropDir, Client: opts.XMLClient,
		MaxFileBytes: opts.MaxXMLFileBytes})
	r.RegisterActivity(&activities.SQLExports{Store: opts.Store, Keyring: opts.Keyring, Reporting: opts.Reporting})
	r.RegisterActivity(&activities.SQLScripts{Store: opts.Store, Keyring: opts.Keyring, Reporting: opts.Reporting})
	r.RegisterActivity(&activities.Dashboards{Store: opts.Store, Keyring: opts.Keyring, Reporting: opts.Reporting})
	r.RegisterActivity(&activities.LiveUpdates{Store: opts.Store, Keyring: opts.Keyring, Metrics: opts.Metrics})
}

// New returns a worker with everything registered; start it with Run or Start.
func New(opts Options) (sdkworker.Worker, error) {
	if opts.Client == nil || opts.Store == nil || opts.TaskQueue == "" || opts.Keyring == nil {
		return nil, errors.New("worker: Client, Store, TaskQueue and Keyring are required")
	}
	w := sdkworker.New(opts.Client, opts.TaskQueue, opts.Worker)
	Register(w, opts)
	return w, nil
}

// Reconcile brings Temporal in line with Postgres when a worker starts: it registers the
// search attributes, makes every task's and connector's schedules match their configuration,
// deletes schedules whose task or connector is gone, and closes run-history rows whose
// workflow ended without saying so. Workers starting at once take turns (a Postgres advisory
// lock), and each schedule is written with its owner's row locked, as the API servers do, so
// neither a second worker nor a change made through the API meanwhile is undone.
func Reconcile(ctx context.Context, log *slog.Logger, c client.Client, namespace string, s *store.Store, d *dispatch.Dispatcher) error {
	waited := time.Now()
	return s.WithLock(ctx, "worker-reconcile", func(ctx context.Context) error {
		log.Info("reconciling", "waited_ms", time.Since(waited).Milliseconds())
		if err := dispatch.RegisterSearchAttributes(ctx, c, namespace); err != nil {
			return err
		}
		rep, err := d.ReconcileSchedules(ctx)
		log.Info("schedules reconciled", "synced", rep.Synced, "deleted", rep.Deleted, "error", errString(err))
		if err != nil {
			return fmt.Errorf("reconcile schedules: %w", err)
		}
		closed, err := d.ReconcileRuns(ctx, time.Minute)
		log.Info("run history reconciled", "closed", closed, "error", errString(err))
		if err != nil {
			return fmt.Errorf("reconcile run history: %w", err)
		}
		return nil
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
