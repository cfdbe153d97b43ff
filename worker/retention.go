package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/tributary-io/tributary/metrics"
	"github.com/tributary-io/tributary/scanner"
	"github.com/tributary-io/tributary/store"
)

// RetentionOptions configures PruneRunHistory.
type RetentionOptions struct {
	// Store is the database. Required.
	Store *store.Store
	// Keep is how long ended runs are kept. Required (> 0).
	Keep time.Duration
	// Every is how often old runs are looked for. Optional; defaults to an hour.
	Every time.Duration
	// Batch is how many runs one statement removes. Optional; defaults to 1,000.
	Batch int
	// Pause is the rest between batches. Optional; defaults to 100 ms.
	Pause time.Duration
	// Logger reports each pass that removed runs. Optional.
	Logger *slog.Logger
	// Metrics counts the runs removed. Optional.
	Metrics *metrics.Registry
}

// PruneRunHistory removes ended runs older than opts.Keep at start and then every
// opts.Every, until ctx is done. Several workers may run it at once.
func PruneRunHistory(ctx context.Context, opts RetentionOptions) {
	if opts.Every <= 0 {
		opts.Every = time.Hour
	}
	if opts.Batch <= 0 {
		opts.Batch = 1000
	}
	if opts.Pause <= 0 {
		opts.Pause = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	pause := func(ctx context.Context) error { return scanner.Sleep(ctx, opts.Pause) }
	tick := time.NewTicker(opts.Every)
	defer tick.Stop()
	for {
		before := time.Now().Add(-opts.Keep)
		n, err := opts.Store.Runs.PruneRuns(ctx, before, opts.Batch, pause)
		switch {
		case err != nil && ctx.Err() == nil:
			opts.Logger.Warn("run history not pruned", "before", before, "removed", n, "error", err.Error())
		case n > 0:
			opts.Logger.Info("run history pruned", "before", before, "removed", n)
		}
		opts.Metrics.RunsPruned(n)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
