package outbox

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/registration"
)

// Opener unseals the payload of an outbox message; ID names its secret, so that only
// messages it can open are claimed. *registration.CodeKeys satisfies it.
type Opener interface {
	Open(sealed, keyID []byte) (registration.ActivationEmail, error)
	ID() []byte
}

// Dispatcher delivers outbox messages through a mail provider.
type Dispatcher struct {
	store    Store
	provider mail.Provider
	opener   Opener
	cfg      Config
	logger   *slog.Logger
	metrics  *Metrics
	now      func() time.Time
}

// NewDispatcher returns a Dispatcher that claims messages from store, unseals them with
// opener, renders them as activation emails from cfg.From and hands them to provider. cfg's
// unset fields take their defaults (see Config). now stamps what is written to the store;
// nil means time.Now, as does a nil logger a discarding one, and nil metrics record nothing.
func NewDispatcher(store Store, provider mail.Provider, opener Opener, cfg Config, logger *slog.Logger, metrics *Metrics, now func() time.Time) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Dispatcher{
		store:    store,
		provider: provider,
		opener:   opener,
		cfg:      cfg.WithDefaults(),
		logger:   logger,
		metrics:  metrics,
		now:      now,
	}
}

// Config returns the configuration in force, defaults filled in.
func (d *Dispatcher) Config() Config { return d.cfg }

// Run delivers messages until ctx is cancelled. It keeps up to Concurrency sends in flight,
// claiming as many messages as there are free slots, whenever wake delivers a value (wake
// may be nil) and otherwise every PollInterval. Each send has its own SendTimeout and is
// not cut short by ctx: once ctx is cancelled Run claims nothing more, waits for the sends
// in flight to finish and be recorded, and returns nil. Store failures are logged and
// retried, never returned.
func (d *Dispatcher) Run(ctx context.Context, wake <-chan struct{}) error {
	sendCtx := context.WithoutCancel(ctx)
	// Buffered for every slot, so that a finishing send never blocks after Run stopped.
	finished := make(chan struct{}, d.cfg.Concurrency)
	var wg sync.WaitGroup
	ticker := time.NewTicker(d.cfg.PollInterval)
	defer ticker.Stop()

	inFlight, due := 0, true
	for ctx.Err() == nil {
		if free := d.cfg.Concurrency - inFlight; due && free > 0 {
			claimed := d.claim(ctx, free)
			for _, m := range claimed {
				inFlight++
				wg.Go(func() {
					d.deliver(sendCtx, ctx.Done(), m)
					finished <- struct{}{}
				})
			}
			// A claim that filled every free slot may have left due messages behind: claim
			// again as soon as a slot frees instead of waiting for the next tick.
			due = len(claimed) == free
		}
		select {
		case <-ctx.Done():
		case <-finished:
			// Count every other send that ended meanwhile too, so that one claim refills all
			// their slots: a claim per freed slot would make the claims' round trips, one
			// after the other, the limit of the delivery rate.
			inFlight -= 1 + drain(finished)
		case _, ok := <-wake:
			if !ok {
				wake = nil
			}
			due = true
		case <-ticker.C:
			due = true
		}
	}
	d.logger.Info("email dispatcher stopping", "in_flight", inFlight)
	wg.Wait()
	return nil
}

// drain receives whatever ch holds without waiting and returns how many values it took.
func drain(ch <-chan struct{}) int {
	for n := 0; ; n++ {
		select {
		case <-ch:
		default:
			return n
		}
	}
}

// claim leases up to limit due messages, logging a store failure and claiming nothing.
func (d *Dispatcher) claim(ctx context.Context, limit int) []Message {
	claimed, err := d.store.Claim(ctx, d.opener.ID(), d.now(), d.cfg.Lease, limit)
	if err != nil {
		if ctx.Err() == nil {
			d.logger.Error("outbox claim failed; retrying at the next poll", "error", err.Error())
		}
		return nil
	}
	return claimed
}
