package kube

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
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
	Locality    model.Locality
	Location    model.Point
	HasLocation bool
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
	logger  *slog.Logger
	changed func() // called on any change; cheap and non-blocking
	metrics *Metrics
	cancel  context.CancelFunc

	kube    kubernetes.Interface
	istio   istioclient.Interface
	gateway gwclient.Interface

	stores struct {
		services, ingresses, slices, nodes cache.Store
		istioGateways, virtualServices     cache.Store
		gateways, routes                   cache.Store
	}
	mu          sync.Mutex
	synced      []cache.InformerSynced
	probed      bool // the optional APIs were looked for once
	startedAt   time.Time
	answered    bool // the API server has said it is ready at least once
	lastContact time.Time
	lostAt      time.Time // zero while reachable
	err         string
	optional    map[string]bool // which optional APIs are watched
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
func startCluster(ctx context.Context, cfg ClusterConfig, logger *slog.Logger, m *Metrics, changed func()) (*cluster, error) {
	rc, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	rc = rest.CopyConfig(rc)
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "meridian"
	c := &cluster{cfg: cfg, logger: logger.With("cluster", cfg.Name), changed: changed, metrics: m, optional: map[string]bool{}}
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

	f := informers.NewSharedInformerFactory(c.kube, 0)
	c.stores.services = c.watch(ctx, f.Core().V1().Services().Informer(), transform(slimServiceOf))
	c.stores.ingresses = c.watch(ctx, f.Networking().V1().Ingresses().Informer(), transform(slimIngressOf))
	c.stores.slices = c.watch(ctx, f.Discovery().V1().EndpointSlices().Informer(), transform(slimEndpointSliceOf))
	c.stores.nodes = c.watch(ctx, f.Core().V1().Nodes().Informer(), transform(slimNodeOf))
	f.Start(ctx.Done())
	go c.beat(ctx)
	go c.announceSync(ctx)
	return c, nil
}

// watch wires an informer: slim objects in, every event a change, watch
// errors noted on the cluster's status.
func (c *cluster) watch(ctx context.Context, inf cache.SharedIndexInformer, t cache.TransformFunc) cache.Store {
	inf.SetTransform(t)
	inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		c.mu.Lock()
		c.err = err.Error()
		c.mu.Unlock()
	})
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.changed() },
		UpdateFunc: func(any, any) { c.changed() },
		DeleteFunc: func(any) { c.changed() },
	})
	c.mu.Lock()
	c.synced = append(c.synced, inf.HasSynced)
	c.mu.Unlock()
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
	needIstio, needGW := !c.optional["istio"], !c.optional["gateway"]
	c.mu.Unlock()
	if needIstio && has("networking.istio.io/v1") {
		f := istioinformers.NewSharedInformerFactory(c.istio, 0)
		c.stores.istioGateways = c.watch(ctx, f.Networking().V1().Gateways().Informer(), transform(slimIstioGatewayOf))
		c.stores.virtualServices = c.watch(ctx, f.Networking().V1().VirtualServices().Informer(), transform(slimVirtualServiceOf))
		f.Start(ctx.Done())
		c.mu.Lock()
		c.optional["istio"] = true
		c.mu.Unlock()
	}
	if needGW && has("gateway.networking.k8s.io/v1") {
		f := gwinformers.NewSharedInformerFactory(c.gateway, 0)
		c.stores.gateways = c.watch(ctx, f.Gateway().V1().Gateways().Informer(), transform(slimGatewayOf))
		c.stores.routes = c.watch(ctx, f.Gateway().V1().HTTPRoutes().Informer(), transform(slimHTTPRouteOf))
		f.Start(ctx.Done())
		c.mu.Lock()
		c.optional["gateway"] = true
		c.mu.Unlock()
	}
}

// beat asks the API server whether it is ready, at once and then every
// second. The first failure marks the cluster lost since its last contact
// (at start, since it was started); the first success after that marks it
// found again. The optional APIs are looked for after the first answer, so
// that a member that is down at start costs no discovery timeouts, and
// again every 30 s, as Istio and Gateway API may be installed later.
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
		c.mu.Lock()
		wasLost := !c.lostAt.IsZero()
		switch {
		case err != nil && !wasLost:
			c.lostAt, c.err = c.lastContact, err.Error()
			c.logger.Warn("cluster lost", "last_contact", c.lastContact, "err", err)
			c.metrics.losses.Add(1)
		case err == nil:
			c.lastContact, c.answered = now, true
			if wasLost {
				c.logger.Info("cluster recovered", "lost_for", now.Sub(c.lostAt).Round(time.Millisecond))
				c.lostAt, c.err = time.Time{}, ""
				c.metrics.recoveries.Add(1)
			}
		}
		changed := wasLost != !c.lostAt.IsZero()
		probed := c.probed
		c.mu.Unlock()
		if changed {
			c.changed()
		}
		if err == nil && (!probed || n%30 == 29) {
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
// added. Informer events come before the informer says it has synced, so
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
// informer has listed its objects once.
func (c *cluster) hasSynced() bool {
	c.mu.Lock()
	probed, synced := c.probed, c.synced
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

// status returns the cluster's reachability.
func (c *cluster) status() (lostAt, lastContact time.Time, err string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lostAt, c.lastContact, c.err
}

func (c *cluster) stop() { c.cancel() }

// snapshot reads the cluster's slim objects from its informers' stores.
func (c *cluster) snapshot() *snapshot {
	s := &snapshot{services: map[objectKey]*slimService{}, slices: map[objectKey][]*slimEndpointSlice{}, nodes: map[string]*slimNode{}}
	for _, o := range c.stores.services.List() {
		if v, ok := o.(*slimService); ok {
			s.services[v.objectKey] = v
		}
	}
	for _, o := range c.stores.slices.List() {
		if v, ok := o.(*slimEndpointSlice); ok {
			s.slices[v.service] = append(s.slices[v.service], v)
		}
	}
	for _, o := range c.stores.nodes.List() {
		if v, ok := o.(*slimNode); ok {
			s.nodes[v.name] = v
		}
	}
	s.ingresses = listAs[*slimIngress](c.stores.ingresses)
	c.mu.Lock()
	istio, gw := c.optional["istio"], c.optional["gateway"]
	c.mu.Unlock()
	if istio {
		s.istioGateways = listAs[*slimIstioGateway](c.stores.istioGateways)
		s.virtualServices = listAs[*slimVirtualService](c.stores.virtualServices)
	}
	if gw {
		s.gateways = listAs[*slimGateway](c.stores.gateways)
		s.routes = listAs[*slimHTTPRoute](c.stores.routes)
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
