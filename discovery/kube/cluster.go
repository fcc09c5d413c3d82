package kube

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"

	"github.com/meridian-gtm/meridian/model"
)

// ClusterConfig says how to reach one member cluster and where it is.
type ClusterConfig struct {
	Name string
	// Kubeconfig is the path of a kubeconfig file; KubeconfigData a
	// kubeconfig itself (from a Secret). With neither, InCluster.
	Kubeconfig     string
	KubeconfigData []byte
	Context        string
	InCluster      bool
	// Locality and Location, when set, override what the nodes say.
	Locality model.Locality
	Location model.Location
}

// heartbeat is how often a cluster's API server is asked whether it is
// ready; heartbeatTimeout bounds each question, and discoveryTimeout each
// question about which optional APIs it serves. Every call to a member has
// a deadline: a member that accepts a connection and never answers must
// not hold up anything else.
const (
	heartbeat        = time.Second
	heartbeatTimeout = 2 * time.Second
	discoveryTimeout = 5 * time.Second
)

// cluster watches one member cluster: shared informers store its objects
// as slim structs, and a heartbeat tells whether it is reachable.
type cluster struct {
	cfg     ClusterConfig
	recheck int // heartbeats between looks for the optional APIs
	logger  *slog.Logger
	changed func() // called on any change; cheap and non-blocking
	metrics *Metrics
	cancel  context.CancelFunc

	kube    kubernetes.Interface
	istio   istioclient.Interface
	gateway gwclient.Interface

	mu          sync.Mutex
	cur         *informerSet // the informers whose stores are served
	next        *informerSet // informers restarted on recovery, listing; nil when none
	probed      bool         // the optional APIs were looked for once
	startedAt   time.Time
	answered    bool // the API server has said it is ready at least once
	lastContact time.Time
	lostAt      time.Time // zero while reachable
	err         string
}

// informerSet is one generation of a cluster's informers: started
// together, stopped together by cancel. Its fields change under the
// cluster's lock.
type informerSet struct {
	ctx    context.Context // ends when the set is stopped
	cancel context.CancelFunc
	stores struct {
		services, ingresses, slices, nodes cache.Store
		istioGateways, virtualServices     cache.Store
		gateways, routes                   cache.Store
	}
	synced   []cache.InformerSynced
	optional map[string]bool // which optional APIs are watched
}

// hasSynced reports whether every informer of the set has listed once.
func (s *informerSet) hasSynced() bool {
	for _, f := range s.synced {
		if !f() {
			return false
		}
	}
	return true
}

// restConfig builds the client configuration of a cluster.
func restConfig(cfg ClusterConfig) (*rest.Config, error) {
	switch {
	case len(cfg.KubeconfigData) > 0:
		cc, err := clientcmd.Load(cfg.KubeconfigData)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
		return clientcmd.NewDefaultClientConfig(*cc, &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
	case cfg.Kubeconfig != "":
		return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.Kubeconfig},
			&clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
	case os.Getenv("KUBECONFIG") != "":
		// In-cluster, but pointed elsewhere by the environment, as kubectl
		// is: a pod that uses a projected kubeconfig, or Meridian run
		// outside its cluster with a pod's identity.
		return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{Precedence: filepath.SplitList(os.Getenv("KUBECONFIG"))},
			&clientcmd.ConfigOverrides{CurrentContext: cfg.Context}).ClientConfig()
	default:
		return rest.InClusterConfig()
	}
}

// startCluster connects to a cluster and starts watching it. A bad
// kubeconfig is an error; an unreachable API server is not: the cluster is
// then lost until it answers.
func startCluster(ctx context.Context, cfg ClusterConfig, logger *slog.Logger, m *Metrics, recheck time.Duration, changed func()) (*cluster, error) {
	rc, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "meridian"
	c := &cluster{cfg: cfg, logger: logger.With("cluster", cfg.Name), changed: changed, metrics: m,
		recheck: max(1, int(recheck/heartbeat))}
	if c.kube, err = kubernetes.NewForConfig(rc); err != nil {
		return nil, err
	}
	if c.istio, err = istioclient.NewForConfig(rc); err != nil {
		return nil, err
	}
	if c.gateway, err = gwclient.NewForConfig(rc); err != nil {
		return nil, err
	}
	ctx, c.cancel = context.WithCancel(ctx)
	c.startedAt = time.Now()
	c.lastContact = c.startedAt

	c.cur = c.startSet(ctx, nil)
	go c.beat(ctx)
	go c.announceSync(ctx)
	return c, nil
}

// startSet starts a generation of informers: the core ones, and those of
// the optional APIs that old, the generation it replaces, watches (they
// were found once; they are not looked for again). Its context is a child
// of ctx, so stopping the cluster stops it.
func (c *cluster) startSet(ctx context.Context, old *informerSet) *informerSet {
	s := &informerSet{optional: map[string]bool{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	f := informers.NewSharedInformerFactory(c.kube, 0)
	c.mu.Lock()
	s.stores.services = c.watch(s, f.Core().V1().Services().Informer(), transform(slimServiceOf))
	s.stores.ingresses = c.watch(s, f.Networking().V1().Ingresses().Informer(), transform(slimIngressOf))
	s.stores.slices = c.watch(s, f.Discovery().V1().EndpointSlices().Informer(), transform(slimEndpointSliceOf))
	s.stores.nodes = c.watch(s, f.Core().V1().Nodes().Informer(), transform(slimNodeOf))
	istio, gw := old != nil && old.optional["istio"], old != nil && old.optional["gateway"]
	c.mu.Unlock()
	f.Start(s.ctx.Done())
	if istio {
		c.startIstio(s)
	}
	if gw {
		c.startGateway(s)
	}
	return s
}

// startIstio starts the Istio informers of a set.
func (c *cluster) startIstio(s *informerSet) {
	f := istioinformers.NewSharedInformerFactory(c.istio, 0)
	c.mu.Lock()
	s.stores.istioGateways = c.watch(s, f.Networking().V1().Gateways().Informer(), transform(slimIstioGatewayOf))
	s.stores.virtualServices = c.watch(s, f.Networking().V1().VirtualServices().Informer(), transform(slimVirtualServiceOf))
	s.optional["istio"] = true
	c.mu.Unlock()
	f.Start(s.ctx.Done())
}

// startGateway starts the Gateway API informers of a set.
func (c *cluster) startGateway(s *informerSet) {
	f := gwinformers.NewSharedInformerFactory(c.gateway, 0)
	c.mu.Lock()
	s.stores.gateways = c.watch(s, f.Gateway().V1().Gateways().Informer(), transform(slimGatewayOf))
	s.stores.routes = c.watch(s, f.Gateway().V1().HTTPRoutes().Informer(), transform(slimHTTPRouteOf))
	s.optional["gateway"] = true
	c.mu.Unlock()
	f.Start(s.ctx.Done())
}

// watch wires an informer into a set: slim objects in, every event a
// change, watch errors of a set in use noted on the cluster's status. The caller holds
// c.mu.
func (c *cluster) watch(s *informerSet, inf cache.SharedIndexInformer, t cache.TransformFunc) cache.Store {
	inf.SetTransform(t)
	inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		c.mu.Lock()
		if s == c.cur || s == c.next { // not a set being stopped
			c.err = err.Error()
		}
		c.mu.Unlock()
	})
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.changed() },
		UpdateFunc: func(any, any) { c.changed() },
		DeleteFunc: func(any) { c.changed() },
	})
	s.synced = append(s.synced, inf.HasSynced)
	return inf.GetStore()
}

// startOptional starts the Istio and Gateway API informers once their
// APIs exist in the cluster: most clusters have one or neither. It runs in
// the heartbeat's goroutine, never in the caller of startCluster, and each
// question has a deadline.
func (c *cluster) startOptional(ctx context.Context) {
	has := func(gv string) bool {
		qctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
		defer cancel()
		return c.kube.Discovery().RESTClient().Get().AbsPath("/apis/"+gv).Do(qctx).Error() == nil
	}
	c.mu.Lock()
	needIstio, needGW := !c.cur.optional["istio"], !c.cur.optional["gateway"]
	c.mu.Unlock()
	if needIstio && has("networking.istio.io/v1") {
		c.startOptionalIn(c.startIstio, "istio")
	}
	if needGW && has("gateway.networking.k8s.io/v1") {
		c.startOptionalIn(c.startGateway, "gateway")
	}
}

// startOptionalIn starts an optional API's informers in the served set
// and in the one that is listing, if any, where they are not yet.
func (c *cluster) startOptionalIn(start func(*informerSet), api string) {
	c.mu.Lock()
	sets := []*informerSet{c.cur, c.next}
	c.mu.Unlock()
	for _, s := range sets {
		if s == nil {
			continue
		}
		c.mu.Lock()
		has := s.optional[api]
		c.mu.Unlock()
		if !has {
			start(s)
		}
	}
}

// resync starts a new generation of informers for a member that answers
// again after it was lost. client-go's reflectors retry a lost API server
// with a back-off that grows to 30 s (and up to 60 s with its jitter), so
// after an outage of 25 s the old informers would see the member's
// changes 40 to 60 s after its return; new informers list at once. The
// old ones keep serving their objects until the new ones have listed (see
// promote); the cluster is still lost, and resyncing, meanwhile.
func (c *cluster) resync(ctx context.Context) {
	c.mu.Lock()
	old := c.cur
	c.mu.Unlock()
	s := c.startSet(ctx, old)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lostAt.IsZero() || c.next != nil { // cannot happen: only beat starts sets
		s.cancel()
		return
	}
	c.next = s
	c.logger.Info("cluster answers again; restarting its watches", "lost_for", time.Since(c.lostAt).Round(time.Millisecond))
}

// promote serves the new informers of a resyncing cluster once they have
// listed, stops the old ones, and marks the cluster found again. It
// reports whether it did.
func (c *cluster) promote() bool {
	c.mu.Lock()
	next := c.next
	c.mu.Unlock()
	if next == nil || !next.hasSynced() {
		return false
	}
	c.mu.Lock()
	if c.next != next { // lost again meanwhile
		c.mu.Unlock()
		return false
	}
	old := c.cur
	c.cur, c.next = next, nil
	c.logger.Info("cluster recovered", "lost_for", time.Since(c.lostAt).Round(time.Millisecond))
	c.lostAt, c.err = time.Time{}, ""
	c.metrics.recoveries.Add(1)
	c.mu.Unlock()
	old.cancel()
	return true
}

// beat asks the API server whether it is ready, at once and then every
// second. The first failure marks the cluster lost since its last contact
// (at start, since it was started); the first success after that restarts
// its informers (resync), and the cluster is found again when they have
// listed (promote). A failure while they list stops them: the next
// success starts others. The optional APIs are looked for after the first
// answer, so that a member that is down at start costs no discovery
// timeouts, and again every 30 s, as Istio and Gateway API may be
// installed later.
func (c *cluster) beat(ctx context.Context) {
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for n := 0; ; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
		qctx, cancel := context.WithTimeout(ctx, heartbeatTimeout)
		err := c.kube.Discovery().RESTClient().Get().AbsPath("/readyz").Do(qctx).Error()
		cancel()
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		var abandoned *informerSet
		c.mu.Lock()
		wasLost := !c.lostAt.IsZero()
		resync := false
		switch {
		case err != nil && !wasLost:
			c.lostAt, c.err = c.lastContact, err.Error()
			c.logger.Warn("cluster lost", "last_contact", c.lastContact, "err", err)
			c.metrics.losses.Add(1)
		case err != nil && c.next != nil:
			abandoned, c.next, c.err = c.next, nil, err.Error()
			c.logger.Warn("cluster lost again while its watches restarted", "err", err)
		case err == nil:
			c.lastContact, c.answered = now, true
			resync = wasLost && c.next == nil
		}
		changed := wasLost != !c.lostAt.IsZero() || resync || abandoned != nil
		probed := c.probed
		c.mu.Unlock()
		if abandoned != nil {
			abandoned.cancel()
		}
		if resync {
			c.resync(ctx)
		}
		if changed {
			c.changed()
		}
		if err == nil && (!probed || n%c.recheck == c.recheck-1) {
			c.startOptional(ctx) // announceSync says when it is done
			c.mu.Lock()
			c.probed = true
			c.mu.Unlock()
		}
	}
}

// syncPoll is how often a cluster checks whether its informers have
// listed their objects.
const syncPoll = 50 * time.Millisecond

// announceSync calls changed whenever the cluster becomes synced: when its
// informers have listed their objects at start, after a member that was
// down at start comes up, or after informers for an optional API are
// added; and promotes a resyncing cluster's new informers once they have
// listed. Informer events come before the informer says it has synced, so
// without this the last of them could find the cluster not yet synced and
// its backends would wait for the next change.
func (c *cluster) announceSync(ctx context.Context) {
	t := time.NewTicker(syncPoll)
	defer t.Stop()
	synced := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.promote() {
			c.changed()
		}
		if now := c.hasSynced(); now != synced {
			synced = now
			if synced {
				c.changed()
			}
		}
	}
}

// settled reports whether the first Inventory need not wait any longer for
// this cluster: it has listed its objects, or it failed to answer, or it
// has not answered within startWait of being started, or it answered but
// is still listing after syncTimeout. A member that answers is worth a
// longer wait than one that says nothing: its listing may be large.
func (c *cluster) settled(now time.Time, startWait, syncTimeout time.Duration) bool {
	if c.hasSynced() {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	age := now.Sub(c.startedAt)
	switch {
	case !c.lostAt.IsZero():
		return true
	case !c.answered:
		return age >= startWait
	default:
		return age >= syncTimeout
	}
}

// hasSynced reports whether the optional APIs were looked for and every
// informer served has listed its objects once.
func (c *cluster) hasSynced() bool {
	c.mu.Lock()
	probed, cur := c.probed, c.cur
	var synced []cache.InformerSynced
	if cur != nil {
		synced = slices.Clone(cur.synced)
	}
	c.mu.Unlock()
	if !probed {
		return false
	}
	for _, s := range synced {
		if !s() {
			return false
		}
	}
	return true
}

// clusterState is a cluster's reachability, as status reports it.
type clusterState struct {
	lostAt, lastContact time.Time
	err                 string
	// resyncing: the API server answers again after it was lost, and the
	// restarted informers are listing; lostAt stays set until they have.
	resyncing bool
}

// status returns the cluster's reachability.
func (c *cluster) status() clusterState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return clusterState{lostAt: c.lostAt, lastContact: c.lastContact, err: c.err, resyncing: c.next != nil}
}

func (c *cluster) stop() { c.cancel() }

// snapshot reads the cluster's slim objects from its informers' stores.
func (c *cluster) snapshot() *snapshot {
	c.mu.Lock()
	set := c.cur
	istio, gw := set.optional["istio"], set.optional["gateway"]
	stores := set.stores
	c.mu.Unlock()
	s := &snapshot{services: map[objectKey]*slimService{}, slices: map[objectKey][]*slimEndpointSlice{}, nodes: map[string]*slimNode{}}
	for _, o := range stores.services.List() {
		if v, ok := o.(*slimService); ok {
			s.services[v.objectKey] = v
		}
	}
	for _, o := range stores.slices.List() {
		if v, ok := o.(*slimEndpointSlice); ok {
			s.slices[v.service] = append(s.slices[v.service], v)
		}
	}
	for _, o := range stores.nodes.List() {
		if v, ok := o.(*slimNode); ok {
			s.nodes[v.name] = v
		}
	}
	s.ingresses = listAs[*slimIngress](stores.ingresses)
	if istio {
		s.istioGateways = listAs[*slimIstioGateway](stores.istioGateways)
		s.virtualServices = listAs[*slimVirtualService](stores.virtualServices)
	}
	if gw {
		s.gateways = listAs[*slimGateway](stores.gateways)
		s.routes = listAs[*slimHTTPRoute](stores.routes)
	}
	return s
}

func listAs[T any](store cache.Store) []T {
	var out []T
	for _, o := range store.List() {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}
