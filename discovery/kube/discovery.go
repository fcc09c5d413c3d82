package kube

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/meridian-gtm/meridian/internal/debounce"
	"github.com/meridian-gtm/meridian/model"
)

// Labels and annotations of kubeconfig Secrets, as Istio's remote secrets:
// `kubectl apply` one and Meridian watches that cluster, no restart needed.
const (
	LabelCluster       = "meridian.io/cluster"
	AnnotationRegion   = "meridian.io/region"
	AnnotationZone     = "meridian.io/zone"
	AnnotationLocation = "meridian.io/location" // "LAT,LON"
)

// Config is what discovery needs.
type Config struct {
	// Clusters are the member clusters the config file declares.
	Clusters []ClusterConfig
	// Static holds the clusters and backends declared statically in the
	// config; they are merged into every Inventory.
	Static model.Inventory
	// Named ties global services to objects by name.
	Named []Named
	// Secrets, when set, is where kubeconfig Secrets of more clusters live.
	Secrets *SecretsConfig
	// Resolver is the recursive resolver for load balancer hostnames;
	// empty: the first nameserver of /etc/resolv.conf.
	Resolver string
	// StartWait and SyncTimeout bound how long the first Inventory waits
	// for a cluster's initial listing: StartWait (default 2 s) for a
	// cluster that has not answered at all, SyncTimeout (default 10 s) for
	// one that answered and is still listing. A cluster that fails to
	// answer is not waited for. A cluster left out joins when it has
	// listed its objects.
	StartWait, SyncTimeout time.Duration
	// OptionalRecheck is how often a reachable cluster is asked again
	// whether it serves Istio and Gateway API, which may be installed
	// after Meridian started (default 30 s).
	OptionalRecheck time.Duration
	Logger          *slog.Logger
	// Publish receives every new Inventory, from one goroutine.
	Publish func(model.Inventory)
}

// SecretsConfig locates the namespace watched for kubeconfig Secrets.
type SecretsConfig struct {
	Namespace string
	// Cluster is where the Secrets are: a kubeconfig, or in-cluster.
	Cluster ClusterConfig
}

func (c *Config) validate() {
	if c.StartWait <= 0 {
		c.StartWait = 2 * time.Second
	}
	if c.SyncTimeout < c.StartWait {
		c.SyncTimeout = max(10*time.Second, c.StartWait)
	}
	if c.OptionalRecheck < heartbeat {
		c.OptionalRecheck = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Metrics counts what discovery sees happen to clusters.
type Metrics struct {
	losses, recoveries, inventories atomic.Uint64
}

// Losses, Recoveries and Inventories return the counts so far.
func (m *Metrics) Losses() uint64      { return m.losses.Load() }
func (m *Metrics) Recoveries() uint64  { return m.recoveries.Load() }
func (m *Metrics) Inventories() uint64 { return m.inventories.Load() }

// ClusterStatus is what operators see of one member cluster.
type ClusterStatus struct {
	Name   string
	Source string // "config" or "secret NAMESPACE/NAME"
	Synced bool
	// Resyncing: the API server answers again after it was lost and the
	// restarted watches are listing; LostAt stays set until they have.
	Resyncing   bool
	LostAt      time.Time
	LastContact time.Time
	Error       string
}

// Discovery keeps the Inventory of every member cluster current.
type Discovery struct {
	cfg      Config
	Metrics  Metrics
	wake     chan struct{}
	resolver *hostResolver

	mu       sync.Mutex
	clusters map[string]*member
	failed   map[string]ClusterStatus // clusters whose kubeconfig does not work
	built    map[string][]model.Backend
	dirty    map[string]bool
	last     model.Inventory
	started  bool
}

// member is a watched cluster and where it came from.
type member struct {
	c      *cluster
	source string
	cfg    ClusterConfig
}

// New returns a Discovery; Run starts it.
func New(cfg Config) *Discovery {
	cfg.validate()
	return &Discovery{cfg: cfg, wake: make(chan struct{}, 1), clusters: map[string]*member{},
		failed: map[string]ClusterStatus{}, built: map[string][]model.Backend{}, dirty: map[string]bool{}}
}

// Run watches the clusters and publishes Inventories until ctx ends.
func (d *Discovery) Run(ctx context.Context) error {
	d.resolver = newHostResolver(ctx, d.cfg.Resolver, func() { d.markAll() })
	for _, cc := range d.cfg.Clusters {
		d.add(ctx, cc, "config")
	}
	if d.cfg.Secrets != nil {
		if err := d.watchSecrets(ctx); err != nil {
			return err
		}
	}
	d.waitSynced(ctx)
	d.mu.Lock()
	d.started = true
	d.mu.Unlock()
	d.publish()
	for {
		select {
		case <-ctx.Done():
			d.mu.Lock()
			for _, m := range d.clusters {
				m.c.stop()
			}
			d.mu.Unlock()
			return nil
		case <-d.wake:
		}
		// No hold-off here: the weights loop is the one debounce between
		// a change and the answer. A change is built at once; the ones
		// that follow within debounce.DefaultRest are built together after
		// it, so a burst costs a few Inventories, not one per write.
		d.publish()
		debounce.Rest(ctx, debounce.DefaultRest)
	}
}

// waitSynced waits until every cluster has listed its objects or is not
// worth waiting for (see cluster.settled), so that the first Inventory
// does not miss what is merely still loading, nor waits for a member that
// is down. A cluster left out joins when it has listed its objects; until
// then it has no backends: unknown, not empty.
func (d *Discovery) waitSynced(ctx context.Context) {
	for ctx.Err() == nil {
		now := time.Now()
		var waiting, late []string
		d.mu.Lock()
		for name, m := range d.clusters {
			switch {
			case !m.c.settled(now, d.cfg.StartWait, d.cfg.SyncTimeout):
				waiting = append(waiting, name)
			case !m.c.hasSynced():
				late = append(late, name)
			}
		}
		d.mu.Unlock()
		if len(waiting) == 0 {
			if len(late) > 0 {
				slices.Sort(late)
				d.cfg.Logger.Warn("publishing without clusters that have not listed their objects; they join when they do", "clusters", late)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// add starts watching a cluster; a broken kubeconfig is kept as a status.
func (d *Discovery) add(ctx context.Context, cc ClusterConfig, source string) {
	c, err := startCluster(ctx, cc, d.cfg.Logger, &d.Metrics, d.cfg.OptionalRecheck, func() { d.mark(cc.Name) })
	d.mu.Lock()
	defer d.mu.Unlock()
	if err != nil {
		d.cfg.Logger.Error("cannot watch cluster", "cluster", cc.Name, "source", source, "err", err)
		d.failed[cc.Name] = ClusterStatus{Name: cc.Name, Source: source, Error: err.Error()}
		delete(d.built, cc.Name) // kept by a restart that failed
		d.resolver.keep(cc.Name, nil)
		return
	}
	delete(d.failed, cc.Name)
	d.clusters[cc.Name] = &member{c: c, source: source, cfg: cc}
	d.dirty[cc.Name] = true
	d.cfg.Logger.Info("watching cluster", "cluster", cc.Name, "source", source)
}

// remove stops watching a cluster and drops it from the Inventory. With
// restart, the cluster is about to be watched again with a new
// configuration: its backends stay in the Inventory until the new watch
// has listed its objects, rather than vanish meanwhile.
func (d *Discovery) remove(name string, restart bool) {
	d.mu.Lock()
	if m, ok := d.clusters[name]; ok {
		m.c.stop()
		delete(d.clusters, name)
		if !restart {
			delete(d.built, name)
			d.resolver.keep(name, nil)
		}
		d.cfg.Logger.Info("cluster removed", "cluster", name, "source", m.source)
	}
	delete(d.failed, name)
	d.mu.Unlock()
	d.signal()
}

func (d *Discovery) mark(name string) {
	d.mu.Lock()
	d.dirty[name] = true
	d.mu.Unlock()
	d.signal()
}

func (d *Discovery) markAll() {
	d.mu.Lock()
	for name := range d.clusters {
		d.dirty[name] = true
	}
	d.mu.Unlock()
	d.signal()
}

func (d *Discovery) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// publish rebuilds the clusters that changed and hands out a new Inventory
// if its content differs. Services whose backends did not change keep
// their slices, so the engine re-solves only the others.
func (d *Discovery) publish() {
	d.mu.Lock()
	for name := range d.dirty {
		if m, ok := d.clusters[name]; ok && m.c.hasSynced() {
			used := map[string]bool{}
			d.built[name] = build(name, m.c.snapshot(), d.cfg.Named, func(host string) []netip.Addr {
				used[host] = true
				return d.resolver.lookup(host)
			})
			d.resolver.keep(name, used)
		}
	}
	clear(d.dirty)
	clusters := slices.Clone(d.cfg.Static.Clusters())
	for name, m := range d.clusters {
		if slices.ContainsFunc(clusters, func(c model.Cluster) bool { return c.Name == name }) {
			continue // the config's static cluster of that name wins
		}
		st := m.c.status()
		mc := model.Cluster{Name: name, Locality: m.cfg.Locality, Location: m.cfg.Location, LostAt: st.lostAt, Resyncing: st.resyncing}
		if mc.Locality == (model.Locality{}) && m.c.hasSynced() {
			mc.Locality = m.c.snapshot().locality()
		}
		clusters = append(clusters, mc)
	}
	byService := map[string][]model.Backend{}
	for _, b := range d.cfg.Static.Backends() {
		byService[b.Service] = append(byService[b.Service], b)
	}
	for name, bs := range d.built {
		if _, ok := d.clusters[name]; !ok {
			continue
		}
		for _, b := range bs {
			byService[b.Service] = append(byService[b.Service], b)
		}
	}
	prev := d.last
	d.mu.Unlock()

	next := prev
	first := len(prev.Clusters()) == 0 && len(prev.Services()) == 0
	slices.SortFunc(clusters, func(a, b model.Cluster) int { return cmp.Compare(a.Name, b.Name) })
	if first || !reflect.DeepEqual(prev.Clusters(), clusters) {
		next = next.WithClusters(clusters)
	}
	for _, svc := range prev.Services() {
		if _, ok := byService[svc]; !ok {
			next = next.WithBackends(svc, nil)
		}
	}
	for svc, bs := range byService {
		candidate := model.NewInventory(nil, bs).BackendsOf(svc)
		if !reflect.DeepEqual(prev.BackendsOf(svc), candidate) {
			next = next.WithBackends(svc, bs)
		}
	}
	if !first && reflect.DeepEqual(next, prev) {
		return
	}
	d.mu.Lock()
	d.last = next
	d.mu.Unlock()
	d.Metrics.inventories.Add(1)
	if d.cfg.Publish != nil {
		d.cfg.Publish(next)
	}
}

// Status returns every member cluster's status, sorted by name.
func (d *Discovery) Status() []ClusterStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []ClusterStatus
	for name, m := range d.clusters {
		st := m.c.status()
		out = append(out, ClusterStatus{Name: name, Source: m.source, Synced: m.c.hasSynced(), Resyncing: st.resyncing,
			LostAt: st.lostAt, LastContact: st.lastContact, Error: st.err})
	}
	for _, s := range d.failed {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b ClusterStatus) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// watchSecrets watches the namespace of kubeconfig Secrets and adds,
// replaces and removes clusters as Secrets come, change and go.
func (d *Discovery) watchSecrets(ctx context.Context) error {
	rc, err := restConfig(d.cfg.Secrets.Cluster)
	if err != nil {
		return fmt.Errorf("discovery: cluster secrets: %w", err)
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("discovery: cluster secrets: %w", err)
	}
	f := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(d.cfg.Secrets.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelCluster }))
	inf := f.Core().V1().Secrets().Informer()
	var secrets sync.Map // secret key -> cluster name and config, to tell changes
	apply := func(obj any) {
		s, ok := obj.(*corev1.Secret)
		if !ok {
			return
		}
		cc, err := clusterFromSecret(s)
		key := s.Namespace + "/" + s.Name
		source := "secret " + key
		if err != nil {
			d.mu.Lock()
			d.failed[s.Labels[LabelCluster]] = ClusterStatus{Name: s.Labels[LabelCluster], Source: source, Error: err.Error()}
			d.mu.Unlock()
			d.cfg.Logger.Error("bad cluster secret", "secret", key, "err", err)
			return
		}
		if old, ok := secrets.Load(key); ok {
			if reflect.DeepEqual(old, cc) {
				return
			}
			oldName := old.(ClusterConfig).Name
			d.remove(oldName, oldName == cc.Name)
		}
		secrets.Store(key, cc)
		d.add(ctx, cc, source)
		d.signal()
	}
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    apply,
		UpdateFunc: func(_, obj any) { apply(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if s, ok := obj.(*corev1.Secret); ok {
				key := s.Namespace + "/" + s.Name
				if old, ok := secrets.LoadAndDelete(key); ok {
					d.remove(old.(ClusterConfig).Name, false)
				}
			}
		},
	})
	f.Start(ctx.Done())
	// The Secrets are waited for as a member is: a home cluster that does
	// not answer must not hold up the clusters of the config file. The
	// clusters of Secrets listed later are added then, and join the
	// Inventory when they have listed their objects.
	wctx, cancel := context.WithTimeout(ctx, d.cfg.StartWait)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), inf.HasSynced) && ctx.Err() == nil {
		d.cfg.Logger.Warn("cluster secrets not listed yet; their clusters are added when they are", "namespace", d.cfg.Secrets.Namespace, "waited", d.cfg.StartWait)
	}
	return nil
}

// clusterFromSecret reads a cluster Secret: its name from the label, the
// kubeconfig from the key "kubeconfig" or else the only key, and its
// place from the annotations.
func clusterFromSecret(s *corev1.Secret) (ClusterConfig, error) {
	cc := ClusterConfig{Name: s.Labels[LabelCluster]}
	if cc.Name == "" {
		return cc, fmt.Errorf("label %s is empty", LabelCluster)
	}
	cc.KubeconfigData = s.Data["kubeconfig"]
	if cc.KubeconfigData == nil && len(s.Data) == 1 {
		for _, v := range s.Data {
			cc.KubeconfigData = v
		}
	}
	if cc.KubeconfigData == nil {
		return cc, fmt.Errorf("no kubeconfig: put it under the key \"kubeconfig\"")
	}
	cc.Locality = model.Locality{Region: s.Annotations[AnnotationRegion], Zone: s.Annotations[AnnotationZone]}
	if loc := s.Annotations[AnnotationLocation]; loc != "" {
		lat, lon, ok := strings.Cut(loc, ",")
		la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
		lo, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
		p := model.Point{Lat: la, Lon: lo}
		if !ok || err1 != nil || err2 != nil || !p.Valid() {
			return cc, fmt.Errorf("annotation %s: want \"LAT,LON\" in degrees, got %q", AnnotationLocation, loc)
		}
		cc.Location = model.LocationAt(p)
	}
	if _, err := restConfig(cc); err != nil {
		return cc, err
	}
	return cc, nil
}

// Reconfigure applies a reloaded config: static clusters and backends,
// named objects, and the config's clusters, started, stopped or restarted
// as they were added, removed or changed. Clusters from Secrets stay.
func (d *Discovery) Reconfigure(ctx context.Context, clusters []ClusterConfig, static model.Inventory, named []Named) {
	d.mu.Lock()
	d.cfg.Static, d.cfg.Named = static, named
	old := d.cfg.Clusters
	d.cfg.Clusters = clusters
	var stop []string
	var start []ClusterConfig
	for _, o := range old {
		i := slices.IndexFunc(clusters, func(c ClusterConfig) bool { return c.Name == o.Name })
		if i < 0 || !reflect.DeepEqual(clusters[i], o) {
			stop = append(stop, o.Name)
		}
	}
	for _, c := range clusters {
		i := slices.IndexFunc(old, func(o ClusterConfig) bool { return o.Name == c.Name })
		if i < 0 || !reflect.DeepEqual(old[i], c) {
			start = append(start, c)
		}
	}
	for name := range d.clusters {
		d.dirty[name] = true // named objects may have changed
	}
	d.mu.Unlock()
	for _, name := range stop {
		d.remove(name, slices.ContainsFunc(start, func(c ClusterConfig) bool { return c.Name == name }))
	}
	for _, c := range start {
		d.add(ctx, c, "config")
	}
	d.signal()
}
