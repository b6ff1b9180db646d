package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxRetryAfter bounds how long a client waits when asked to retry later.
const maxRetryAfter = 5 * time.Second

// attempt is the outcome of one request.
type attempt struct {
	status int // HTTP status; 0 when there was no response
	// err is "timeout" or "connection" when there was no response, or what was wrong with
	// the one there was ("no Retry-After")
	err string
	ok  bool // the operation's success status
	// retryAfter is the server's Retry-After on 429 and 503: a well-behaved client waits that
	// long before its next request, as this one does.
	retryAfter time.Duration
	// idle means there was nothing to do (no account ready to activate): no request was made.
	idle bool
	// done is when the response ended, set by the loop.
	done time.Time
	// class, when set, files the attempt under a part of the point too (see recorder.sub):
	// a point that interleaves two kinds of request reports each on its own.
	class string
}

// key names the attempt's outcome in the status counts.
func (a attempt) key() string {
	switch {
	case a.status == 0:
		return a.err
	case a.err != "":
		return strconv.Itoa(a.status) + " " + a.err
	}
	return strconv.Itoa(a.status)
}

// recorder collects the attempts that end within its window.
type recorder struct {
	from, to time.Time
	mu       sync.Mutex
	okLat    []time.Duration
	statuses map[string]int
	lastOK   time.Time
	firstOK  time.Time
	// sub holds, per class, the attempts of that class (see attempt.class).
	sub map[string]*recorder
}

func newRecorder(from, to time.Time) *recorder {
	return &recorder{from: from, to: to, statuses: map[string]int{}}
}

func (r *recorder) add(a attempt, latency time.Duration) {
	if a.idle || a.done.Before(r.from) || a.done.After(r.to) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.class != "" {
		if r.sub == nil {
			r.sub = map[string]*recorder{}
		}
		if r.sub[a.class] == nil {
			r.sub[a.class] = newRecorder(r.from, r.to)
		}
		part := a
		part.class = ""
		r.sub[a.class].add(part, latency)
	}
	r.statuses[a.key()]++
	if a.ok {
		r.okLat = append(r.okLat, latency)
		if r.firstOK.IsZero() || a.done.Before(r.firstOK) {
			r.firstOK = a.done
		}
		if a.done.After(r.lastOK) {
			r.lastOK = a.done
		}
	}
}

// percentiles of the successful requests' latencies, in milliseconds.
type percentiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func latencyPercentiles(lat []time.Duration) percentiles {
	if len(lat) == 0 {
		return percentiles{}
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(q*float64(len(s))+0.999999) - 1
		return float64(s[min(max(i, 0), len(s)-1)].Microseconds()) / 1000
	}
	return percentiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: at(1)}
}

// closedLoop keeps c requests in flight (constant concurrency): each of c workers sends its
// next request when the previous one ends, after the server's Retry-After if it gave one.
// Attempts ending between from and to are recorded; at to the requests still running are
// cancelled. A limit of zero or more stops the workers after that many requests in all.
func closedLoop(ctx context.Context, c int, from, to time.Time, limit int, do func(context.Context) attempt) *recorder {
	rec := newRecorder(from, to)
	ctx, cancel := context.WithDeadline(ctx, to)
	defer cancel()
	var left atomic.Int64
	left.Store(int64(limit))
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for ctx.Err() == nil && (limit < 0 || left.Add(-1) >= 0) {
				start := time.Now()
				a := do(ctx)
				a.done = time.Now()
				rec.add(a, a.done.Sub(start))
				switch {
				case a.idle:
					left.Add(1)
					sleep(ctx, 10*time.Millisecond)
				case a.retryAfter > 0:
					sleep(ctx, min(a.retryAfter, maxRetryAfter))
				}
			}
		})
	}
	wg.Wait()
	return rec
}

// openLoop starts requests at a constant rate for d, whatever the server's pace, keeping at
// most maxInFlight outstanding (beyond that a start is skipped and counted as "skipped").
// Latency counts from the scheduled start, so a slow server cannot hide its queue.
func openLoop(ctx context.Context, rate float64, d time.Duration, maxInFlight int, do func(context.Context) attempt) *recorder {
	start := time.Now()
	rec := newRecorder(start, start.Add(d+time.Minute))
	interval := time.Duration(float64(time.Second) / rate)
	slots := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		sleep(ctx, time.Until(at))
		select {
		case slots <- struct{}{}:
		default:
			rec.add(attempt{err: "skipped", done: time.Now()}, 0)
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			a := do(ctx)
			a.done = time.Now()
			rec.add(a, a.done.Sub(at))
		})
	}
	wg.Wait()
	return rec
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// client is the HTTP client of one run: a connection per worker, kept alive.
type client struct {
	http *http.Client
}

// requestTimeout is far beyond any wait the server should impose: a request that reaches it
// is the failure the benchmark looks for.
const requestTimeout = 30 * time.Second

func newClient(conns int) *client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns + 16,
		MaxIdleConnsPerHost: conns + 16,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &client{http: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// failure classifies a request that got no response.
func failure(err error) attempt {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return attempt{err: "cancelled"}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return attempt{err: "timeout"}
	}
	return attempt{err: "connection"}
}
