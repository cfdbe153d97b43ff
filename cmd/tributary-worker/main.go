// Command tributary-worker runs Tributary's Temporal worker. At start it registers the search
// attributes, reconciles task schedules with Postgres and closes stale run-history rows.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/tributary-io/tributary/config"
	"github.com/tributary-io/tributary/internal/app"
	"github.com/tributary-io/tributary/store"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tributary-worker:", err)
		os.Exit(1)
	}
}

func run() error {
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
	c, err := app.DialTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer c.Close()
	return app.RunWorker(ctx, cfg, log, db, c)
}
