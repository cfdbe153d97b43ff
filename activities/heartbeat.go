package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
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
