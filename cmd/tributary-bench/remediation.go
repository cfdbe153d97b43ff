package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/scanner/qualys"
	"github.com/tributary-io/tributary/secrets"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

// benchRemediation measures Synchronize Qualys Scanner Remediation: N tickets (one per
// occurrence of N/10 hosts with 10 detections each) against N occurrences and E events (3/4
// single-vulnerability events, 1/4 consolidated events of 5 occurrences), each run in a child
// process (wall time, peak RSS, peak heap), next to the floor: reading the same tickets with
// the client alone, in the same run.
func benchRemediation(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("remediation", flag.ContinueOnError)
	tickets := fs.Int("tickets", 100_000, "tickets (and occurrences)")
	events := fs.Int("events", 20_000, "events")
	if err := fs.Parse(args); err != nil {
		return err
	}
	singles := *events * 3 / 4
	groups := *events - singles
	if singles+groups*5 > *tickets {
		return fmt.Errorf("%d events treat %d occurrences, more than the %d there are", *events, singles+groups*5, *tickets)
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
	sim := qualyssim.New(qualyssim.Options{Seed: 1, AssetGroups: 1, HostsPerGroup: (*tickets + 9) / 10, DetectionsPerHost: 10})
	defer sim.Close()
	fmt.Printf("Synchronize Qualys Scanner Remediation through the Qualys simulator, DATABASE %s\n\n", redactDSN(dbURL))
	vulns, err := benchTask(ctx, st, keys, tasktype.QualysVulnerabilities, sim.URL)
	if err != nil {
		return err
	}
	res, wall, _, err := runChild(ctx, "scanner-run", dbURL, keySpec, vulns.ID.String())
	if err != nil {
		return err
	}
	fmt.Printf("setup: vulnerability import %s (%d occurrences)", ms(wall), res.Counts["created"])
	start := time.Now()
	if err := benchEvents(ctx, st, vulns.ID, singles, groups); err != nil {
		return err
	}
	fmt.Printf(", %d events (%d single, %d consolidated of 5) %s\n\n", *events, singles, groups, ms(time.Since(start)))
	task, err := storeTask(ctx, st, keys, tasktype.QualysRemediation, map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "overlap_seconds": 0})
	if err != nil {
		return err
	}
	now := time.Now()
	fmt.Printf("%-52s %10s %10s %10s %8s\n", "", "wall", "peak RSS", "peak heap", "ratio")
	sim.SetGenerationAt(1, now.Add(time.Hour))
	floor, floorWall, floorRSS, err := runChild(ctx, "tickets-read", dbURL, keySpec, sim.URL)
	if err != nil {
		return err
	}
	fmt.Printf("%-52s %10s %10s %10s\n", fmt.Sprintf("client alone: read %d tickets", floor.Counts["tickets"]), ms(floorWall), mib(floorRSS), mib(floor.PeakHeap))
	for _, run := range []struct {
		label string
		gen   int
	}{{"sync: every ticket (generation 1)", 1}, {"sync: tickets modified since (generation 2)", 2}} {
		sim.SetGenerationAt(run.gen, now.Add(time.Duration(run.gen)*time.Hour))
		res, wall, rss, err := runChild(ctx, "remediation-run", dbURL, keySpec, task.ID.String())
		if err != nil {
			return err
		}
		fmt.Printf("%-52s %10s %10s %10s %7.2fx\n", run.label, ms(wall), mib(rss), mib(res.PeakHeap), float64(wall)/float64(floorWall))
		fmt.Printf("    counts %v, phases %v\n", res.Counts, res.PhaseMS)
	}
	return nil
}

// benchEvents creates the events: singles single-vulnerability events on the task's first
// occurrences, then groups consolidated events of 5 occurrences each.
func benchEvents(ctx context.Context, st *store.Store, taskID uuid.UUID, singles, groups int) error {
	if _, err := st.DB.NewRaw(`INSERT INTO events (title, created_by, created_at, updated_at)
		SELECT 'Remediation ' || g, 'bench', now(), now() FROM generate_series(1, ?) g ORDER BY g`, singles+groups).Exec(ctx); err != nil {
		return err
	}
	_, err := st.DB.NewRaw(`INSERT INTO event_occurrences (event_id, occurrence_id, asset_id, vulnerability_id)
		SELECT e.id, o.id, o.asset_id, o.vulnerability_id
		FROM (SELECT id, row_number() OVER (ORDER BY id) AS g FROM events) e
		JOIN (SELECT id, asset_id, vulnerability_id, CASE WHEN rn <= ? THEN rn ELSE ? + (rn - ? - 1) / 5 + 1 END AS g
			FROM (SELECT id, asset_id, vulnerability_id, row_number() OVER (ORDER BY id) AS rn FROM vulnerability_occurrences WHERE task_id = ?) x
			WHERE rn <= ?) o ON o.g = e.g`, singles, singles, singles, taskID, singles+groups*5).Exec(ctx)
	if err != nil {
		return err
	}
	_, err = st.DB.ExecContext(ctx, "ANALYZE events, event_occurrences")
	return err
}

// ticketsReadChild reads every ticket of the simulator at args[0] with the client alone.
func ticketsReadChild(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return errors.New("usage: tributary-bench tickets-read URL OUT.json")
	}
	c, err := qualys.New(qualys.Options{BaseURL: args[0], Username: "sim", Password: "sim-password"})
	if err != nil {
		return err
	}
	stop := sampleHeap()
	n := 0
	if _, err := c.Tickets(ctx, qualys.TicketFilter{}, func(qualys.Ticket) error { n++; return nil }); err != nil {
		return err
	}
	peak, _ := stop()
	b, _ := json.Marshal(childResult{Counts: map[string]int64{"tickets": int64(n)}, PeakHeap: int64(peak)})
	return os.WriteFile(args[1], b, 0o600)
}

// remediationRunChild runs the remediation task args[0] once in this process.
func remediationRunChild(ctx context.Context, args []string) error {
	return taskRunChild(ctx, "remediation-run", args, func(st *store.Store, keys *secrets.Keyring, _ *store.Task) (any, any) {
		acts := &activities.Remediation{Store: st, Keyring: keys}
		return acts, acts.SyncQualysRemediation
	})
}
