package outbox

import "time"

// Config tunes a Dispatcher. The zero value of every field means its default; WithDefaults
// fills them in.
type Config struct {
	// From is the sender address of every email.
	From string
	// Templates writes the emails. Default: the built-in templates (Builtin).
	Templates *Templates
	// SendTimeout bounds one attempt to hand an email to the provider. Default 5s.
	SendTimeout time.Duration
	// Lease is how long a claimed message stays reserved for this dispatcher. It must outlast
	// a send and the recording of its outcome, or the message could be claimed and sent a
	// second time while the first send is still running. Default 2×SendTimeout + 5s.
	Lease time.Duration
	// MaxAttempts is how many attempts an email gets before it is given up on. Default 20.
	MaxAttempts int
	// BaseBackoff is the delay after a first failed attempt. Default 1s.
	BaseBackoff time.Duration
	// MaxBackoff caps the delay between attempts. Default 5m.
	MaxBackoff time.Duration
	// Concurrency is how many sends may be in flight at once. Default 16.
	Concurrency int
	// PollInterval is how often the outbox is checked without a wake-up. Default 1s.
	PollInterval time.Duration
	// ProbeInterval is how often a provider that is down is tried with one message (see
	// health). Default 250ms.
	ProbeInterval time.Duration
}

// WithDefaults returns c with every unset field at its default. A Lease too short to cover
// SendTimeout and the recording of the outcome is raised to the default lease.
func (c Config) WithDefaults() Config {
	if c.Templates == nil {
		c.Templates = builtin
	}
	c.SendTimeout = orDefault(c.SendTimeout, 5*time.Second)
	defaultLease := 2*c.SendTimeout + 5*time.Second
	c.Lease = orDefault(c.Lease, defaultLease)
	if c.Lease < c.SendTimeout+storeTimeout {
		c.Lease = defaultLease
	}
	c.MaxAttempts = orDefault(c.MaxAttempts, 20)
	c.BaseBackoff = orDefault(c.BaseBackoff, time.Second)
	c.MaxBackoff = max(orDefault(c.MaxBackoff, 5*time.Minute), c.BaseBackoff)
	c.Concurrency = orDefault(c.Concurrency, 16)
	c.PollInterval = orDefault(c.PollInterval, time.Second)
	c.ProbeInterval = orDefault(c.ProbeInterval, 250*time.Millisecond)
	return c
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
