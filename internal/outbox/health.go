package outbox

import (
	"errors"
	"sync"
	"time"

	"github.com/regapi/regapi/internal/mail"
)

// outageStreak is how many temporary failures in a row, with no acceptance between them,
// make the provider count as down. One failure is the message's own business; a streak is the
// provider's.
const outageStreak = 3

// hungProbe is how many probe intervals a probe without an answer holds the next one back.
const hungProbe = 4

// health is the provider's state as one dispatcher sees it, and what that state lets it claim.
// While the provider works, every free send slot is filled with due messages. Once it fails
// outageStreak times in a row, it is down: the dispatcher sends one due message per interval
// as a probe (and none before a Retry-After the provider named), so that an outage does not
// spend every message's attempts, and the messages committed meanwhile stay due rather than
// backing off one by one.
// The first acceptance after that starts a drain: claims then also take the messages waiting
// for a retry, as many as there are free slots, until a claim comes back short (the backlog
// is gone) or the provider fails again.
type health struct {
	interval time.Duration

	mu         sync.Mutex
	failures   int       // temporary failures in a row
	draining   bool      // the provider came back: claim waiting messages too
	probeOut   bool      // a probe was claimed and has not been answered yet
	lastProbe  time.Time // when the last probe was claimed
	resumeAt   time.Time // no probe, and no drain, before this (the provider's Retry-After)
	lastAnswer time.Time // when the provider last accepted or rejected an email
}

func newHealth(probeInterval time.Duration) *health { return &health{interval: probeInterval} }

// claimPlan is what to claim for the free send slots.
type claimPlan struct {
	limit   int  // how many messages
	waiting bool // messages waiting for a retry may be taken too
	probe   bool // the claim is a probe of a provider that is down
}

// plan returns what to claim for free send slots at now.
func (h *health) plan(free int, now time.Time) claimPlan {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failures < outageStreak {
		return claimPlan{limit: free, waiting: h.draining && !now.Before(h.resumeAt)}
	}
	// A probe waits for the answer to the one before, but not for long: against a provider
	// that hangs, each probe would otherwise hold the next for a whole SendTimeout. A tenth of
	// slack: a tick that comes a little early must not skip a whole interval.
	since := now.Sub(h.lastProbe)
	if (h.probeOut && since < hungProbe*h.interval) || now.Before(h.resumeAt) || since < h.interval*9/10 || free == 0 {
		return claimPlan{}
	}
	h.probeOut, h.lastProbe = true, now
	// A probe is a due message, never a waiting one: pulling one forward would spend its
	// attempts faster than its backoff allows and shorten the outage it survives.
	return claimPlan{limit: 1, probe: true}
}

// noProbe records that a probe claim found no message to send.
func (h *health) noProbe() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probeOut = false
}

// observe takes in the provider's answer, at now, to one attempt sent at sent. It reports
// whether that answer ended an outage.
func (h *health) observe(err error, sent, now time.Time) (recovered bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probeOut = false
	var throttled *mail.ThrottledError
	switch {
	case err == nil || mail.IsPermanent(err):
		// A rejection of one email is an answer too: the provider is up.
		recovered = h.failures >= outageStreak
		h.failures, h.lastAnswer = 0, now
		h.draining = h.draining || recovered
	case errors.As(err, &throttled):
		// A provider that asks for a pause gets it from the whole backlog, not only from
		// the message it answered; and it asks as of its answer, however long ago the
		// request was sent, so a pause is never old news.
		h.failures++
		h.draining = false
		if until := now.Add(throttled.RetryAfter); until.After(h.resumeAt) {
			h.resumeAt = until
		}
	case sent.Before(h.lastAnswer):
		// Sent before the provider last answered (a send that hung through the recovery):
		// old news, which must not end the drain.
	default:
		h.failures++
		if h.failures >= outageStreak {
			h.draining = false
		}
	}
	return recovered
}

// drained ends a drain: a claim of waiting messages came back short, so none is left.
func (h *health) drained() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.draining = false
}

// down reports whether the provider counts as down.
func (h *health) down() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failures >= outageStreak
}
