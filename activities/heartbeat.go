package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/tributary-io/tributary/store"
)

// heartbeater reports the latest progress of an activity at a steady pace from its own
// goroutine, so that an activity blocked in I/O keeps heartbeating: Temporal then neither
// times it out nor fails to deliver a cancellation.
type heartbeater struct {
	mu      sync.Mutex
	details any
	done    chan struct{}
	wg      sync.WaitGroup
}

// newHeartbeater heartbeats every interval, or more often when the activity's heartbeat
// timeout needs it (a third of the timeout).
func newHeartbeater(ctx context.Context, every time.Duration) *heartbeater {
	if every <= 0 {
		every = time.Second
	}
	if hb := activity.GetInfo(ctx).HeartbeatTimeout; hb > 0 && hb/3 < every {
		every = max(hb/3, 10*time.Millisecond)
	}
	h := &heartbeater{done: make(chan struct{})}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				h.mu.Lock()
				d := h.details
				h.mu.Unlock()
				activity.RecordHeartbeat(ctx, d)
			}
		}
	}()
	return h
}

// set replaces the progress reported by the next heartbeat.
func (h *heartbeater) set(details any) {
	h.mu.Lock()
	h.details = details
	h.mu.Unlock()
}

func (h *heartbeater) stop() {
	close(h.done)
	h.wg.Wait()
}

// whileDBDown runs write until it succeeds or fails for another reason than the database
// being unavailable (store.IsUnavailable: down, restarting, unreachable), waiting between
// tries with a backoff up to 30 s and heartbeating meanwhile, until ctx ends. The writes that
// record a task's result once its real work is done use it, so that a database restart
// neither fails the run nor makes a retry repeat the work.
func whileDBDown(ctx context.Context, write func() error) error {
	wait := 250 * time.Millisecond
	for {
		err := write()
		if err == nil || !store.IsUnavailable(err) {
			return err
		}
		if activity.IsActivity(ctx) {
			activity.RecordHeartbeat(ctx, map[string]any{"phase": "waiting for the database", "error": err.Error()})
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (the database stayed unavailable until the activity's time ran out)", err)
		case <-time.After(wait):
		}
		wait = min(wait*2, 30*time.Second)
	}
}
