package kubestore

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meridian-gtm/meridian/model"
)

// HealthReportsOptions tunes how one replica shares its probe verdicts.
// The zero value is the defaults.
type HealthReportsOptions struct {
	// Replica is this replica's name, any string (config `replica`; the
	// pod's name in the chart). Reports() returns it as written, whatever
	// the object names had to make of it.
	Replica string
	// Heartbeat is how often the replica's Lease is renewed; 1 s when
	// zero. The Lease lasts three heartbeats (leaseDurationSeconds, rounded
	// up to whole seconds, at least 3), so that one late or lost renewal
	// does not make a replica's report stop counting.
	Heartbeat time.Duration
	// Batch bounds how late a changed report is written after Share, and
	// spaces the writes of the report: at least Batch apart, so a burst of
	// verdict changes costs one write. 200 ms when zero.
	Batch time.Duration
	// Retention is how long after a replica's heartbeat expired a live
	// replica deletes its two Leases; 10 min when zero. Long enough
	// for a rollout or a node drain, short enough that replicas gone for
	// good do not pile up.
	Retention time.Duration
	// Logger receives write failures and bad reports; slog.Default() when nil.
	Logger *slog.Logger
}

const (
	defaultHeartbeat = time.Second
	defaultBatch     = 200 * time.Millisecond
	defaultRetention = 10 * time.Minute

	// leaseHeartbeats is how many heartbeats a Lease lasts.
	leaseHeartbeats = 3
	// releaseTimeout bounds the deletion of the heartbeat when Run ends.
	releaseTimeout = 2 * time.Second
	// pruneEvery spaces the deletions of dead replicas' objects.
	pruneEvery = time.Minute

	// HealthReportsLabel marks every object of the health reports; its
	// value is the store's NAME, so that two stores in one namespace do
	// not see each other's replicas.
	HealthReportsLabel = "meridian.io/health-reports"
	// HealthObjectLabel tells a replica's two Leases apart: its value is
	// heartbeatObject or reportObject. A Lease labelled
	// HealthReportsLabel without it is not one of the health reports'.
	HealthObjectLabel = "meridian.io/health-object"
	heartbeatObject   = "heartbeat"
	reportObject      = "report"
	// healthComponent is the app.kubernetes.io/component of the objects.
	healthComponent = "health"
	// reportAnnotation holds the report as JSON on the report Lease;
	// reportGzAnnotation holds it gzip-compressed and base64-encoded
	// instead when the JSON does not fit. A report Lease carries one of
	// the two.
	reportAnnotation   = "meridian.io/report"
	reportGzAnnotation = "meridian.io/report.gz"
	// incarnationAnnotation holds, on both Leases of a replica, a random
	// identifier of the process that wrote them, new at every start: a
	// replica that sees another one on its Leases shares its name with
	// another process.
	incarnationAnnotation = "meridian.io/incarnation"

	// maxLeaseFactor bounds a peer's leaseDurationSeconds, as a multiple
	// of this replica's own, so that a Lease written by hand (or by a
	// broken replica) claiming days does not keep a report live for days.
	maxLeaseFactor = 10
	// conflictLogEvery spaces the errors about another process sharing
	// this replica's name; conflictHold is how long Reports says so
	// after it was last seen.
	conflictLogEvery = time.Minute
	conflictHold     = 2 * time.Minute
	// ownRVs is how many resourceVersions of its report Lease a replica
	// remembers writing, to tell its own writes from others' in the watch.
	ownRVs = 16
)

// HealthReports shares this replica's probe verdicts (model.ProbeReport)
// with the other replicas through the Kubernetes API, and follows theirs.
//
// Each replica owns two coordination.k8s.io/v1 Leases, labelled
// meridian.io/health-reports=NAME and told apart by the label
// meridian.io/health-object: its report, NAME-report-REPLICA, the report
// in an annotation (see wireReport), written only when the report changes
// and at most once per Batch; and its heartbeat, NAME-health-REPLICA,
// renewed every Heartbeat. The heartbeat is apart from the report because
// a renewal then writes about 300 bytes instead of the whole report, and
// etcd keeps every revision of an object until compaction; kubelet moved
// node heartbeats from Node status to Leases for the same reason
// (KEP-589). The report Lease is never read for liveness: its holder is
// the replica, and it has no renewTime or duration.
//
// Leases rather than ConfigMaps because the names follow the replicas
// (pods), so RBAC cannot limit the rights to them by resourceNames: the
// chart must grant create, list and delete on the whole kind in its
// namespace. On ConfigMaps that would let Meridian rewrite its own config;
// Leases hold nothing else of Meridian's. Rather than a CRD because the
// store must work against any cluster with nothing installed, as the
// overrides do.
//
// The heartbeat means "my report in the store is current": a replica
// creates its heartbeat only once its first report is written, and stops
// renewing it while writing its report fails, so that peers stop counting
// a report that no longer says what the replica sees. A replica watches
// its own report Lease too: when it is deleted (by hand, or pruned by a
// peer while this replica was cut off) or written by anyone else, it is
// written again at once (within Batch), and the heartbeat waits for that.
// Each process writes a random incarnation on both its Leases, so that
// two processes given one replica name find out and say so (they keep
// overwriting each other: the log and Reports are how anyone learns).
//
// While this replica cannot write to the store (its last successful write
// older than 1.5 heartbeats), the other replicas' reports do not expire
// here: their Leases are judged on a clock stopped then, since renewals
// this replica cannot read say nothing of the others, and a replica cut
// off from the store deciding alone on its own vantage point is what the
// reports are for avoiding. When a write succeeds again, the Leases are
// listed afresh at once (client-go's watch would retry after a backoff of
// up to half a minute), and the clock runs again once they are.
//
// Liveness is judged on the observer's clock, never the writer's, as
// client-go's leader election does, so that clock skew between replicas
// cannot keep a dead report live or kill a live one: a renewal counts
// from when it was observed here, and lasts the Lease's duration.
type HealthReports struct {
	client          kubernetes.Interface
	namespace, name string
	opts            HealthReportsOptions
	log             *slog.Logger
	object          string // this replica's heartbeat Lease
	reportObject    string // this replica's report Lease
	leaseSeconds    int32

	incarnation string        // this process's, on both its Leases
	staleAfter  time.Duration // the store is unreachable when the last write is older

	// Test hooks.
	now        func() time.Time
	noRelease  bool          // Run ends without deleting its heartbeat, as a killed replica does
	pruneEvery time.Duration // how often dead replicas are pruned

	kick    chan struct{} // Share → Run: a new report
	ownKick chan struct{} // informer → write loop: this replica's report Lease changed
	restart chan struct{} // write loop → informer: list the Leases afresh

	mu            sync.Mutex
	latest        model.ProbeReport // the last report shared
	seq           uint64            // counts Shares
	selfHeartbeat time.Time         // the last successful renewal of the heartbeat
	selfExpires   time.Time
	peers         map[string]*peer // by the replica part of the objects' names
	checked       time.Time        // the peers' expiries up to this (on their clock) were notified
	checkedSelf   time.Time        // this replica's expiry was notified when before this
	onChange      []func()
	rearm         chan struct{} // an Expires changed

	// The peers' clock (peerClockLocked): peers' expires and firstSeen
	// are on it. It runs at now-offset, and stops at frozenAt while the
	// store is unreachable.
	contact   time.Time // the last successful write to the store
	lastRead  time.Time // the last event of the informer
	offset    time.Duration
	frozen    bool
	frozenAt  time.Time
	listGen   uint64 // the informer's run, from 1
	resyncGen uint64 // the run whose listing ends a freeze
	done      bool   // Run has ended: the store is no longer written

	own            ownLease // this replica's report Lease as last seen
	conflict       string   // the incarnation of another process seen on this replica's Leases
	conflictSeen   time.Time
	conflictLogged time.Time
	ignored        map[string]string // Leases ignored, by name: why, so that it is logged once

	synced     chan struct{} // closed once the Leases are listed
	syncedOnce sync.Once
}

// ownLease is this replica's report Lease as the informer last saw it.
type ownLease struct {
	rv      string // "" until seen
	deleted bool
	gen     uint64 // the informer's run that saw it
}

// peer is what this replica knows of another's Leases, stripped to what
// Reports needs.
type peer struct {
	report    *model.ProbeReport // nil until a report parsed
	reportRV  string             // of the report Lease, also the deletion precondition; "" when absent
	hasLease  bool               // the heartbeat Lease is there
	leaseRV   string
	heartbeat time.Time // observed here
	expires   time.Time // on the peers' clock (peerClockLocked)
	firstSeen time.Time // when any of its Leases was first seen, for pruning a replica without a heartbeat
	// The informer's run that last saw each Lease: one that a run's
	// listing lacks was deleted while the watch was down.
	reportGen, leaseGen uint64
}

// HealthReports returns the health reports shared beside the store's
// overrides, in the same namespace through the same client, in Leases
// named NAME-health-REPLICA and NAME-report-REPLICA.
func (s *Store) HealthReports(opts HealthReportsOptions) *HealthReports {
	return NewHealthReports(s.client, s.namespace, s.name, opts)
}

// NewHealthReports returns the health reports of the replicas sharing
// NAMESPACE and NAME; nothing is read or written until Run.
func NewHealthReports(client kubernetes.Interface, namespace, name string, opts HealthReportsOptions) *HealthReports {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = defaultHeartbeat
	}
	if opts.Batch <= 0 {
		opts.Batch = defaultBatch
	}
	if opts.Retention <= 0 {
		opts.Retention = defaultRetention
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	secs := int32((leaseHeartbeats*opts.Heartbeat + time.Second - 1) / time.Second)
	var inc [8]byte
	rand.Read(inc[:]) // never fails
	return &HealthReports{
		client: client, namespace: namespace, name: name, opts: opts,
		incarnation:  hex.EncodeToString(inc[:]),
		staleAfter:   opts.Heartbeat + opts.Heartbeat/2,
		ownKick:      make(chan struct{}, 1),
		restart:      make(chan struct{}, 1),
		ignored:      map[string]string{},
		log:          opts.Logger.With("component", "health-reports", "store", namespace+"/"+name, "replica", opts.Replica),
		object:       healthObjectName(name, opts.Replica),
		reportObject: reportObjectName(name, opts.Replica),
		leaseSeconds: max(secs, leaseHeartbeats),
		now:          time.Now,
		pruneEvery:   pruneEvery,
		kick:         make(chan struct{}, 1),
		peers:        map[string]*peer{},
		rearm:        make(chan struct{}, 1),
		synced:       make(chan struct{}),
	}
}

// Synced is closed once the replicas' Leases, reports and heartbeats, in
// the store have been listed: until then Reports may lack peers that are
// there.
func (h *HealthReports) Synced() <-chan struct{} { return h.synced }

// healthObjectName names a replica's heartbeat Lease NAME-health-REPLICA,
// and reportObjectName its report Lease NAME-report-REPLICA. Both must be
// DNS-1123 subdomains of at most 253 characters; a replica name that is
// not (upper case, '_', too long) is lowercased, its invalid characters
// replaced by '-', and a hash of the real name appended, so that two
// names that sanitise alike still get two objects. The two prefixes have
// the same length, so a replica's two names end alike (peerKey), and
// differ at the same place, so no heartbeat's name is any report's.
func healthObjectName(name, replica string) string {
	return objectName(name+"-"+heartbeatInfix+"-", replica)
}

func reportObjectName(name, replica string) string {
	return objectName(name+"-"+reportInfix+"-", replica)
}

const (
	heartbeatInfix = "health"
	reportInfix    = "report" // as long as heartbeatInfix
)

// peerKey returns the replica part of the name of a Lease of kind
// (heartbeatObject or reportObject) of the store NAME, the same for a
// replica's two Leases; false when the name is not one the kind has.
func peerKey(name, kind, object string) (string, bool) {
	infix := map[string]string{heartbeatObject: heartbeatInfix, reportObject: reportInfix}[kind]
	if infix == "" {
		return "", false
	}
	key, ok := strings.CutPrefix(object, name+"-"+infix+"-")
	return key, ok && key != ""
}

// labelValue is the store's NAME as a label value, which may hold 63
// characters where a ConfigMap's name may hold 253: a longer NAME is cut
// and a hash of it appended, so that two long names still differ.
func labelValue(name string) string {
	if len(validation.IsValidLabelValue(name)) == 0 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	cut := strings.TrimRight(name[:min(len(name), validation.LabelValueMaxLength-9)], "-.")
	return cut + "-" + hex.EncodeToString(sum[:4])
}

func objectName(prefix, replica string) string {
	s := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, replica)
	full := prefix + s
	if s == replica && s != "" && len(validation.IsDNS1123Subdomain(full)) == 0 {
		return full
	}
	sum := sha256.Sum256([]byte(replica))
	suffix := "-" + hex.EncodeToString(sum[:4])
	// Dots are valid only between alphanumerics; rather than mend each
	// label, drop them when the name is already being changed.
	s = strings.ReplaceAll(s, ".", "-")
	if room := validation.DNS1123SubdomainMaxLength - len(prefix) - len(suffix); len(s) > room {
		s = s[:max(room, 0)]
	}
	return prefix + s + suffix
}

// OnChange registers fn, called from any goroutine and never with a lock
// held, whenever Reports would return something different: a peer's report
// written or deleted, a heartbeat seen after its expiry, a heartbeat
// expiring, this replica's own report shared.
func (h *HealthReports) OnChange(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.onChange = append(h.onChange, fn)
}

func (h *HealthReports) notify() {
	h.mu.Lock()
	fns := slices.Clone(h.onChange)
	h.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Share makes r this replica's report (its Replica set to this replica's
// name), the latest shared winning. It never blocks: Run writes the
// latest report shared, at most Batch later, so the health checker's
// goroutine that calls it never waits for the API server.
func (h *HealthReports) Share(r model.ProbeReport) {
	r.Replica = h.opts.Replica
	h.mu.Lock()
	h.latest = r
	h.seq++
	h.mu.Unlock()
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Reports returns the report of every replica whose report is in the
// store, sorted by replica name: this replica's own (Self, its latest
// shared report, live while its heartbeat is renewed) once it has shared one,
// and the others' as last written, with their heartbeats on this replica's
// clock. While the store is unreachable, the others' Expires are moved
// on as time passes (their clock is stopped), and this replica's own says
// since when (StoreUnreachableSince).
func (h *HealthReports) Reports() []model.ReplicaReport {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	shift := now.Sub(h.peerClockLocked(now)) // the peers' clock to this one's
	var out []model.ReplicaReport
	if h.seq > 0 {
		self := model.ReplicaReport{ProbeReport: h.latest, Self: true, Heartbeat: h.selfHeartbeat, Expires: h.selfExpires}
		if !h.conflictSeen.IsZero() && now.Sub(h.conflictSeen) < conflictHold {
			self.Conflict = h.conflict
		}
		if h.frozen && now.Sub(h.contact) > h.staleAfter {
			self.StoreUnreachableSince = h.contact
		}
		out = append(out, self)
	}
	for _, p := range h.peers {
		if p.report != nil {
			out = append(out, model.ReplicaReport{ProbeReport: *p.report, Heartbeat: p.heartbeat, Expires: p.expires.Add(shift)})
		}
	}
	slices.SortFunc(out, func(a, b model.ReplicaReport) int { return cmp.Compare(a.Replica, b.Replica) })
	return out
}

// Run writes this replica's report and renews its heartbeat, follows the
// other replicas' Leases, tells the listeners when a heartbeat expires,
// and prunes the Leases of replicas long dead, until ctx ends. It then
// deletes its heartbeat (within 2 s), so that the other replicas stop
// counting its report at once rather than a Lease duration later, and
// returns once every goroutine it started has ended. Failures of the API
// server are logged and retried; Run returns nil.
func (h *HealthReports) Run(ctx context.Context) error {
	inner, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { h.informer(inner) })
	wg.Go(func() { h.expire(inner) })
	h.write(inner)
	h.mu.Lock()
	h.done = true
	h.mu.Unlock()
	if !h.noRelease {
		h.release()
	}
	return nil
}

// informer follows the health reports' Leases (both kinds, by one label
// selector) until ctx ends, starting afresh, with a new listing, when
// asked on h.restart.
func (h *HealthReports) informer(ctx context.Context) {
	for {
		h.mu.Lock()
		h.listGen++
		gen := h.listGen
		h.mu.Unlock()
		run, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			h.runInformer(run, gen)
		}()
		select {
		case <-ctx.Done():
		case <-h.restart:
		}
		cancel()
		<-done
		if ctx.Err() != nil {
			return
		}
	}
}

// runInformer is one run of the informer, numbered gen, until ctx ends.
func (h *HealthReports) runInformer(ctx context.Context, gen uint64) {
	lw := cache.NewFilteredListWatchFromClient(h.client.CoordinationV1().RESTClient(), "leases", h.namespace,
		func(o *metav1.ListOptions) { o.LabelSelector = HealthReportsLabel + "=" + labelValue(h.name) })
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &coordinationv1.Lease{},
		Handler: cache.ResourceEventHandlerDetailedFuncs{
			AddFunc:    func(obj any, initial bool) { h.observe(obj, initial, gen) },
			UpdateFunc: func(_, obj any) { h.observe(obj, false, gen) },
			DeleteFunc: func(obj any) { h.forget(obj, gen) },
		},
		// The informer keeps every object; the field managers are not needed.
		Transform: func(obj any) (any, error) {
			if m, ok := obj.(metav1.Object); ok {
				m.SetManagedFields(nil)
			}
			return obj, nil
		},
	})
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		if cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
			h.listed(gen)
		}
	})
	informer.RunWithContext(ctx)
}

// listed takes the end of the listing of the informer's run gen: the
// Leases it lacks were deleted while no watch ran; a freeze waiting for
// this listing ends.
func (h *HealthReports) listed(gen uint64) {
	now := h.now()
	h.mu.Lock()
	pc := h.peerClockLocked(now)
	for key, p := range h.peers {
		if p.reportRV != "" && p.reportGen != gen {
			p.report, p.reportRV = nil, ""
		}
		if p.hasLease && p.leaseGen != gen {
			p.hasLease, p.leaseRV = false, ""
			p.expires = minTime(p.expires, pc)
		}
		if p.reportRV == "" && !p.hasLease {
			delete(h.peers, key)
		}
	}
	if h.own.rv != "" && !h.own.deleted && h.own.gen != gen {
		h.own.deleted = true
		kickChan(h.ownKick)
	}
	if h.frozen && gen >= h.resyncGen && now.Sub(h.contact) <= h.staleAfter {
		before := h.offset
		h.frozen = false
		h.offset = now.Sub(h.frozenAt)
		h.log.Info("the health store is read again; the other replicas' reports expire again", "stopped_for", (h.offset - before).String())
	}
	h.mu.Unlock()
	h.syncedOnce.Do(func() { close(h.synced) })
	h.rearmExpiry()
	h.notify()
}

// peerClockLocked returns the time, on the peers' clock, at which their
// Leases are judged: it runs with this replica's clock while this replica
// writes to the store, and stops 1.5 heartbeats after its last successful
// write (or the informer's last event, when later) when the writes stop
// succeeding, until the Leases are listed afresh once they succeed again
// (listed). h.mu is held.
func (h *HealthReports) peerClockLocked(now time.Time) time.Time {
	// A watch that still brings events (writes refused, reads not) shows
	// the others as they are: the clock stops only when both are lost.
	last := h.contact
	if h.lastRead.After(last) {
		last = h.lastRead
	}
	if !h.frozen && !h.done && !h.contact.IsZero() && now.Sub(last) > h.staleAfter {
		h.frozen = true
		h.frozenAt = last.Add(h.staleAfter).Add(-h.offset)
		h.log.Warn("cannot reach the health store; keeping the other replicas' last reports", "last_write", h.contact.UTC().Format(time.RFC3339Nano))
	}
	if h.frozen {
		return h.frozenAt
	}
	return now.Add(-h.offset)
}

// contacted records a successful write to the store; after the store was
// unreachable, it has the informer list the Leases afresh.
func (h *HealthReports) contacted() {
	now := h.now()
	h.mu.Lock()
	h.peerClockLocked(now)
	lost := h.frozen && now.Sub(h.contact) > h.staleAfter
	h.contact = now
	if lost {
		h.resyncGen = h.listGen + 1
		h.log.Info("the health store is reachable again; listing the replicas' Leases afresh")
		kickChan(h.restart)
	}
	h.mu.Unlock()
}

// read records an event of the informer.
func (h *HealthReports) read() {
	now := h.now()
	h.mu.Lock()
	h.lastRead = now
	h.mu.Unlock()
}

func kickChan(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// observe takes a Lease of a peer from the watch: its report or its
// heartbeat. A Lease that is neither, or this replica's own, is ignored.
func (h *HealthReports) observe(obj any, initial bool, gen uint64) {
	h.read()
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	if l.Name == h.object || l.Name == h.reportObject {
		h.observeOwn(l, initial, false, gen)
		return
	}
	kind := l.Labels[HealthObjectLabel]
	key, ok := peerKey(h.name, kind, l.Name)
	if !ok {
		return
	}
	if kind == reportObject {
		h.observeReport(key, l, gen)
	} else {
		h.observeLease(key, l, initial, gen)
	}
}

// observeOwn takes one of this replica's own Leases, or its deletion: one
// written by another incarnation while this one watches (not as a
// listing finds it: a previous process of this replica left it) is
// logged, at most once a minute, and shown in Reports; a change to the
// report Lease tells the write loop, which writes it again unless the
// change is its own.
func (h *HealthReports) observeOwn(l *coordinationv1.Lease, initial, deleted bool, gen uint64) {
	now := h.now()
	inc := l.Annotations[incarnationAnnotation]
	h.mu.Lock()
	defer h.mu.Unlock()
	if !deleted && !initial && inc != "" && inc != h.incarnation {
		h.conflict, h.conflictSeen = inc, now
		if now.Sub(h.conflictLogged) >= conflictLogEvery {
			h.conflictLogged = now
			h.log.Error(fmt.Sprintf("another Meridian process shares replica name %q (incarnation %.32s); give each replica its own `replica` name", h.opts.Replica, inc),
				"object", l.Name, "incarnation", h.incarnation)
		}
	}
	if l.Name == h.reportObject {
		h.own = ownLease{rv: l.ResourceVersion, deleted: deleted, gen: gen}
		kickChan(h.ownKick)
	}
}

// ignore logs, once until it changes, why the Lease name is ignored, and
// takes back an earlier one when why is empty. h.mu is not held.
func (h *HealthReports) ignore(name, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ignored[name] == why {
		return
	}
	if why == "" {
		delete(h.ignored, name)
		return
	}
	h.ignored[name] = why
	h.log.Warn("health Lease ignored: "+why, "object", name)
}

// observeReport takes a peer's report. One that does not parse (an edit by
// hand), or is not the replica's whose name the Lease has, is logged and
// ignored: the peer's last good report stays.
func (h *HealthReports) observeReport(key string, l *coordinationv1.Lease, gen uint64) {
	h.mu.Lock()
	p := h.peer(key)
	p.reportGen = gen
	if p.reportRV == l.ResourceVersion {
		h.mu.Unlock()
		return
	}
	p.reportRV = l.ResourceVersion
	h.mu.Unlock()
	r, err := decodeReport(l.Annotations)
	if err != nil {
		h.log.Warn("health report ignored, the last good one kept", "object", l.Name, "err", err)
		return
	}
	// A report counts for the replica whose objects' name it has: it
	// cannot vote for another.
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if r.Replica != holder || reportObjectName(h.name, r.Replica) != l.Name {
		h.ignore(l.Name, fmt.Sprintf("its report is replica %.64q's and its holder %.64q, not the replica it is named for; the last good report kept", r.Replica, holder))
		return
	}
	h.ignore(l.Name, "")
	h.mu.Lock()
	if p := h.peers[key]; p != nil && p.reportRV == l.ResourceVersion {
		p.report = &r
	}
	h.mu.Unlock()
	h.notify()
}

// observeLease takes a peer's heartbeat. A renewal (a new resourceVersion)
// counts from now, on this replica's clock. A Lease first seen in the
// initial list counts from its renewTime when that is earlier, so that a
// dead replica's old Lease does not count for a fresh duration; a
// renewTime in the future (a writer's clock ahead) counts from now. The
// Lease's duration counts, within 1 s and ten times this replica's own. A
// heartbeat whose holder is not the replica it is named for is ignored.
func (h *HealthReports) observeLease(key string, l *coordinationv1.Lease, initial bool, gen uint64) {
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if healthObjectName(h.name, holder) != l.Name {
		h.ignore(l.Name, fmt.Sprintf("its holder %.64q is not the replica it is named for", holder))
		return
	}
	h.ignore(l.Name, "")
	now := h.now()
	h.mu.Lock()
	pc := h.peerClockLocked(now)
	p := h.peer(key)
	p.leaseGen = gen
	if p.hasLease && p.leaseRV == l.ResourceVersion {
		h.mu.Unlock()
		return
	}
	wasLive := p.report != nil && p.expires.After(pc)
	observed, heartbeat := pc, now
	if initial {
		observed, heartbeat = time.Time{}, time.Time{}
		if rt := l.Spec.RenewTime; rt != nil && rt.Time.Before(now) {
			heartbeat = rt.Time
			observed = minTime(rt.Time.Add(-now.Sub(pc)), pc)
		} else if rt != nil {
			observed, heartbeat = pc, now
		}
	}
	secs := h.leaseSeconds
	if d := l.Spec.LeaseDurationSeconds; d != nil {
		secs = min(max(*d, 1), maxLeaseFactor*h.leaseSeconds)
	}
	p.hasLease, p.leaseRV = true, l.ResourceVersion
	p.heartbeat, p.expires = heartbeat, observed.Add(time.Duration(secs)*time.Second)
	live := p.report != nil && p.expires.After(pc)
	h.mu.Unlock()
	h.rearmExpiry()
	if live != wasLive {
		h.notify()
	}
}

// peer returns the peer of a key (peerKey), new if unknown. h.mu is held.
func (h *HealthReports) peer(key string) *peer {
	p := h.peers[key]
	if p == nil {
		p = &peer{firstSeen: h.peerClockLocked(h.now())}
		h.peers[key] = p
	}
	return p
}

// forget takes a deleted Lease. A deleted heartbeat stops the peer's
// report counting at once: its replica ended cleanly, or was pruned.
func (h *HealthReports) forget(obj any, gen uint64) {
	h.read()
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	l, ok := obj.(*coordinationv1.Lease)
	if !ok {
		return
	}
	if l.Name == h.object || l.Name == h.reportObject {
		h.observeOwn(l, false, true, gen)
		return
	}
	h.ignore(l.Name, "")
	kind := l.Labels[HealthObjectLabel]
	key, ok := peerKey(h.name, kind, l.Name)
	if !ok {
		return
	}
	now := h.now()
	h.mu.Lock()
	pc := h.peerClockLocked(now)
	p := h.peers[key]
	if p == nil {
		h.mu.Unlock()
		return
	}
	changed := false
	switch kind {
	case reportObject:
		changed = p.report != nil
		p.report, p.reportRV = nil, ""
	case heartbeatObject:
		changed = p.report != nil && p.expires.After(pc)
		p.hasLease, p.leaseRV = false, ""
		p.expires = minTime(p.expires, pc)
	}
	if p.reportRV == "" && !p.hasLease {
		delete(h.peers, key)
	}
	h.mu.Unlock()
	if changed {
		h.notify()
	}
}

func (h *HealthReports) rearmExpiry() {
	select {
	case h.rearm <- struct{}{}:
	default:
	}
}

// expire tells the listeners when a heartbeat expires, its own included,
// with one timer set at the earliest Expires to come; none of the peers'
// while their clock is stopped.
func (h *HealthReports) expire(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := h.now()
		h.mu.Lock()
		pc := h.peerClockLocked(now)
		expired := h.selfExpires.After(h.checkedSelf) && !h.selfExpires.After(now)
		wait := time.Hour
		if h.selfExpires.After(now) {
			wait = h.selfExpires.Sub(now)
		}
		for _, p := range h.peers {
			if p.report == nil {
				continue
			}
			expired = expired || p.expires.After(h.checked) && !p.expires.After(pc)
			if !h.frozen && p.expires.After(pc) {
				wait = min(wait, p.expires.Sub(pc))
			}
		}
		h.checked, h.checkedSelf = pc, now
		h.mu.Unlock()
		if expired {
			h.notify()
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-h.rearm:
		case <-timer.C:
		}
	}
}

// write is the loop of this replica's writes: the report when it changed,
// the Lease every heartbeat while the report is current, the pruning of
// dead replicas.
func (h *HealthReports) write(ctx context.Context) {
	w := writer{h: h}
	heartbeat := time.NewTicker(h.opts.Heartbeat)
	defer heartbeat.Stop()
	prune := time.NewTicker(h.pruneEvery)
	defer prune.Stop()
	var batch *time.Timer
	var batchC <-chan time.Time
	defer func() {
		if batch != nil {
			batch.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
			h.notify() // Reports' Self changed
			if batchC == nil {
				wait := max(w.lastWrite.Add(h.opts.Batch).Sub(h.now()), 0)
				batch = time.NewTimer(wait)
				batchC = batch.C
			}
		case <-h.ownKick:
			// The report Lease was deleted or written by someone else:
			// write it again, and hold the heartbeat until then.
			if w.ownStale() {
				w.stale, w.content = true, ""
				if batchC == nil {
					wait := max(w.lastWrite.Add(h.opts.Batch).Sub(h.now()), 0)
					batch = time.NewTimer(wait)
					batchC = batch.C
				}
			}
		case <-batchC:
			batchC = nil
			if w.writeReport(ctx) && !w.leased {
				w.renew(ctx)
			}
		case <-heartbeat.C:
			// The Lease says the report in the store is current: renewed
			// once the first report is written, and not while writing the
			// latest fails (retried here), nor while the report in the
			// store is not what this replica wrote. A Share not yet
			// written is not a failure: it is written within Batch.
			// A replica cut off for long may have been pruned: once the
			// store is reached again the report is written (created if
			// need be) before the heartbeat says it is current.
			now := h.now()
			h.mu.Lock()
			h.peerClockLocked(now) // says when the store is lost
			lost := !h.contact.IsZero() && now.Sub(h.contact) > h.staleAfter
			h.mu.Unlock()
			if lost {
				w.stale, w.content = true, ""
			}
			if w.failing || w.stale {
				w.writeReport(ctx)
			}
			if !w.failing && !w.stale && w.written > 0 {
				w.renew(ctx)
			}
		case <-prune.C:
			h.prune(ctx)
		}
	}
}

// writer is the state of the write loop, owned by its goroutine.
type writer struct {
	h            *HealthReports
	written      uint64 // the Share last written
	content      string // what was written: the annotation's key and value
	lastWrite    time.Time
	failing      bool                  // the last report write failed
	stale        bool                  // the report Lease was deleted or written by another since written
	reportRVs    []string              // the resourceVersions of the report Lease this process wrote, the latest last
	leased       bool                  // the heartbeat was renewed at least once
	lease        *coordinationv1.Lease // the heartbeat as last written, nil to read it first
	report       *coordinationv1.Lease // the report Lease as last written, nil to read it first
	leaseFailing bool
	dropped      string // what the last written report had to leave out
}

// writeReport writes the latest report when it differs from the one
// written, and reports whether the store now holds the latest.
func (w *writer) writeReport(ctx context.Context) bool {
	h := w.h
	h.mu.Lock()
	r, seq := h.latest, h.seq
	h.mu.Unlock()
	if seq == 0 {
		return false
	}
	key, enc, dropped := encodeReport(r, maxReportBytes)
	if dropped != w.dropped {
		if dropped != "" {
			h.log.Error("health report too large for a Lease annotation; written without "+dropped, "limit", maxReportBytes, "entries", len(r.NotUp))
		} else {
			h.log.Info("health report fits again in full")
		}
		w.dropped = dropped
	}
	content := key + "=" + enc
	if content == w.content {
		w.written = seq
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	w.lastWrite = h.now()
	err := w.put(ctx, &w.report, h.reportObject, reportObject, func(l *coordinationv1.Lease) {
		delete(l.Annotations, reportAnnotation)
		delete(l.Annotations, reportGzAnnotation)
		l.Annotations[key] = enc
		l.Spec.HolderIdentity = &h.opts.Replica
	})
	if err != nil {
		if !w.failing && !errors.Is(err, context.Canceled) {
			h.log.Error("health report not written; the heartbeat stops until it is", "object", h.reportObject, "err", err)
		}
		w.failing = true
		return false
	}
	if w.failing {
		h.log.Info("health report written again", "object", h.reportObject)
	}
	w.failing, w.stale, w.written, w.content = false, false, seq, content
	w.reportRVs = append(w.reportRVs, w.report.ResourceVersion)
	if len(w.reportRVs) > ownRVs {
		w.reportRVs = w.reportRVs[1:]
	}
	return true
}

// ownStale reports whether the report Lease, as the informer last saw it,
// is not the one this process last wrote: deleted, or written by another
// (a hand edit, another process of the same replica name). One of this
// process's earlier writes, seen late, is not.
func (w *writer) ownStale() bool {
	h := w.h
	h.mu.Lock()
	o := h.own
	h.mu.Unlock()
	switch {
	case o.rv == "":
		return false
	case !slices.Contains(w.reportRVs, o.rv):
		return true
	case o.deleted:
		return o.rv == w.reportRVs[len(w.reportRVs)-1]
	}
	return false
}

// renew renews this replica's heartbeat, creating it the first time, and
// records the heartbeat for Reports.
func (w *writer) renew(ctx context.Context) {
	h := w.h
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	start := h.now()
	err := w.put(ctx, &w.lease, h.object, heartbeatObject, func(l *coordinationv1.Lease) {
		l.Spec.HolderIdentity = &h.opts.Replica
		l.Spec.LeaseDurationSeconds = &h.leaseSeconds
		l.Spec.RenewTime = &metav1.MicroTime{Time: start}
		if l.Spec.AcquireTime == nil {
			l.Spec.AcquireTime = l.Spec.RenewTime
		}
	})
	if err != nil {
		if !w.leaseFailing && !errors.Is(err, context.Canceled) {
			h.log.Error("heartbeat not renewed", "object", h.object, "err", err)
		}
		w.leaseFailing = true
		return
	}
	if w.leaseFailing {
		h.log.Info("heartbeat renewed again", "object", h.object)
	}
	w.leaseFailing, w.leased = false, true
	h.mu.Lock()
	wasLive := h.selfExpires.After(start)
	h.selfHeartbeat, h.selfExpires = start, start.Add(time.Duration(h.leaseSeconds)*time.Second)
	h.mu.Unlock()
	h.rearmExpiry()
	if !wasLive {
		h.notify()
	}
}

// put writes the Lease name of kind as edit makes it, from *cached, the
// Lease as this replica last wrote it (read first when nil, created when
// missing), and keeps what was written in *cached. The write carries the
// resourceVersion of *cached, so no one else's change is overwritten
// blindly: when someone else changed the Lease (a pruning peer, a hand
// edit), it starts once more from a fresh read. Each write sets the
// labels the peers select by, whatever the object held.
func (w *writer) put(ctx context.Context, cached **coordinationv1.Lease, name, kind string, edit func(*coordinationv1.Lease)) error {
	err := w.putOnce(ctx, cached, name, kind, edit)
	if err != nil && (apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err)) {
		*cached = nil
		err = w.putOnce(ctx, cached, name, kind, edit)
	}
	return err
}

func (w *writer) putOnce(ctx context.Context, cached **coordinationv1.Lease, name, kind string, edit func(*coordinationv1.Lease)) error {
	h := w.h
	leases := h.client.CoordinationV1().Leases(h.namespace)
	if *cached == nil {
		l, err := leases.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: h.namespace, Name: name}}
		case err != nil:
			return err
		}
		*cached = l
	}
	l := (*cached).DeepCopy()
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[HealthReportsLabel] = labelValue(h.name)
	l.Labels[HealthObjectLabel] = kind
	l.Labels["app.kubernetes.io/name"] = "meridian"
	l.Labels["app.kubernetes.io/component"] = healthComponent
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[incarnationAnnotation] = h.incarnation
	edit(l)
	var err error
	if l.ResourceVersion == "" {
		l, err = leases.Create(ctx, l, metav1.CreateOptions{})
	} else {
		l, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		return err
	}
	h.contacted()
	l.ManagedFields = nil
	*cached = l
	return nil
}

// release deletes this replica's heartbeat, so that the other replicas
// stop counting its report at once. The report stays, for the others to
// show, until they prune it.
func (h *HealthReports) release() {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	err := h.client.CoordinationV1().Leases(h.namespace).Delete(ctx, h.object, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		h.log.Warn("heartbeat Lease not released; peers stop counting this replica when it expires", "object", h.object, "err", err)
	}
	now := h.now()
	h.mu.Lock()
	if h.selfExpires.After(now) {
		h.selfExpires = now
	}
	h.mu.Unlock()
}

// prune deletes the two Leases of the replicas whose heartbeat expired
// more than Retention ago, when this replica is live (a replica cut off
// from the others must not delete them). Only Leases seen by the label
// selector are candidates, and each deletion is conditional on the
// resourceVersion seen, so a replica that came back meanwhile keeps its
// Leases, and nothing not labelled as the store's is ever deleted.
func (h *HealthReports) prune(ctx context.Context) {
	now := h.now()
	type victim struct{ key, reportRV, leaseRV string }
	var victims []victim
	h.mu.Lock()
	pc := h.peerClockLocked(now)
	if h.selfExpires.After(now) {
		for key, p := range h.peers {
			last := p.expires
			if !p.hasLease && p.firstSeen.After(last) {
				last = p.firstSeen
			}
			if pc.Sub(last) > h.opts.Retention {
				victims = append(victims, victim{key, p.reportRV, p.leaseRV})
			}
		}
	}
	h.mu.Unlock()
	leases := h.client.CoordinationV1().Leases(h.namespace)
	for _, v := range victims {
		for _, o := range []struct{ name, rv string }{
			{h.name + "-" + heartbeatInfix + "-" + v.key, v.leaseRV},
			{h.name + "-" + reportInfix + "-" + v.key, v.reportRV},
		} {
			if o.rv == "" {
				continue
			}
			ctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := leases.Delete(ctx, o.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &o.rv}})
			cancel()
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				h.log.Warn("dead replica's health Lease not pruned", "object", o.name, "err", err)
			} else if err == nil {
				h.log.Info("dead replica's health Lease pruned", "object", o.name, "retention", h.opts.Retention.String())
			}
		}
	}
}

// The report as stored, in the annotation meridian.io/report of the
// replica's report Lease:
//
//	{"v":1,"replica":"r1","at":"2026-11-30T21:17:47.123456789Z",
//	 "quorum":"majority","probes":["api","web"],
//	 "reasons":["connect: connection refused"],
//	 "targets":{"app":{"eu-west":{"192.0.2.1":[1,1764537467,0]}}}}
//
// Targets are grouped service → cluster → address, so that the names are
// written once; each entry is [state, since, reason]: state 1 down, 0
// unknown (numbers of this format, not model.State's); since in Unix
// seconds (0 when unknown); reason an index into reasons, left out when
// the target has none. Reasons are deduplicated, as most down targets
// share one, and cut to 200 bytes. The services the replica probes
// (model.ProbeReport.Probes) are the keys of targets and the list probes,
// each service named once: probes holds only those without an entry. So
// a report written before probes existed reads as probing the services
// of its entries, and a replica of that version still reads this one
// (it ignores probes and quorum); keying targets by an index into one
// list of services would have saved nothing more and broken the latter.
//
// Kubernetes allows 256 KiB (262,144 bytes) of annotations per object,
// keys and values together; a report takes at most maxReportBytes of it.
// When the JSON does not fit, the same JSON is written gzip-compressed
// and base64-encoded in the annotation meridian.io/report.gz instead (so
// that kubectl shows plain JSON in the common case); when that does not
// fit either, the reasons are left out, then entries (encodeReport).
//
// Capacity (TestReportEncoding measures it, for a replica probing 2,000
// services with names of about 28 characters, which take 60 KB of JSON
// and 12 KB compressed): an entry takes about 31 bytes of JSON with an
// IPv4 address ("10.1.2.3":[1,1764537600,0], a comma, its share of the
// service and cluster names), 58 with a full IPv6 address (39
// characters), so plain JSON holds about 5,900 IPv4 or 3,200 IPv6 down
// targets with their reasons beside those names. Compressed, an entry
// takes about 4.3 bytes, IPv4 or IPv6 alike (the addresses' common
// prefixes compress away), when the report looks like an outage:
// addresses in order, a handful of distinct reasons and down-since times;
// so about 53,000 targets fit with their reasons. Entries with few in
// common compress less. That is per replica, and counts only the targets
// it sees not up.
//
// Decoding bounds what a hand-made report can make a replica hold: at
// most maxDecodedBytes of JSON, maxEntries entries and maxProbes probed
// services (the first, in order, as the encoder keeps them), names of at
// most maxName bytes, reasons cut to maxReason and the quorum to
// maxQuorum.
type wireReport struct {
	V       int                                                `json:"v"`
	Replica string                                             `json:"replica"`
	At      string                                             `json:"at"`
	Quorum  string                                             `json:"quorum,omitempty"`
	Probes  []string                                           `json:"probes,omitempty"`
	Reasons []string                                           `json:"reasons,omitempty"`
	Targets map[string]map[string]map[string][]json.RawMessage `json:"targets"`
}

const (
	wireVersion = 1
	wireDown    = 1
	wireUnknown = 0
	// maxReason bounds each reason, in bytes.
	maxReason = 200
	// maxReportBytes bounds the report's annotation value: all the
	// annotations of an object take at most 256 KiB (262,144 bytes), keys
	// included, which leaves room for a few small ones beside it.
	maxReportBytes = 250_000
	// maxDecodedBytes bounds a compressed report once decompressed, so a
	// hand-made one cannot exhaust memory: well above the JSON of the
	// largest report that fits compressed.
	maxDecodedBytes = 32 << 20
	// maxEntries bounds the entries of a report, written or read: above
	// the most that fit compressed (about 53,000).
	maxEntries = 100_000
	// maxProbes bounds the services a report lists as probed.
	maxProbes = 100_000
	// maxName bounds a service's or a cluster's name in a report read.
	maxName = 1024
	// maxQuorum bounds the quorum rule in a report read.
	maxQuorum = 64
)

// encodeReport encodes r for the annotation key, in at most limit bytes:
// as JSON when it fits, else compressed. A report too large either way is
// written without its reasons, and if still too large, with as many
// entries as fit (the first in service, cluster, address order; at most
// maxEntries), and if none fit, without its probed services; dropped
// says what was left out, empty when nothing was.
func encodeReport(r model.ProbeReport, limit int) (key, value, dropped string) {
	if len(r.Probes) > maxProbes {
		r.Probes = r.Probes[:maxProbes]
	}
	fit := func(entries []model.TargetHealth, reasons bool) (string, string, bool) {
		plain := marshalReport(r, entries, reasons)
		if len(plain) <= limit {
			return reportAnnotation, string(plain), true
		}
		// Base64 makes 4 bytes of 3: a compressed report of more than
		// limit*3/4 bytes cannot fit, so stop compressing there.
		z, ok := compressReport(plain, limit*3/4)
		return reportGzAnnotation, z, ok && len(z) <= limit
	}
	if len(r.NotUp) <= maxEntries {
		if key, value, ok := fit(r.NotUp, true); ok {
			return key, value, ""
		}
		if key, value, ok := fit(r.NotUp, false); ok {
			return key, value, "reasons"
		}
	}
	if _, _, ok := fit(nil, false); !ok {
		r.Probes = nil
		key, value, _ = fit(nil, false)
		return key, value, fmt.Sprintf("reasons, its %d entries and the services it probes (it votes on none)", len(r.NotUp))
	}
	// The largest prefix that fits, to within 0.5%, by bisection around
	// an estimate from the size of the whole: a report this large is a
	// fault somewhere else, and rare, but each try compresses it anew.
	n := min(len(r.NotUp), maxEntries)
	lo, hi := 0, n+1 // lo fits, hi does not
	if whole := len(gzipped(marshalReport(r, r.NotUp[:n], false))); whole > 0 {
		estimate := n * (limit * 3 / 4) / whole
		if down := min(n, estimate*9/10); down > 0 {
			if _, _, ok := fit(r.NotUp[:down], false); ok {
				lo = down
			}
		}
		if up := min(n, estimate*11/10); up > lo {
			if _, _, ok := fit(r.NotUp[:up], false); !ok {
				hi = up
			}
		}
	}
	for hi-lo > max(1, lo/200) {
		mid := (lo + hi) / 2
		if _, _, ok := fit(r.NotUp[:mid], false); ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	key, value, _ = fit(r.NotUp[:lo], false)
	return key, value, fmt.Sprintf("reasons and %d of %d entries (read as up by the other replicas)", len(r.NotUp)-lo, len(r.NotUp))
}

// gzipped returns b gzipped.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression) // a valid level
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// compressReport gzips b and encodes it in base64; false when the
// compressed bytes exceed limit, with nothing returned.
func compressReport(b []byte, limit int) (string, bool) {
	var buf limitedBuffer
	buf.max = limit
	// The default level: the best holds about 15% more entries for
	// about three times the CPU, spent on every write of a large report.
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression) // a valid level
	_, err := zw.Write(b)
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return "", false
	}
	return base64.StdEncoding.EncodeToString(buf.b.Bytes()), true
}

// limitedBuffer is a bytes.Buffer that refuses to grow beyond max.
type limitedBuffer struct {
	b   bytes.Buffer
	max int
}

var errTooLarge = errors.New("too large")

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.max {
		return 0, errTooLarge
	}
	return l.b.Write(p)
}

func marshalReport(r model.ProbeReport, entries []model.TargetHealth, reasons bool) []byte {
	w := wireReport{V: wireVersion, Replica: r.Replica, At: r.At.UTC().Format(time.RFC3339Nano), Quorum: r.Quorum,
		Targets: map[string]map[string]map[string][]json.RawMessage{}}
	index := map[string]int{}
	for _, t := range entries {
		clusters := w.Targets[t.Service]
		if clusters == nil {
			clusters = map[string]map[string][]json.RawMessage{}
			w.Targets[t.Service] = clusters
		}
		addrs := clusters[t.Cluster]
		if addrs == nil {
			addrs = map[string][]json.RawMessage{}
			clusters[t.Cluster] = addrs
		}
		state := wireUnknown
		if t.State == model.Down {
			state = wireDown
		}
		var since int64
		if !t.Since.IsZero() {
			since = t.Since.Unix()
		}
		e := []json.RawMessage{json.RawMessage(fmt.Sprint(state)), json.RawMessage(fmt.Sprint(since))}
		if reason := truncateReason(t.Reason); reasons && reason != "" {
			i, ok := index[reason]
			if !ok {
				i = len(w.Reasons)
				index[reason] = i
				w.Reasons = append(w.Reasons, reason)
			}
			e = append(e, json.RawMessage(fmt.Sprint(i)))
		}
		addrs[t.Address.String()] = e
	}
	for _, service := range r.Probes {
		if _, ok := w.Targets[service]; !ok {
			w.Probes = append(w.Probes, service)
		}
	}
	b, err := json.Marshal(w)
	if err != nil {
		panic(err) // strings and numbers only
	}
	return b
}

// truncateReason cuts a reason to maxReason bytes, on a rune boundary.
func truncateReason(s string) string {
	if len(s) <= maxReason {
		return s
	}
	return strings.ToValidUTF8(s[:maxReason], "") // a rune cut in two goes
}

// decodeReport parses the report in a report Lease's annotations (one of
// meridian.io/report and meridian.io/report.gz) back into a
// model.ProbeReport.
func decodeReport(annotations map[string]string) (model.ProbeReport, error) {
	plain, hasPlain := annotations[reportAnnotation]
	z, hasZ := annotations[reportGzAnnotation]
	key := reportAnnotation
	switch {
	case hasPlain && hasZ:
		return model.ProbeReport{}, fmt.Errorf("both %s and %s: want one", reportAnnotation, reportGzAnnotation)
	case !hasPlain && !hasZ:
		return model.ProbeReport{}, fmt.Errorf("no %s annotation", reportAnnotation)
	case hasZ:
		key = reportGzAnnotation
		b, err := decompressReport(z)
		if err != nil {
			return model.ProbeReport{}, fmt.Errorf("%s: %w", key, err)
		}
		plain = string(b)
	}
	var w wireReport
	if err := json.Unmarshal([]byte(plain), &w); err != nil {
		return model.ProbeReport{}, fmt.Errorf("%s: %w", key, err)
	}
	if w.V != wireVersion {
		return model.ProbeReport{}, fmt.Errorf("%s: version %d, want %d", key, w.V, wireVersion)
	}
	at, err := time.Parse(time.RFC3339Nano, w.At)
	if err != nil {
		return model.ProbeReport{}, fmt.Errorf("%s: at %.40q: not RFC 3339", key, w.At)
	}
	if len(w.Quorum) > maxQuorum {
		w.Quorum = strings.ToValidUTF8(w.Quorum[:maxQuorum], "")
	}
	probes := w.Probes
	if len(probes) > maxProbes {
		probes = probes[:maxProbes]
	}
	for _, service := range probes {
		if len(service) > maxName {
			return model.ProbeReport{}, fmt.Errorf("%s: probes: a name of %d bytes, over %d", key, len(service), maxName)
		}
	}
	// In order, so that a report over maxEntries is cut as the encoder
	// cuts one, the same way on every replica.
	var notUp []model.TargetHealth
	for _, service := range slices.Sorted(maps.Keys(w.Targets)) {
		clusters := w.Targets[service]
		if len(service) > maxName {
			return model.ProbeReport{}, fmt.Errorf("%s: targets: a service name of %d bytes, over %d", key, len(service), maxName)
		}
		for _, cluster := range slices.Sorted(maps.Keys(clusters)) {
			addrs := clusters[cluster]
			if len(cluster) > maxName {
				return model.ProbeReport{}, fmt.Errorf("%s: %s: a cluster name of %d bytes, over %d", key, service, len(cluster), maxName)
			}
			type keyed struct {
				addr netip.Addr
				key  string
			}
			var sorted []keyed
			for a := range addrs {
				addr, err := netip.ParseAddr(a)
				if err != nil {
					return model.ProbeReport{}, fmt.Errorf("%s: %s/%s: address %.64q not valid", key, service, cluster, a)
				}
				sorted = append(sorted, keyed{addr.Unmap(), a})
			}
			slices.SortFunc(sorted, func(x, y keyed) int { return x.addr.Compare(y.addr) })
			for _, k := range sorted {
				if len(notUp) == maxEntries {
					break
				}
				addr := k.addr
				t, err := decodeEntry(addrs[k.key], w.Reasons)
				if err != nil {
					return model.ProbeReport{}, fmt.Errorf("%s: %s/%s/%s: %w", key, service, cluster, addr, err)
				}
				t.Service, t.Cluster, t.Address = service, cluster, addr
				notUp = append(notUp, t)
			}
		}
	}
	r := model.NewProbeReport(w.Replica, at, notUp, probes)
	r.Quorum = w.Quorum
	return r, nil
}

// decompressReport reverses compressReport, refusing more than
// maxDecodedBytes.
func decompressReport(s string) ([]byte, error) {
	z, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(zr, maxDecodedBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxDecodedBytes {
		return nil, fmt.Errorf("over %d bytes decompressed", maxDecodedBytes)
	}
	return b, nil
}

func decodeEntry(e []json.RawMessage, reasons []string) (model.TargetHealth, error) {
	var t model.TargetHealth
	if len(e) < 2 || len(e) > 3 {
		return t, fmt.Errorf("entry of %d values, want [state, since] or [state, since, reason]", len(e))
	}
	var state int
	var since int64
	if err := json.Unmarshal(e[0], &state); err != nil {
		return t, fmt.Errorf("state: %w", err)
	}
	switch state {
	case wireDown:
		t.State = model.Down
	case wireUnknown:
		t.State = model.Unknown
	default:
		return t, fmt.Errorf("state %d, want %d (down) or %d (unknown)", state, wireDown, wireUnknown)
	}
	if err := json.Unmarshal(e[1], &since); err != nil {
		return t, fmt.Errorf("since %.20s: not a number", e[1])
	}
	if since != 0 {
		t.Since = time.Unix(since, 0).UTC()
	}
	if len(e) == 3 {
		var i int
		if err := json.Unmarshal(e[2], &i); err != nil || i < 0 || i >= len(reasons) {
			return t, fmt.Errorf("reason %.20s: not an index into %d reasons", e[2], len(reasons))
		}
		t.Reason = truncateReason(reasons[i])
	}
	return t, nil
}
