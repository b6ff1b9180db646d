package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/regapi/regapi/internal/mail"
	"github.com/regapi/regapi/internal/outage"
	"github.com/regapi/regapi/internal/registration"
)

// Opener unseals the payload of an outbox message sealed under the secret keyID names; IDs
// names every secret it holds, so that only messages it can open are claimed.
// *registration.CodeKeys satisfies it.
type Opener interface {
	Open(sealed, keyID []byte) (registration.Email, error)
	IDs() [][]byte
}

// EventPoster posts account events to the rest of the product; *mail.EventWebhook is one. Post
// classifies failures as mail.Provider.Send does.
type EventPoster interface {
	Post(ctx context.Context, body []byte, id string) error
}

// Dispatcher delivers outbox messages: emails through a mail provider, account events through
// an event poster.
type Dispatcher struct {
	store    Store
	provider mail.Provider
	events   EventPoster // nil: no events are claimed
	opener   Opener
	cfg      Config
	logger   *slog.Logger
	metrics  *Metrics
	wake     <-chan struct{}
	health   *health
	// db follows the store's availability: an outage of the database is logged once when it
	// starts and once when it ends, not at every poll.
	db *outage.Tracker
	// recovered receives when an answer ends a provider outage, so that the drain starts at
	// once rather than at the next poll.
	recovered chan struct{}
}

// NewDispatcher returns a Dispatcher that claims messages from store, unseals them with
// opener, renders them from cfg.From and hands them to provider; account events go to
// events, unless it is nil, in which case none is claimed. cfg's
// unset fields take their defaults (see Config). Each value from wake (which may be nil)
// makes it claim at once instead of at the next poll. A nil logger discards, nil metrics
// record nothing. The dispatcher keeps no clock of its own for the store: every time it
// writes is the database's.
func NewDispatcher(store Store, provider mail.Provider, events EventPoster, opener Opener, cfg Config, logger *slog.Logger, metrics *Metrics, wake <-chan struct{}) *Dispatcher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.WithDefaults()
	return &Dispatcher{
		store:     store,
		provider:  provider,
		events:    events,
		opener:    opener,
		cfg:       cfg,
		logger:    logger,
		metrics:   metrics,
		wake:      wake,
		health:    newHealth(cfg.ProbeInterval),
		db:        outage.New(logger, "email dispatcher"),
		recovered: make(chan struct{}, 1),
	}
}

// Run delivers messages until ctx is cancelled. It keeps up to Concurrency sends in flight,
// claiming as many messages as there are free slots (fewer while the provider is down, see
// health) whenever a wake-up comes and otherwise every PollInterval (ProbeInterval while the
// provider is down). Each send has its own SendTimeout and is not cut short by ctx: once
// ctx is cancelled Run claims nothing more, waits for the sends in flight to finish and be
// recorded, and returns nil. Store failures are retried, never returned; an outage of the
// store is logged when it starts and when it ends (see outage.Tracker).
func (d *Dispatcher) Run(ctx context.Context) error {
	wake := d.wake
	sendCtx := context.WithoutCancel(ctx)
	// Buffered for every slot, so that a finishing send never blocks after Run stopped. Each
	// value says whether the message was an account event.
	finished := make(chan bool, d.cfg.Concurrency)
	var wg sync.WaitGroup
	ticker := newPoller(d.cfg.PollInterval)
	defer ticker.Stop()

	inFlight, due := 0, true
	for ctx.Err() == nil {
		if free := d.cfg.Concurrency - inFlight; due && free > 0 {
			started := d.start(ctx, sendCtx, &wg, finished, free)
			inFlight += started
			// A claim that filled every free slot may have left due messages behind: claim
			// again as soon as a slot frees instead of waiting for the next tick.
			due = started == free
		}
		ticker.pace(d.pollInterval())
		freed, more := d.await(ctx, finished, &wake, ticker)
		inFlight -= freed
		due = due || more
	}
	d.logger.Info("email dispatcher stopping", "in_flight", inFlight)
	wg.Wait()
	return nil
}

// await waits until there may be messages to claim: a send finished (freed counts it and
// every other that finished meanwhile), a wake-up came (a closed wake is set to nil), the
// poll ticked or the store recovered. due says whether to claim; it is false when ctx ended.
func (d *Dispatcher) await(ctx context.Context, finished <-chan bool, wake *<-chan struct{}, ticker *poller) (freed int, due bool) {
	select {
	case <-ctx.Done():
		return 0, false
	case event := <-finished:
		// One claim refills every slot freed meanwhile: a claim per freed slot would make the
		// claims' round trips, one after the other, the limit of the delivery rate. An
		// event's successor of its account is due now: claim at once, not at the next poll.
		n, events := drain(finished)
		return 1 + n, event || events
	case _, ok := <-*wake:
		if !ok {
			*wake = nil
		}
	case <-ticker.C:
	case <-d.recovered:
	}
	return 0, true
}

// start claims messages for up to free send slots and starts a send of each, which signals
// finished when it is recorded. It returns how many it started.
func (d *Dispatcher) start(ctx, sendCtx context.Context, wg *sync.WaitGroup, finished chan<- bool, free int) int {
	claimed, leaseEnd := d.claim(ctx, free)
	for _, m := range claimed {
		wg.Go(func() {
			d.deliver(sendCtx, ctx.Done(), leaseEnd, m)
			finished <- m.EventType != ""
		})
	}
	return len(claimed)
}

// pollInterval is how often to look for work without a wake-up: the probe pace while the
// provider is down, PollInterval otherwise.
func (d *Dispatcher) pollInterval() time.Duration {
	if d.health.down() {
		return min(d.cfg.ProbeInterval, d.cfg.PollInterval)
	}
	return d.cfg.PollInterval
}

// poller is a ticker whose interval changes with the provider's health.
type poller struct {
	*time.Ticker
	interval time.Duration
}

func newPoller(interval time.Duration) *poller {
	return &poller{Ticker: time.NewTicker(interval), interval: interval}
}

// pace makes the ticker tick every interval from now on, unless it does already.
func (p *poller) pace(interval time.Duration) {
	if interval != p.interval {
		p.interval = interval
		p.Reset(interval)
	}
}

// drain receives whatever ch holds without waiting and returns how many values it took, and
// whether one was true.
func drain(ch <-chan bool) (n int, event bool) {
	for ; ; n++ {
		select {
		case v := <-ch:
			event = event || v
		default:
			return n, event
		}
	}
}

// claim leases messages for up to free send slots, as many as the provider's health allows,
// logging a store failure and claiming nothing. It also returns until when, on this
// process's monotonic clock, recording the outcomes is worth retrying: the lease ran from
// some moment after the claim was sent, less the margin of one store call.
func (d *Dispatcher) claim(ctx context.Context, free int) ([]Message, time.Time) {
	start := time.Now()
	p := d.health.plan(free, start)
	if p.limit == 0 {
		return nil, start
	}
	var claimed []Message
	var err error
	if p.waiting {
		// Never sooner than BaseBackoff after a failure: the policy's floor holds in a drain too.
		claimed, err = d.store.ClaimWaiting(ctx, d.keyIDs(), d.cfg.Lease, p.limit, d.cfg.BaseBackoff)
	} else {
		claimed, err = d.store.Claim(ctx, d.keyIDs(), d.cfg.Lease, p.limit)
	}
	if p.probe && len(claimed) == 0 {
		d.health.noProbe()
	}
	if err != nil {
		if ctx.Err() == nil {
			d.db.Fail(fmt.Errorf("outbox claim: %w", err))
		}
		return nil, start
	}
	d.db.OK()
	if p.waiting && len(claimed) < p.limit {
		d.health.drained()
	}
	return claimed, start.Add(d.cfg.Lease - storeTimeout)
}

// keyIDs are the key ids of the messages this dispatcher can deliver: those of its secrets,
// and that of events when it has somewhere to post them.
func (d *Dispatcher) keyIDs() [][]byte {
	ids := d.opener.IDs()
	if d.events != nil {
		ids = append(ids, EventKeyID)
	}
	return ids
}
