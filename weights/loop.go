package weights

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-gtm/meridian/internal/debounce"
	"github.com/meridian-gtm/meridian/model"
)

// LoopConfig tunes how eagerly the loop re-solves. The loop is the one
// debounce between a change anywhere (an EndpointSlice, a probe verdict, an
// override) and the answer that shows it: discovery and health hand their
// changes over at once (see internal/debounce).
type LoopConfig struct {
	// HoldOff is how long the loop waits for more changes after one
	// arrives, so that a burst of changes (and the Inventory and Health
	// that one change can produce together) costs one Solve. Default
	// 20 ms (debounce.DefaultHoldOff).
	HoldOff time.Duration
	// MaxDelay bounds how long a steady stream of changes can postpone a
	// Solve. Default 200 ms (debounce.DefaultMaxDelay).
	MaxDelay time.Duration
	Logger   *slog.Logger
}

func (c *LoopConfig) validate() {
	t := debounce.Timing{HoldOff: c.HoldOff, MaxDelay: c.MaxDelay}.WithDefaults()
	c.HoldOff, c.MaxDelay = t.HoldOff, t.MaxDelay
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Loop owns the inputs of Solve, re-solves when they change, and hands each
// new Plan to its observers. Setters may be called from any goroutine and
// never block; Run does the work on one goroutine.
type Loop struct {
	cfg       LoopConfig
	now       func() time.Time
	wake      chan struct{}
	observers []observer
	plan      atomic.Pointer[model.Plan]
	// inputsAt and solvedAt are Unix nanoseconds: the latest change of an
	// input, and the latest Solve whose Plan is in force (published, or
	// found equal to the one in force). Metrics read them.
	inputsAt, solvedAt atomic.Int64

	// Used by Run's goroutine only: the overrides as the last solve saw
	// them, by ID, and when, so that changes and expiries are logged.
	logged   map[string]model.Override
	loggedAt time.Time

	mu        sync.Mutex
	inventory model.Inventory
	hasInv    bool
	health    model.Health
	overrides model.Overrides
	policies  model.Policies
	gen       uint64        // counts input changes
	solved    uint64        // the gen of the inputs last solved
	solvedCh  chan struct{} // closed when solved next moves
	solver    Solver        // used by Run's goroutine only
}

// NewLoop returns a loop with the given policies. It publishes nothing until
// the first inventory arrives: a Plan made from no clusters would send every
// client away.
func NewLoop(cfg LoopConfig, policies model.Policies) *Loop {
	cfg.validate()
	return &Loop{cfg: cfg, now: time.Now, wake: make(chan struct{}, 1), policies: policies, solvedCh: make(chan struct{})}
}

// observer is a subscriber's function and the queue of one Plan that feeds
// its goroutine.
type observer struct {
	ch chan *model.Plan
	fn func(*model.Plan)
}

// Subscribe registers fn to receive every new Plan, in order, on a
// goroutine of its own that Run starts and waits for. A slow observer
// skips to the newest Plan instead of holding up the loop or the other
// observers. Call it before Run.
func (l *Loop) Subscribe(fn func(*model.Plan)) {
	l.observers = append(l.observers, observer{ch: make(chan *model.Plan, 1), fn: fn})
}

// Plan returns the newest published Plan, nil before the first.
func (l *Loop) Plan() *model.Plan { return l.plan.Load() }

// Solved returns when the Plan in force was last solved from the inputs:
// made, or found unchanged by a later Solve. Zero before the first Plan.
func (l *Loop) Solved() time.Time { return unixNano(l.solvedAt.Load()) }

// InputsChanged returns when an input (inventory, health, overrides,
// policies) last changed. When it is after Solved, a Solve is pending;
// pending for long, the loop is stuck.
func (l *Loop) InputsChanged() time.Time { return unixNano(l.inputsAt.Load()) }

func unixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// SetInventory replaces the inventory.
func (l *Loop) SetInventory(inv model.Inventory) {
	l.update(func() { l.inventory, l.hasInv = inv, true })
}

// SetHealth replaces the health verdicts.
func (l *Loop) SetHealth(h model.Health) { l.update(func() { l.health = h }) }

// SetOverrides replaces the operators' overrides.
func (l *Loop) SetOverrides(o model.Overrides) { l.update(func() { l.overrides = o }) }

// Preview solves the current inputs with other overrides, without
// publishing: what the Plan would be (for dry runs). Nil before the
// first inventory.
func (l *Loop) Preview(o model.Overrides) *model.Plan {
	l.mu.Lock()
	inv, health, pol, ok := l.inventory, l.health, l.policies, l.hasInv
	l.mu.Unlock()
	if !ok {
		return nil
	}
	return Solve(l.now(), inv, health, o, pol)
}

// ApplyOverrides replaces the overrides and waits until a Plan made with
// them is published (or found equal to the current one), so that an
// operator's write is in force when it is acknowledged. It returns early
// when ctx ends.
func (l *Loop) ApplyOverrides(ctx context.Context, o model.Overrides) error {
	var gen uint64
	l.update(func() { l.overrides = o; gen = l.gen })
	for {
		l.mu.Lock()
		done, ch := l.solved >= gen, l.solvedCh
		l.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// SetPolicies replaces the services' policies.
func (l *Loop) SetPolicies(p model.Policies) { l.update(func() { l.policies = p }) }

func (l *Loop) update(set func()) {
	l.mu.Lock()
	l.gen++
	set()
	l.inputsAt.Store(l.now().UnixNano())
	l.mu.Unlock()
	debounce.Notify(l.wake)
}

// Run re-solves until ctx ends, then closes the observers' queues and
// waits for them to finish the Plan in hand.
func (l *Loop) Run(ctx context.Context) {
	var observers sync.WaitGroup
	for _, o := range l.observers {
		observers.Go(func() {
			for p := range o.ch {
				o.fn(p)
			}
		})
	}
	defer func() {
		for _, o := range l.observers {
			close(o.ch)
		}
		observers.Wait()
	}()
	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
			if !(debounce.Timing{HoldOff: l.cfg.HoldOff, MaxDelay: l.cfg.MaxDelay}).Wait(ctx, l.wake) {
				return
			}
		case <-expiry.C:
		}
		expiry.Stop()
		if next := l.solve(); !next.IsZero() {
			expiry.Reset(time.Until(next))
		}
	}
}

// solve computes a Plan from the current inputs and publishes it if its
// content is new. It returns the next moment at which time alone changes
// the Plan (an override expiring, a lost cluster's grace ending); zero if none.
func (l *Loop) solve() time.Time {
	now := l.now()
	l.mu.Lock()
	inv, hasInv, health, ovr, pol, gen := l.inventory, l.hasInv, l.health, l.overrides, l.policies, l.gen
	l.mu.Unlock()
	defer l.markSolved(gen)
	l.logOverrides(now, ovr)
	next := nextChange(now, inv, ovr, pol)
	if !hasInv {
		return next
	}
	start := time.Now()
	p := l.solver.Solve(now, inv, health, ovr, pol)
	prev := l.plan.Load()
	if prev != nil && prev.Version == p.Version {
		l.solvedAt.Store(now.UnixNano())
		return next
	}
	l.plan.Store(p)
	l.solvedAt.Store(now.UnixNano())
	l.cfg.Logger.Info("plan published", "version", p.VersionText(), "services", len(p.Services),
		"sites", len(p.Sites), "solve_time", time.Since(start))
	for _, o := range l.observers {
		select { // drop the unread older plan, if any
		case <-o.ch:
		default:
		}
		o.ch <- p
	}
	l.logChanges(prev, p) // after the hand-off: explaining never delays DNS or xDS
	return next
}

// logOverrides logs, at info, every override added, changed, removed or
// expired since the last solve, whatever its source (the API, the config
// file, another replica through the shared store), with its kind,
// service, cluster, reason and expiry. The API logs who made a write; this
// says what the engine now uses.
func (l *Loop) logOverrides(now time.Time, ovr model.Overrides) {
	seen := make(map[string]model.Override, len(ovr.Items()))
	log := l.cfg.Logger
	for _, o := range ovr.Items() {
		seen[o.ID] = o
		old, known := l.logged[o.ID]
		switch {
		case !known:
			log.Info("override added", "override", o, "active", o.ActiveAt(now))
		case !old.Equal(o):
			log.Info("override changed", "override", o, "active", o.ActiveAt(now))
		case old.ActiveAt(l.loggedAt) && !o.ActiveAt(now):
			log.Info("override expired", "override", o)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(l.logged)) {
		if _, ok := seen[id]; !ok {
			log.Info("override removed", "override", l.logged[id])
		}
	}
	l.logged, l.loggedAt = seen, now
}

// maxChangeLines bounds the debug lines one new Plan logs: a change that
// moves every route of a large Plan says how many more moved instead.
const maxChangeLines = 200

// logChanges logs, at debug, which shares moved from prev to p and why:
// one line per service and set of clients whose route changed. Nothing is
// computed unless debug logging is on; nothing is logged per query.
func (l *Loop) logChanges(prev, p *model.Plan) {
	log := l.cfg.Logger
	if !log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	changes := model.PlanChanges(prev, p)
	for i, c := range changes {
		if i == maxChangeLines {
			log.Debug("plan change: more routes changed", "plan", p.VersionText(), "more", len(changes)-i)
			break
		}
		moves := make([]string, len(c.Moves))
		for j, m := range c.Moves {
			moves[j] = m.String()
		}
		mode := c.After.String()
		if c.Before != c.After && prev != nil { // the first Plan's routes had no mode before
			mode = c.Before.String() + " → " + mode
		}
		log.Debug("plan change", "plan", p.VersionText(), "service", c.Service, "clients", c.Clients, "mode", mode,
			"shares", strings.Join(moves, ", "), "why", c.Summary)
	}
}

// markSolved records that the inputs of generation gen are in the
// published Plan and wakes ApplyOverrides.
func (l *Loop) markSolved(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen > l.solved {
		l.solved = gen
		close(l.solvedCh)
		l.solvedCh = make(chan struct{})
	}
}

// nextChange returns the first moment after now at which an override
// expires or a lost cluster's grace period ends; zero if none will.
func nextChange(now time.Time, inv model.Inventory, ovr model.Overrides, pol model.Policies) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, o := range ovr.Items() {
		if !o.Expires.IsZero() {
			consider(o.Expires)
		}
	}
	for _, c := range inv.Clusters() {
		if !c.LostAt.IsZero() {
			consider(c.LostAt.Add(pol.StaleGrace))
		}
	}
	return next
}
