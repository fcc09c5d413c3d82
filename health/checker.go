package health

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// Config is what a Checker needs.
type Config struct {
	// Checks holds the health block of every probed service, by the
	// service's FQDN. A service without one is not probed: its targets
	// are up (model.NotProbed) and the engine judges them by readiness.
	Checks map[string]Check
	// Workers bounds the probes in flight; default 512.
	Workers int
	// Replica names this Meridian in state-change logs.
	Replica string
	Logger  *slog.Logger
	// Publish receives every new Health; it is called from the Checker's
	// goroutine and must not block for long.
	Publish func(model.Health)
	// Metrics, when set, counts probes and state changes.
	Metrics *Metrics
	// Source is where every probe is sent from; zero: wherever the kernel
	// picks. It is fixed for the Checker's life.
	Source Source
	// Quorum counts this replica's probe verdicts with the other replicas'
	// (SetPeers) into the verdict they all serve; zero: a strict majority.
	Quorum Quorum
	// Share, when set, receives this replica's probe verdicts whenever
	// they change, for the other replicas; it is called from the Checker's
	// goroutine and must not block.
	Share func(model.ProbeReport)
	// AwaitPeers holds every probed target Unknown (usable) until the
	// first SetPeers, so that a replica starting beside others does not
	// fail a target over alone before it has read their verdicts.
	AwaitPeers bool

	// dialEach probes TCP with a goroutine and a net.Dialer per probe,
	// as builds without batched connects do, even where they exist: for
	// benchmarks and tests of that path.
	dialEach bool
}

// Checker probes every ingress address of every service in the Inventory
// and publishes the probe verdicts as model.Health. Readiness is not its to
// judge: the engine reads ready pods from the Inventory (model.ReadyState),
// so a change of ready pods publishes no new Health. One goroutine
// schedules every target from a heap of due times and hands probes to a
// bounded pool of workers; it alone owns the targets, so nothing but the
// hand-over locks.
type Checker struct {
	cfg  Config
	wake chan struct{}
	seed maphash.Seed // of the targets' offsets in their interval

	mu          sync.Mutex // guards the inputs below until Run takes them
	inv         model.Inventory
	invSet      bool
	checks      map[string]Check
	checksDirty bool
	peers       []model.ProbeReport
	peersKnown  bool
	quorum      Quorum
	peersDirty  bool // peers or quorum changed

	// Owned by Run's goroutine.
	services     map[string]*service
	queue        dueQueue
	health       model.Health
	dirty        map[*service]bool    // services whose verdicts changed
	removed      bool                 // a service left; publish even if none is dirty
	votes        peerVotes            // the other replicas' live verdicts
	awaiting     bool                 // AwaitPeers, and no SetPeers yet
	shared       []model.TargetHealth // the verdicts last handed to Share
	sharedProbes []string
	sharedQuorum string
	reshare      bool      // this replica's probe verdicts may have changed
	sharedAt     time.Time // when they were; zero before the first time
}

// service is one global service as the Checker probes it.
type service struct {
	name       string
	check      Check        // Kind "" or "none": not probed
	prober     *prober      // nil when not probed
	backendsID model.ListID // of the Inventory's list as last seen, to skip unchanged services
	targets    map[targetKey]*target
}

type targetKey struct {
	cluster string
	addr    netip.Addr
}

// target is one ingress address of one service in one cluster.
type target struct {
	svc      *service
	key      targetKey
	probe    Verdict            // what this replica's probes say
	verdict  model.TargetHealth // the probe verdict as published (quorum counted)
	due      time.Time          // when the next probe should start
	slot     time.Time          // its place in the interval; zero until the first probe
	index    int                // in the queue; -1 when not queued
	inFlight bool
	removed  bool
	job      job // its probe; one at a time, so it is reused
}

// job is one probe handed to a worker, and its result handed back.
type job struct {
	t      *target
	prober *prober
	kind   string
	addr   netip.Addr
	// Filled in by the worker.
	outcome  outcome
	reason   string
	start    time.Time
	duration time.Duration
}

// newJob returns t's job, ready for its next probe.
func (t *target) newJob() *job {
	t.job = job{t: t, prober: t.svc.prober, kind: t.svc.check.Kind, addr: t.key.addr}
	return &t.job
}

// New returns a Checker; Run starts it.
func New(cfg Config) *Checker {
	if cfg.Workers <= 0 {
		cfg.Workers = 512
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Publish == nil {
		cfg.Publish = func(model.Health) {}
	}
	return &Checker{cfg: cfg, wake: make(chan struct{}, 1), seed: maphash.MakeSeed(), checks: cfg.Checks, checksDirty: true, quorum: cfg.Quorum,
		services: map[string]*service{}, dirty: map[*service]bool{}, awaiting: cfg.AwaitPeers}
}

// SetInventory hands the Checker the latest Inventory: probes start at once
// for new targets and stop for those that left it.
func (c *Checker) SetInventory(inv model.Inventory) {
	c.mu.Lock()
	c.inv, c.invSet = inv, true
	c.mu.Unlock()
	c.poke()
}

// SetChecks replaces the health blocks of the services, as a reload does.
// Verdicts survive: a changed probe judges a target from its current state.
func (c *Checker) SetChecks(checks map[string]Check) {
	c.mu.Lock()
	c.checks, c.checksDirty = checks, true
	c.mu.Unlock()
	c.poke()
}

// SetQuorum replaces the quorum rule, as a reload does.
func (c *Checker) SetQuorum(q Quorum) {
	c.mu.Lock()
	c.quorum, c.peersDirty = q, true
	c.mu.Unlock()
	c.poke()
}

// SetPeers hands the Checker the live reports of the other replicas:
// every probed target is judged again by the quorum rule at once.
func (c *Checker) SetPeers(reports []model.ProbeReport) {
	c.mu.Lock()
	c.peers, c.peersKnown, c.peersDirty = reports, true, true
	c.mu.Unlock()
	c.poke()
}

func (c *Checker) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run schedules probes until ctx ends, then waits for the probes in flight.
// TCP probes go to a connector, which connects in rounds, where the system
// has one (Linux); every other probe to a worker.
func (c *Checker) Run(ctx context.Context) {
	jobs := make(chan *job)
	results := make(chan *job, c.cfg.Workers)
	var workers sync.WaitGroup
	for range c.cfg.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				j.start = time.Now()
				j.outcome, j.reason = j.prober.probe(ctx, j.addr)
				j.duration = time.Since(j.start)
				results <- j
			}
		}()
	}
	defer func() {
		close(jobs)
		go func() { workers.Wait(); close(results) }()
		for range results {
		}
	}()
	conn := c.newConnector()
	if conn != nil {
		defer conn.close()
	}
	var due []*job          // the TCP probes of a round
	var lastRound time.Time // when the connector last ran a round

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := time.Now()
		if conn != nil && !now.Before(lastRound.Add(probeRound)) {
			for len(c.queue) > 0 && !c.queue[0].due.After(now) && c.queue[0].svc.check.Kind == "tcp" {
				due = append(due, c.dequeue(now).newJob())
			}
			if len(due) > 0 || conn.busy() {
				for _, j := range conn.round(due, now) {
					c.finish(j, now)
				}
				clear(due)
				due, lastRound = due[:0], now
			}
		}
		var send chan<- *job
		var next *job
		wait := time.Duration(-1) // none
		if len(c.queue) > 0 {
			t := c.queue[0]
			switch {
			case t.due.After(now):
				wait = t.due.Sub(now)
			case conn != nil && t.svc.check.Kind == "tcp":
				wait = lastRound.Add(probeRound).Sub(now) // at the next round
			default:
				send = jobs
				next = t.newJob()
			}
		}
		if conn != nil && conn.busy() {
			if w := lastRound.Add(probeRound).Sub(now); wait < 0 || w < wait {
				wait = w
			}
		}
		if wait >= 0 {
			timer.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
			c.reconcile(time.Now())
		case <-timer.C:
		case send <- next:
			c.dequeue(time.Now())
		case j := <-results:
			c.finish(j, time.Now())
			// Take whatever else is ready before publishing once.
			for drained := false; !drained; {
				select {
				case j := <-results:
					c.finish(j, time.Now())
				default:
					drained = true
				}
			}
		}
		c.publish()
	}
}

// probeRound is the time between two rounds of the connector. Ten
// thousand TCP targets a second make 50 probes a round; a probe starts,
// and its verdict comes, at most a round late, which is well within the
// usual jitter of a target's place in its interval (100 ms).
const probeRound = 5 * time.Millisecond

// newConnector returns the connector of TCP probes, or nil where probes
// dial one by one.
func (c *Checker) newConnector() *connector {
	if c.cfg.dialEach {
		return nil
	}
	conn, err := newConnector()
	if err != nil {
		if !errors.Is(err, errors.ErrUnsupported) {
			c.cfg.Logger.Warn("TCP probes dial one by one", "err", err.Error())
		}
		return nil
	}
	return conn
}

// dequeue takes the first target off the queue as its probe starts.
func (c *Checker) dequeue(now time.Time) *target {
	t := heap.Pop(&c.queue).(*target)
	t.inFlight = true
	c.cfg.Metrics.scheduled(now.Sub(t.due))
	return t
}

// reconcile brings the targets in line with the latest Inventory and checks.
func (c *Checker) reconcile(now time.Time) {
	c.mu.Lock()
	inv, invSet := c.inv, c.invSet
	checks, checksDirty := c.checks, c.checksDirty
	peers, peersKnown, quorum, peersDirty := c.peers, c.peersKnown, c.quorum, c.peersDirty
	c.checksDirty, c.peersDirty = false, false
	c.mu.Unlock()
	if peersDirty {
		c.votes, c.cfg.Quorum = newPeerVotes(peers), quorum
		c.awaiting = c.cfg.AwaitPeers && !peersKnown
		c.reshare = true // the report carries the rule
		c.judgeProbed(now)
	}
	if !invSet {
		return
	}
	names := inv.Services()
	seen := make(map[string]bool, len(names))
	for _, name := range names {
		seen[name] = true
		s := c.services[name]
		if s == nil {
			s = &service{name: name, targets: map[targetKey]*target{}}
			c.services[name] = s
			c.setCheck(s, checks[name], now)
		} else if checksDirty {
			c.setCheck(s, checks[name], now)
		}
		if id := inv.BackendsID(name); id != s.backendsID {
			s.backendsID = id
			c.setBackends(s, inv.BackendsOf(name), now)
		}
	}
	for name, s := range c.services {
		if !seen[name] {
			c.setBackends(s, nil, now)
			delete(c.services, name)
			c.health = c.health.WithService(name, nil)
			c.removed = true
		}
	}
	c.cfg.Metrics.setTargets(c.countTargets())
}

// judgeProbed judges every probed target again, as new peer verdicts ask.
func (c *Checker) judgeProbed(now time.Time) {
	for _, s := range c.services {
		if s.prober == nil {
			continue
		}
		for _, t := range s.targets {
			c.judge(t, now)
		}
	}
}

// setCheck gives s a new health block, when it changed.
func (c *Checker) setCheck(s *service, check Check, now time.Time) {
	if sameCheck(s.check, check) && (s.prober != nil || !probed(check)) {
		return
	}
	s.check, s.prober = check, nil
	c.reshare = true
	if probed(check) {
		p, err := newProber(check, c.cfg.Source)
		if err != nil {
			// The config was validated; a file may have gone since. Leave
			// the service to readiness rather than failing every target.
			c.cfg.Logger.Error("health check cannot run; the service is judged by readiness alone",
				"service", s.name, "err", err.Error())
		} else {
			s.prober = p
		}
	}
	for _, t := range s.targets {
		c.unqueue(t)
		if s.prober != nil {
			c.schedule(t, now, s.check.Jitter)
		} else {
			t.probe = Verdict{}
		}
		c.judge(t, now)
	}
}

// sameCheck reports whether two health blocks probe alike, wherever in
// the file they are.
func sameCheck(a, b Check) bool {
	a.Pos, b.Pos = "", ""
	return reflect.DeepEqual(a, b)
}

func probed(check Check) bool { return check.Kind != "" && check.Kind != "none" }

// setBackends adds targets for new addresses and removes the ones gone
// (SetInventory skips a service whose list is unchanged). Ready pods are
// not read: readiness is the engine's (model.ReadyState).
func (c *Checker) setBackends(s *service, backends []model.Backend, now time.Time) {
	keep := make(map[targetKey]bool, len(s.targets))
	for _, b := range backends {
		for _, addr := range b.Ingress {
			k := targetKey{b.Cluster, addr}
			keep[k] = true
			t := s.targets[k]
			if t == nil {
				t = &target{svc: s, key: k, index: -1}
				s.targets[k] = t
				if s.prober != nil {
					c.schedule(t, now, s.check.Jitter)
					c.reshare = true
				}
				c.judge(t, now)
			}
		}
	}
	for k, t := range s.targets {
		if !keep[k] {
			c.unqueue(t)
			t.removed = true
			delete(s.targets, k)
			c.dirty[s] = true
			c.reshare = c.reshare || s.prober != nil
		}
	}
}

// schedule queues t's first probe within jitter of now: new targets start
// at once.
func (c *Checker) schedule(t *target, now time.Time, jitter time.Duration) {
	t.due, t.slot = now, time.Time{}
	if jitter > 0 {
		t.due = now.Add(rand.N(jitter))
	}
	if !t.inFlight {
		heap.Push(&c.queue, t)
	}
}

func (c *Checker) unqueue(t *target) {
	if t.index >= 0 {
		heap.Remove(&c.queue, t.index)
	}
}

// finish folds a probe's result into its target and queues its next probe.
func (c *Checker) finish(j *job, now time.Time) {
	c.cfg.Metrics.probed(j.kind, j.outcome, j.duration)
	t := j.t
	t.inFlight = false
	if t.removed || j.prober != t.svc.prober {
		if !t.removed && t.svc.prober != nil && t.index < 0 {
			c.schedule(t, now, t.svc.check.Jitter)
		}
		return
	}
	check := t.svc.check
	var changed bool
	t.probe, changed = Thresholds{Rise: check.Rise, Fall: check.Fall}.Observe(t.probe, j.outcome == passed, j.reason, j.start.Add(j.duration))
	if changed {
		c.reshare = true
		c.judge(t, now)
	}
	t.slot = c.nextSlot(t, now)
	t.due = t.slot
	if check.Jitter > 0 {
		t.due = t.due.Add(rand.N(check.Jitter) - check.Jitter/2)
	}
	t.due = maxTime(t.due, now)
	heap.Push(&c.queue, t)
}

// nextSlot returns when t is next due, before jitter. Each target has its
// own offset within the interval, from a hash of its key, so that many
// targets spread evenly over the interval however they arrived (as
// Prometheus spreads scrapes). After its first probe, which runs at once,
// a target moves to its offset, no sooner than half an interval later.
func (c *Checker) nextSlot(t *target, now time.Time) time.Time {
	iv := t.svc.check.Interval
	if !t.slot.IsZero() && t.slot.Add(iv).After(now) {
		return t.slot.Add(iv)
	}
	offset := int64(maphash.String(c.seed, t.svc.name+"\x00"+t.key.cluster+"\x00"+t.key.addr.String()) % uint64(iv))
	after := now.Add(iv / 2).UnixNano()
	k := (after-offset)/int64(iv) + 1
	return time.Unix(0, k*int64(iv)+offset)
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// judge counts t's probe verdict with the other replicas' by the quorum
// rule and, when the result differs from what was published, records and
// logs the change. Readiness is neither judged nor voted on here: every
// replica's engine reads it from the same Inventory.
func (c *Checker) judge(t *target, now time.Time) {
	probe := t.probe
	switch {
	case t.svc.prober == nil:
	case c.awaiting:
		probe = Verdict{Reason: "awaiting the other replicas' verdicts"}
	default:
		probe = c.votes.decide(c.cfg.Quorum, voteKey{t.svc.name, t.key.cluster, t.key.addr}, probe)
	}
	state, reason := combine(probe, t.svc.prober != nil)
	v := &t.verdict
	unprobed := t.svc.prober == nil
	if v.Service != "" && v.State == state && v.Reason == reason && v.Unprobed == unprobed {
		return
	}
	if v.Service == "" || v.State != state {
		if v.Service != "" || state == model.Down {
			c.logChange(t, v.State, state, reason)
		}
		v.Since = now
	}
	v.Service, v.Cluster, v.Address, v.State, v.Reason = t.svc.name, t.key.cluster, t.key.addr, state, reason
	v.Unprobed = unprobed
	c.dirty[t.svc] = true
}

// combine is the published verdict on a target from its probes, and why:
// a target that is not probed is up (model.NotProbed), leaving it to
// readiness, which the engine judges (model.ReadyState).
func combine(probe Verdict, probed bool) (model.State, string) {
	switch {
	case !probed:
		return model.Up, model.NotProbed
	case probe.State == model.Unknown:
		return model.Unknown, cmp.Or(probe.Reason, "awaiting the first probes")
	}
	return probe.State, probe.Reason
}

func (c *Checker) logChange(t *target, from, to model.State, reason string) {
	logChange(c.cfg.Logger, c.cfg.Metrics, c.cfg.Replica, model.TargetHealth{Service: t.svc.name, Cluster: t.key.cluster,
		Address: t.key.addr, State: to, Reason: reason}, from)
}

// ReadinessChanged logs and counts, as the Checker does its probe
// verdicts' changes, the served verdicts that readiness alone changed
// (model.ServedHealth): a target whose pods all left is logged "target
// down" with the reason "no ready pods", and counted in
// meridian_health_state_changes_total, though no probe verdict changed.
func ReadinessChanged(logger *slog.Logger, m *Metrics, replica string, changes []model.ReadinessChange) {
	for _, ch := range changes {
		logChange(logger, m, replica, ch.To, ch.From)
	}
}

func logChange(logger *slog.Logger, m *Metrics, replica string, v model.TargetHealth, from model.State) {
	level := slog.LevelInfo
	switch {
	case v.State == model.Down:
		level = slog.LevelWarn
	case from == model.Unknown:
		level = slog.LevelDebug // a new target found healthy is not news
	}
	logger.Log(context.Background(), level, "target "+v.State.String(), "replica", replica,
		"service", v.Service, "cluster", v.Cluster, "address", v.Address.String(), "from", from.String(), "reason", v.Reason)
	m.changed(v.State)
}

// publish hands out a new Health when any service's verdicts changed, and
// this replica's probe verdicts when they changed.
func (c *Checker) publish() {
	c.share()
	if len(c.dirty) == 0 && !c.removed {
		return
	}
	for s := range c.dirty {
		if c.services[s.name] != s {
			continue // removed
		}
		vs := make([]model.TargetHealth, 0, len(s.targets))
		for _, t := range s.targets {
			vs = append(vs, t.verdict)
		}
		c.health = c.health.WithService(s.name, vs)
	}
	clear(c.dirty)
	c.removed = false
	c.cfg.Publish(c.health)
}

// share hands Config.Share this replica's own probe verdicts on the
// targets it does not see up, when they differ from the last ones shared.
func (c *Checker) share() {
	if !c.reshare || c.cfg.Share == nil {
		return
	}
	c.reshare = false
	var notUp []model.TargetHealth
	var probes []string
	for _, s := range c.services {
		if s.prober == nil {
			continue
		}
		probes = append(probes, s.name)
		for _, t := range s.targets {
			if t.probe.State != model.Up {
				notUp = append(notUp, model.TargetHealth{Service: s.name, Cluster: t.key.cluster, Address: t.key.addr,
					State: t.probe.State, Since: t.probe.Since.Truncate(time.Second), Reason: t.probe.Reason}) // as the store keeps it
			}
		}
	}
	r := model.NewProbeReport(c.cfg.Replica, time.Now(), notUp, probes)
	r.Quorum = c.cfg.Quorum.String()
	if !c.sharedAt.IsZero() && slices.EqualFunc(r.NotUp, c.shared, sameVerdict) && slices.Equal(r.Probes, c.sharedProbes) && r.Quorum == c.sharedQuorum {
		return
	}
	c.shared, c.sharedProbes, c.sharedQuorum, c.sharedAt = r.NotUp, r.Probes, r.Quorum, r.At
	c.cfg.Share(r)
}

func sameVerdict(a, b model.TargetHealth) bool {
	return a.Service == b.Service && a.Cluster == b.Cluster && a.Address == b.Address &&
		a.State == b.State && a.Since.Equal(b.Since) && a.Reason == b.Reason
}

func (c *Checker) countTargets() int {
	n := 0
	for _, s := range c.services {
		n += len(s.targets)
	}
	return n
}

// dueQueue is a min-heap of targets by due time.
type dueQueue []*target

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].index, q[j].index = i, j
}
func (q *dueQueue) Push(x any) {
	t := x.(*target)
	t.index = len(*q)
	*q = append(*q, t)
}
func (q *dueQueue) Pop() any {
	old := *q
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*q = old[:len(old)-1]
	return t
}
