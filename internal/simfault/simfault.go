// Package simfault holds what the scanner simulators share: injected faults, request logs
// and deterministic data choices from a seed. Test support code only.
package simfault

import (
	"bytes"
	"hash/fnv"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is one injected failure, served instead of (or to spoil) the next matching requests.
type Fault struct {
	// Path is the path prefix the fault applies to; empty matches every request.
	Path string
	// After is how many matching requests pass unharmed before the fault applies.
	After int
	// Times is how many matching requests get the fault. Optional; defaults to 1.
	Times int
	// Status is the HTTP status to answer with (409, 429, 500, 401...). 0 serves the real answer.
	Status int
	// Code is the vendor error code (Qualys 1965, 1960, 2000...).
	Code string
	// Text is the vendor error text.
	Text string
	// WaitSeconds is the advised wait: Qualys SECONDS_TO_WAIT and X-RateLimit-ToWait-Sec, or Retry-After.
	WaitSeconds int
	// Delay holds the answer back.
	Delay time.Duration
	// TruncateAt cuts the real answer's body after this many bytes.
	TruncateAt int
	// Body replaces the real answer's body (status 200 unless Status is set).
	Body string
}

// Faults is a queue of faults and a log of requests, safe for concurrent use.
type Faults struct {
	mu       sync.Mutex
	queue    []*Fault
	requests []string
}

// Add queues faults.
func (f *Faults) Add(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range faults {
		ft := faults[i]
		if ft.Times <= 0 {
			ft.Times = 1
		}
		f.queue = append(f.queue, &ft)
	}
}

// Next logs r and returns the fault it gets, if any.
func (f *Faults) Next(r *http.Request) *Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, r.URL.RequestURI())
	for i, ft := range f.queue {
		if strings.HasPrefix(r.URL.Path, ft.Path) {
			if ft.After > 0 {
				ft.After--
				return nil
			}
			ft.Times--
			if ft.Times <= 0 {
				f.queue = append(f.queue[:i], f.queue[i+1:]...)
			}
			c := *ft
			return &c
		}
	}
	return nil
}

// Requests returns the request URIs served so far.
func (f *Faults) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// Pending is how many faults are still queued.
func (f *Faults) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.queue)
}

// Vendor is what a simulator's faults need to know about its vendor's wire format.
type Vendor struct {
	// ContentType of raw fault bodies.
	ContentType string
	// WaitHeaders sets the headers that advise a wait of seconds.
	WaitHeaders func(h http.Header, seconds int)
	// WriteError writes the vendor's error answer for a fault with a Status.
	WriteError func(w http.ResponseWriter, r *http.Request, f *Fault)
}

// Serve applies the next fault for r, if any: it delays, sets wait headers, and answers with
// a raw body or an error, or arranges a truncated answer. It returns the writer to serve the
// real answer with, and false when the request has been answered (or abandoned).
func (f *Faults) Serve(w http.ResponseWriter, r *http.Request, v Vendor) (http.ResponseWriter, bool) {
	ft := f.Next(r)
	if ft == nil {
		return w, true
	}
	if ft.Delay > 0 {
		select {
		case <-time.After(ft.Delay):
		case <-r.Context().Done():
			return w, false
		}
	}
	if ft.WaitSeconds > 0 {
		v.WaitHeaders(w.Header(), ft.WaitSeconds)
	}
	switch {
	case ft.Body != "":
		w.Header().Set("Content-Type", v.ContentType)
		w.WriteHeader(max(ft.Status, http.StatusOK))
		_, _ = w.Write([]byte(ft.Body))
		return w, false
	case ft.Status != 0:
		v.WriteError(w, r, ft)
		return w, false
	case ft.TruncateAt > 0:
		return &Truncating{ResponseWriter: w, N: ft.TruncateAt}, true
	}
	return w, true
}

// Truncating wraps a ResponseWriter so that at most N body bytes are written, when N > 0;
// the rest is dropped and the answer ends cleanly, as a body cut by a proxy would.
type Truncating struct {
	http.ResponseWriter
	N    int
	done bool
}

func (t *Truncating) Write(p []byte) (int, error) {
	if t.N <= 0 {
		return t.ResponseWriter.Write(p)
	}
	if t.done {
		return len(p), nil
	}
	if len(p) >= t.N {
		_, err := t.ResponseWriter.Write(p[:t.N])
		t.done = true
		return len(p), err
	}
	t.N -= len(p)
	return t.ResponseWriter.Write(p)
}

// Hash is a deterministic choice in [0, n) from the seed and parts.
func Hash(seed int64, n uint64, parts ...int64) uint64 {
	h := fnv.New64a()
	b := []byte(strconv.FormatInt(seed, 10))
	h.Write(b)
	for _, p := range parts {
		h.Write([]byte{':'})
		h.Write([]byte(strconv.FormatInt(p, 10)))
	}
	return h.Sum64() % n
}

// Mutation is what a generation does to one base finding.
type Mutation int

// Mutations of odd generations: 10% of the base findings are gone, 10% changed, and 10% more are new.
const (
	Same Mutation = iota
	Gone
	Changed
)

// Mutate says what generation gen does to the base finding identified by parts. Even
// generations serve the base data; odd ones change it.
func Mutate(seed int64, gen int, parts ...int64) Mutation {
	if gen%2 == 0 {
		return Same
	}
	switch Hash(seed, 10, parts...) {
	case 0:
		return Gone
	case 1:
		return Changed
	}
	return Same
}

// Extra is how many new findings an odd generation adds to a base of n (10%).
func Extra(gen, n int) int {
	if gen%2 == 0 {
		return 0
	}
	return (n + 9) / 10
}

// Answers is an http.RoundTripper that answers every request with the function's status
// and body, without a network: fixture and fuzz tests of the vendor clients use it.
type Answers func(r *http.Request) (status int, body []byte)

// RoundTrip answers r.
func (a Answers) RoundTrip(r *http.Request) (*http.Response, error) {
	status, body := a(r)
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}
