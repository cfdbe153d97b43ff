package activities_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tributary-io/tributary/activities"
	"github.com/tributary-io/tributary/internal/qualyssim"
	"github.com/tributary-io/tributary/internal/simfault"
	"github.com/tributary-io/tributary/internal/testenv"
	"github.com/tributary-io/tributary/scanner/qualys"
	"github.com/tributary-io/tributary/store"
	"github.com/tributary-io/tributary/tasktype"
)

type remediationFixture struct {
	*scanFixture
	sim   *qualyssim.Server
	acts  *activities.Remediation
	rtask *store.Task
	// occ maps a ticket number to the occurrence it describes.
	occ map[int64]int64
}

// newRemediationFixture imports the vulnerabilities of the simulator's group 1 hosts but
// the last (whose tickets stay unmatched) and makes a remediation task.
func newRemediationFixture(t *testing.T, opts qualyssim.Options, cfg map[string]any) *remediationFixture {
	sim := qualyssim.New(opts)
	t.Cleanup(sim.Close)
	f := &remediationFixture{scanFixture: newScanFixture(t), sim: sim, occ: map[int64]int64{}}
	f.acts = &activities.Remediation{Store: f.st, Keyring: f.keys, HeartbeatEvery: 10 * time.Millisecond,
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}
	vulns := f.scanFixture.task(tasktype.QualysVulnerabilities, map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password",
		"allow_plaintext_http": true, "ip_ranges": []string{fmt.Sprintf("10.1.0.1-10.1.0.%d", opts.HostsPerGroup-1)}})
	f.mustRun(vulns)
	for _, o := range f.occurrences(vulns) {
		var host, j int
		if _, err := fmt.Sscanf(o.Identity, "qualys:host=%d:qid=1000%d:", &host, &j); err != nil {
			continue
		}
		f.occ[f.sim.TicketNumber(1, host-qualyssim.HostID(1, 0), j)] = o.ID
	}
	base := map[string]any{"base_url": sim.URL, "username": "sim", "password": "sim-password", "allow_plaintext_http": true}
	for k, v := range cfg {
		base[k] = v
	}
	f.rtask = f.scanFixture.task(tasktype.QualysRemediation, base)
	return f
}

func (f *remediationFixture) sync(runID uuid.UUID) (map[string]int64, activities.RemediationDetails, error) {
	f.t.Helper()
	return execTask[activities.RemediationDetails](f.t, f.st, f.acts, f.acts.SyncQualysRemediation, runID, f.rtask.ID)
}

func (f *remediationFixture) mustSync() (map[string]int64, activities.RemediationDetails) {
	f.t.Helper()
	counts, det, err := f.sync(f.newRun(f.rtask))
	if err != nil {
		f.t.Fatalf("sync: %v", err)
	}
	return counts, det
}

func (f *remediationFixture) event(id int64) *store.EventDetail {
	f.t.Helper()
	e, err := f.st.Events.Get(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func (f *remediationFixture) entries(id int64) []store.EventProgress {
	f.t.Helper()
	list, _, err := f.st.Events.ListProgress(context.Background(), id, "", 200)
	if err != nil {
		f.t.Fatal(err)
	}
	return list
}

func (f *remediationFixture) create(consolidated bool, tickets ...int64) []int64 {
	f.t.Helper()
	var occs []int64
	for _, n := range tickets {
		occs = append(occs, f.occ[n])
	}
	ids, err := f.st.Events.Create(context.Background(), store.NewEvents{OccurrenceIDs: occs, Consolidated: consolidated,
		Actor: store.Person("alice"), Now: time.Now().UTC()})
	if err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// Tickets moving through their states over several generations keep the events in step:
// a single-vulnerability event is closed exactly while its ticket is CLOSED, a consolidated
// event's progress is the share of its tickets closed, comments are copied once, and a
// second run over the same tickets adds nothing.
func TestRemediationFollowsTickets(t *testing.T) {
	opts := qualyssim.Options{Seed: 11, AssetGroups: 1, HostsPerGroup: 9, DetectionsPerHost: 3, TicketPageSize: 4}
	f := newRemediationFixture(t, opts, map[string]any{"overlap_seconds": 0})
	if len(f.occ) != 24 {
		t.Fatalf("%d occurrences with tickets, want 24", len(f.occ))
	}
	var singles []int64
	single := map[int64]int64{} // event -> ticket
	for n := int64(1); n <= 12; n++ {
		id := f.create(false, n)[0]
		singles = append(singles, id)
		single[id] = n
	}
	consTickets := []int64{13, 14, 15, 16, 17, 18, 19, 20}
	cons := f.create(true, consTickets...)[0]

	counts, det := f.mustSync()
	wantCounts(t, counts, map[string]int64{"tickets_read": 27, "tickets_unmatched": 3, "events_closed": 0, "progress_added": 0})
	if det.UnmatchedTotal != 3 || len(det.Unmatched) != 3 || !strings.Contains(det.Unmatched[0], "ticket 25: QID 10000 on host "+qualyssim.IP(1, 8)) ||
		!strings.Contains(det.Unmatched[0], "no imported asset") || det.Pages != 7 || det.ModifiedSince != nil {
		t.Fatalf("details %+v", det)
	}
	start := f.sim.Started()
	total := map[string]int64{}
	for gen := 1; gen <= 4; gen++ {
		f.sim.SetGenerationAt(gen, start.Add(time.Duration(gen)*time.Hour))
		counts, det := f.mustSync()
		if det.ModifiedSince == nil || !det.ModifiedSince.Before(start.Add(time.Duration(gen)*time.Hour)) {
			t.Fatalf("generation %d read since %v", gen, det.ModifiedSince)
		}
		closedNow := 0
		for _, id := range singles {
			state, _ := f.sim.TicketState(single[id], gen)
			e := f.event(id)
			if (e.Status == store.EventClosed) != (state == qualys.TicketClosed) {
				t.Fatalf("generation %d: event %d of ticket %d is %s, the ticket %s", gen, id, single[id], e.Status, state)
			}
			if e.Status == store.EventClosed {
				closedNow++
				if e.Progress != 100 || e.Resolved != 1 || e.OccurrenceList[0].ResolvedBy != fmt.Sprintf("Qualys ticket %d", single[id]) {
					t.Fatalf("closed event %+v", e)
				}
			}
		}
		closed := 0
		for _, n := range consTickets {
			if s, _ := f.sim.TicketState(n, gen); s == qualys.TicketClosed {
				closed++
			}
		}
		if e := f.event(cons); e.Progress != closed*100/len(consTickets) || e.Status != store.EventOpen || e.Resolved != int64(closed) {
			t.Fatalf("generation %d: consolidated event progress %d resolved %d, %d of %d tickets closed", gen, e.Progress, e.Resolved, closed, len(consTickets))
		}
		for k, v := range counts {
			total[k] += v
		}
		// The same tickets again: nothing new.
		again, _ := f.mustSync()
		wantCounts(t, again, map[string]int64{"events_closed": 0, "events_reopened": 0, "progress_added": 0, "occurrences_resolved": 0})
		_ = closedNow
	}
	for _, k := range []string{"events_closed", "events_reopened", "events_progressed", "occurrences_resolved", "occurrences_reopened", "comments_copied"} {
		if total[k] == 0 {
			t.Errorf("four generations never counted %s: %v", k, total)
		}
	}
	// Every comment of a ticket that an event treats is there once; every entry is the task's.
	for id, n := range single {
		comments := 0
		for _, p := range f.entries(id) {
			if p.AuthorKind != "task" || p.RunID == nil {
				t.Fatalf("entry %+v", p)
			}
			if strings.Contains(p.Body, "reviewed in round") {
				comments++
			}
		}
		want := 0
		for g := 1; g <= 4; g++ {
			if f.sim.TicketComment(n, g) != "" {
				if tk := ticketHistoryHas(f.sim, n, g); tk {
					want++
				}
			}
		}
		if comments != want {
			t.Fatalf("event %d of ticket %d: %d comments copied, want %d", id, n, comments, want)
		}
	}
	hist, _, err := f.st.Events.ListHistory(context.Background(), cons, "", 200)
	if err != nil || len(hist) < 1 || hist[0].Action != "created" || hist[0].Actor != "alice" {
		t.Fatalf("history %+v %v", hist, err)
	}
}

// ticketHistoryHas reports whether generation g wrote a history entry of ticket n (a state
// change, or a comment on its own), by reading the ticket from the simulator.
func ticketHistoryHas(sim *qualyssim.Server, n int64, g int) bool {
	c, _ := qualys.New(qualys.Options{BaseURL: sim.URL, Username: "sim", Password: "sim-password"})
	want := sim.Started().Add(time.Duration(g) * time.Hour)
	found := false
	_, _ = c.Tickets(context.Background(), qualys.TicketFilter{Numbers: fmt.Sprint(n)}, func(t qualys.Ticket) error {
		for _, h := range t.History {
			if h.At.Equal(want) && h.Comment != "" {
				found = true
			}
		}
		return nil
	})
	return found
}

// A listing that fails halfway changes no event and keeps the watermark; a retry of a run
// that had already applied reports the same counts and adds nothing; an event a person
// cancelled is not closed by its ticket (an entry says what Qualys says); the resolved
// policy closes on RESOLVED too.
func TestRemediationFailuresAndRetries(t *testing.T) {
	opts := qualyssim.Options{Seed: 3, AssetGroups: 1, HostsPerGroup: 6, DetectionsPerHost: 4, TicketPageSize: 5}
	f := newRemediationFixture(t, opts, map[string]any{"close_on": "resolved"})
	var ids []int64
	for n := int64(1); n <= 20; n++ {
		ids = append(ids, f.create(false, n)[0])
	}
	f.mustSync()
	wm, ok, err := f.st.RemediationWatermark(context.Background(), f.rtask.ID)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	// A person cancels the first event whose ticket generation 1 closes.
	gen := 1
	var cancelled int64
	for i, n := 0, int64(1); n <= 20; i, n = i+1, n+1 {
		if s, _ := f.sim.TicketState(n, gen); s == qualys.TicketClosed || s == qualys.TicketResolved {
			cancelled = ids[i]
			if err := f.st.Events.SetStatus(context.Background(), cancelled, store.ActionCancel, "not ours", store.Person("bob"), time.Now().UTC()); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if cancelled == 0 {
		t.Fatal("generation 1 resolves no ticket of the first 20")
	}
	f.sim.SetGenerationAt(gen, time.Now().Add(time.Hour))
	before := map[int64]int{}
	for _, id := range ids {
		before[id] = len(f.entries(id))
	}
	// Page 3 fails (5xx, retried by the client, then given up), then a page is cut short.
	f.sim.Faults.Add(simfault.Fault{Path: qualys.PathTickets, After: 2, Status: 503, Times: 6})
	if _, _, err := f.sync(f.newRun(f.rtask)); err == nil || !strings.Contains(err.Error(), "page 3") {
		t.Fatalf("failing listing: %v", err)
	}
	f.sim.Faults.Add(simfault.Fault{Path: qualys.PathTickets, After: 1, TruncateAt: 900})
	if _, _, err := f.sync(f.newRun(f.rtask)); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated listing: %v", err)
	}
	for _, id := range ids {
		if e := f.event(id); (e.Status == store.EventClosed) || len(f.entries(id)) != before[id] {
			t.Fatalf("a failed listing changed event %d: %+v", id, e)
		}
	}
	if wm2, _, _ := f.st.RemediationWatermark(context.Background(), f.rtask.ID); !wm2.Equal(wm) {
		t.Fatalf("watermark moved by a failed listing: %v -> %v", wm, wm2)
	}
	// A clean run, then its retry (as after a crash between the apply and the run's end).
	run := f.newRun(f.rtask)
	counts, _, err := f.sync(run)
	if err != nil {
		t.Fatal(err)
	}
	if counts["events_closed"] == 0 || counts["progress_added"] == 0 {
		t.Fatalf("counts %v", counts)
	}
	snapshot := map[int64]int{}
	for _, id := range ids {
		snapshot[id] = len(f.entries(id))
	}
	again, det, err := f.sync(run)
	if err != nil || !det.Replayed {
		t.Fatalf("retry: %v %+v", err, det)
	}
	wantCounts(t, again, counts)
	for _, id := range ids {
		if n := len(f.entries(id)); n != snapshot[id] {
			t.Fatalf("the retry added entries to event %d: %d -> %d", id, snapshot[id], n)
		}
	}
	e := f.event(cancelled)
	if e.Status != store.EventCancelled {
		t.Fatalf("cancelled event became %s", e.Status)
	}
	last := f.entries(cancelled)
	if !strings.Contains(last[len(last)-1].Body, "resolved") {
		t.Fatalf("cancelled event's entries %+v", last)
	}
	for i, n := 0, int64(1); n <= 20; i, n = i+1, n+1 {
		s, _ := f.sim.TicketState(n, gen)
		if ids[i] != cancelled && (f.event(ids[i]).Status == store.EventClosed) != (s == qualys.TicketClosed || s == qualys.TicketResolved) {
			t.Fatalf("ticket %d %s, event %s", n, s, f.event(ids[i]).Status)
		}
	}
}

// An event created after its ticket was closed is closed by the next run, even when the
// ticket is not read again.
func TestRemediationLateEvent(t *testing.T) {
	opts := qualyssim.Options{Seed: 4, AssetGroups: 1, HostsPerGroup: 5, DetectionsPerHost: 4}
	f := newRemediationFixture(t, opts, map[string]any{"overlap_seconds": 0})
	f.sim.SetGenerationAt(1, f.sim.Started().Add(time.Hour))
	f.mustSync()
	var closedTicket int64
	for n := int64(1); n <= 16; n++ {
		if s, _ := f.sim.TicketState(n, 1); s == qualys.TicketClosed {
			closedTicket = n
			break
		}
	}
	if closedTicket == 0 {
		t.Fatal("no closed ticket")
	}
	id := f.create(false, closedTicket)[0]
	// Qualys lists no ticket modified since: the closed ticket is not read again.
	f.sim.Faults.Add(simfault.Fault{Path: qualys.PathTickets, Body: `<?xml version="1.0" encoding="UTF-8" ?>
<REMEDIATION_TICKETS><HEADER><DATETIME>2026-12-01T00:00:00Z</DATETIME><WHERE/></HEADER></REMEDIATION_TICKETS>`})
	counts, _ := f.mustSync()
	if counts["tickets_read"] != 0 || counts["events_closed"] != 1 {
		t.Fatalf("counts %v", counts)
	}
	if e := f.event(id); e.Status != store.EventClosed || len(e.OccurrenceList[0].Tickets) != 1 || e.OccurrenceList[0].Tickets[0] != closedTicket {
		t.Fatalf("late event %+v", e)
	}
}

// A person changing an event while the task applies: the task waits for the person's
// transaction and then works from what the person left (a cancelled event is not closed),
// so neither change is lost.
func TestRemediationWaitsForAPersonsEdit(t *testing.T) {
	opts := qualyssim.Options{Seed: 6, AssetGroups: 1, HostsPerGroup: 6, DetectionsPerHost: 3}
	f := newRemediationFixture(t, opts, map[string]any{"overlap_seconds": 0})
	ids := map[int64]int64{}
	for n := int64(1); n <= 15; n++ {
		ids[n] = f.create(false, n)[0]
	}
	f.mustSync()
	f.sim.SetGenerationAt(1, f.sim.Started().Add(time.Hour))
	var target int64
	for n := int64(1); n <= 15 && target == 0; n++ {
		if s, _ := f.sim.TicketState(n, 1); s == qualys.TicketClosed {
			target = ids[n]
		}
	}
	if target == 0 {
		t.Fatal("generation 1 closes none of the tickets")
	}
	ctx := context.Background()
	tx, err := f.st.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT 1 FROM events WHERE id = ? FOR UPDATE", target); err != nil {
		t.Fatal(err)
	}
	type result struct {
		counts map[string]int64
		err    error
	}
	done := make(chan result, 1)
	run := f.newRun(f.rtask)
	go func() {
		counts, _, err := f.sync(run)
		done <- result{counts, err}
	}()
	testenv.Eventually(t, 30*time.Second, func() error {
		var waiting int
		if err := f.st.DB.NewRaw("SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'").Scan(ctx, &waiting); err != nil || waiting == 0 {
			return fmt.Errorf("the sync is not waiting for the event yet")
		}
		return nil
	})
	if _, err := tx.ExecContext(ctx, "UPDATE events SET status = 'cancelled', closed_at = now(), version = version + 1 WHERE id = ?", target); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	e := f.event(target)
	if e.Status != store.EventCancelled || e.Resolved != 1 {
		t.Fatalf("the person's cancel was lost: %+v", e.Event)
	}
	entries := f.entries(target)
	if last := entries[len(entries)-1]; last.AuthorKind != "task" || !strings.Contains(last.Body, "is CLOSED") {
		t.Fatalf("entries %+v", entries)
	}
	closed := 0
	for _, id := range ids {
		if f.event(id).Status == store.EventClosed {
			closed++
		}
	}
	if int64(closed) != res.counts["events_closed"] || closed == 0 {
		t.Fatalf("%d events closed, counts %v", closed, res.counts)
	}
}
