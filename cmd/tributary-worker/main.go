// Command tributary-worker runs Tributary's Temporal worker. At start it registers the search
// attributes, reconciles task schedules with Postgres and closes stale run-history rows.
package main

import "github.com/tributary-io/tributary/internal/app"

func main() {
	app.Main("tributary-worker", app.RunWorker)
}
