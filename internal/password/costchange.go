package password

import (
	"context"
	"crypto/rand"
	mathrand "math/rand/v2"
	"sync"
	"time"
)

// When the configured cost changes, stored hashes keep the cost they were made with until
// their owner logs in again and NeedsRehash says to replace them. Meanwhile a check against
// such a hash costs what that hash costs, while a check for an unknown address (against a
// hash made at start-up) costs the current price: left alone, the difference tells an
// attacker which addresses have accounts.
//
// The answer chosen is to pad: a failed check of a hash made at another cost lasts, in the
// hashing slot, as long as a current-cost hash took, one drawn at random from the last
// recentHashes measured on this machine. Drawing a sample rather than taking the average keeps
// the padded failures' spread the same as the real ones' (under load, hash times are skewed
// towards long ones; failures padded to their mean would stand out by never being quick or
// slow). Two alternatives were set aside. Running a current-cost hash after every such failure
// costs old + current, still not the current cost alone, and spends the CPU an attacker asks
// for twice. Padding every failure to a fixed time would have to guess a time that fits every
// machine and load. The padding sleeps rather than computes, so failed logins against old
// accounts cost the machine less CPU than the work they imitate, but it holds the slot: the
// queue bound, the refusals and the wait estimate see a current-cost hash, and overload
// protection is what it was. A successful check is not padded: it proves the password is
// known.
//
// What padding cannot do is shorten a check: after the cost is lowered, failures against
// hashes of the higher cost stay slower than the current cost until those accounts log in.

// NeedsRehash reports whether encoded, a stored password hash, should be replaced by a hash
// of the same password made now: when it is not an argon2id PHC string of the version this
// package writes, or when its cost parameters, salt length or key length are not the
// Hasher's. Call it after Verify succeeded, while the password is at hand.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, salt, key, err := decode(encoded)
	return err != nil || p != h.params || len(salt) != saltLen || len(key) != keyLen
}

// padFailure stretches a failed check that began at start, against a hash made with other
// parameters than the current ones, to the duration of a recent current-cost hash. While no
// current-cost hash has been timed yet, it computes one instead, which also times it.
func (h *Hasher) padFailure(ctx context.Context, start time.Time) {
	target, ok := h.recent.sample()
	if !ok {
		var pw, salt [saltLen]byte
		_, _ = rand.Read(pw[:]) // crypto/rand.Read never fails
		_, _ = rand.Read(salt[:])
		began := h.now()
		h.derive(h.params, pw[:], salt[:], keyLen)
		h.observeHash(h.now().Sub(began))
		return
	}
	if rest := target - h.now().Sub(start); rest > 0 {
		h.sleep(ctx, rest)
	}
}

// recentHashes keeps the durations of the last len(d) current-cost hashes.
type recentHashes struct {
	mu     sync.Mutex
	d      [32]time.Duration
	next   int // where the next duration goes
	filled int // how many of d hold one
}

func (r *recentHashes) add(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.d[r.next] = d
	r.next = (r.next + 1) % len(r.d)
	r.filled = min(r.filled+1, len(r.d))
}

// sample returns one of the recorded durations, chosen at random, or false when there is none.
func (r *recentHashes) sample() (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.filled == 0 {
		return 0, false
	}
	return r.d[mathrand.IntN(r.filled)], true // #nosec G404 -- a timing sample, not a secret
}

// sleep waits for d or until ctx ends: a caller that is gone hears nothing, so its timing
// needs no padding.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
