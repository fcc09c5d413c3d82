package kube

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	istioapi "istio.io/api/networking/v1"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/meridian-gtm/meridian/internal/debounce"
	"github.com/meridian-gtm/meridian/internal/kubetest"
	"github.com/meridian-gtm/meridian/model"
)

// env is three real API servers shared by the tests of this package,
// started by the first test that calls useEnv, so that the tests of pure
// code (build_test.go) run without any.
var (
	env     *kubetest.Env
	envOnce sync.Once
	envErr  error
)

// useEnv starts env if no test has, and fails t when it cannot.
func useEnv(t testing.TB) {
	t.Helper()
	envOnce.Do(func() { env, envErr = kubetest.StartMain(3) })
	if envErr != nil {
		t.Fatal(envErr)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		env.Stop()
	}
	os.Exit(code)
}

var ctx = context.Background()

// watcher runs a Discovery and keeps every Inventory it publishes.
type watcher struct {
	mu   sync.Mutex
	invs []model.Inventory
	news chan struct{}
	d    *Discovery
}

func startDiscovery(t *testing.T, cfg Config) *watcher {
	t.Helper()
	w := &watcher{news: make(chan struct{}, 1)}
	cfg.Publish = func(inv model.Inventory) {
		w.mu.Lock()
		w.invs = append(w.invs, inv)
		w.mu.Unlock()
		select {
		case w.news <- struct{}{}:
		default:
		}
	}
	w.d = New(cfg)
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { w.d.Run(c); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *watcher) latest() model.Inventory {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.invs) == 0 {
		return model.Inventory{}
	}
	return w.invs[len(w.invs)-1]
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.invs)
}

// wait waits until the latest Inventory satisfies ok.
func (w *watcher) wait(t *testing.T, what string, ok func(model.Inventory) bool) model.Inventory {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if inv := w.latest(); ok(inv) {
			return inv
		}
		select {
		case <-w.news:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no Inventory with %s; the last: clusters %+v backends %+v", what, w.latest().Clusters(), w.latest().Backends())
		}
	}
}

func backend(inv model.Inventory, service, cluster string) (model.Backend, bool) {
	for _, b := range inv.BackendsOf(service) {
		if b.Cluster == cluster {
			return b, true
		}
	}
	return model.Backend{}, false
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func clusterCfg(i int) ClusterConfig {
	c := env.Clusters[i]
	return ClusterConfig{Name: c.Name, Kubeconfig: c.Kubeconfig}
}

// stopMember kills c's API server, as a crash would, and returns the
// function that starts it again. Should the test end without calling it
// (a failure on the way), the server is started when the test ends, so
// that the tests after it find every member up whatever their order.
func stopMember(t *testing.T, c *kubetest.Cluster) (restart func() error) {
	t.Helper()
	c.Stop()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			if err := c.Restart(); err != nil {
				t.Errorf("restarting %s: %v", c.Name, err)
			}
		}
	})
	return func() error {
		restarted = true
		return c.Restart()
	}
}

func global(names string) map[string]string { return map[string]string{AnnotationGlobalName: names} }

func TestGlobalServicesFromEveryKindOfObject(t *testing.T) {
	useEnv(t)
	c1 := env.Clusters[0]
	k := c1.Client
	ns := "kinds"
	c1.Namespace(t, ns)
	c1.Namespace(t, ns+"-gw")
	resolver := startResolver(t, "lb.example.test", "192.0.2.21")

	// An Ingress in front of Service web.
	c1.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}})
	c1.Endpoints(t, ns, "web", 6, []string{"zone-a", "zone-b"})
	pathType := networkingv1.PathTypePrefix
	in, err := k.NetworkingV1().Ingresses(ns).Create(ctx, &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns, Annotations: global("ingress.gslb.example.com")},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.10"}, {IP: "192.0.2.11"}}
	if _, err := k.NetworkingV1().Ingresses(ns).UpdateStatus(ctx, in, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A LoadBalancer Service, with an IP and a hostname.
	c1.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: ns, Annotations: global("lb.gslb.example.com, Other.GSLB.example.com.")},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}},
		corev1.LoadBalancerIngress{IP: "192.0.2.20"}, corev1.LoadBalancerIngress{Hostname: "lb.example.test"})
	c1.Endpoints(t, ns, "api", 2, nil)

	// An Istio Gateway: its address is the gateway Service's; its pods
	// are the VirtualService's destination's.
	c1.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway", Namespace: ns + "-gw"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"istio": "ingressgateway", "app": "gw"}}},
		corev1.LoadBalancerIngress{IP: "192.0.2.30"})
	ic := istioclient.NewForConfigOrDie(c1.Config)
	if _, err := ic.NetworkingV1().Gateways(ns).Create(ctx, &istionet.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: ns, Annotations: global("mesh.gslb.example.com")},
		Spec: istioapi.Gateway{Selector: map[string]string{"istio": "ingressgateway"},
			Servers: []*istioapi.Server{{Port: &istioapi.Port{Number: 80, Name: "http", Protocol: "HTTP"}, Hosts: []string{"*"}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c1.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: ns}})
	c1.Endpoints(t, ns, "reviews", 3, []string{"zone-a"})
	if _, err := ic.NetworkingV1().VirtualServices(ns).Create(ctx, &istionet.VirtualService{
		ObjectMeta: metav1.ObjectMeta{Name: "reviews", Namespace: ns},
		Spec: istioapi.VirtualService{Hosts: []string{"*"}, Gateways: []string{"public"},
			Http: []*istioapi.HTTPRoute{{Route: []*istioapi.HTTPRouteDestination{{Destination: &istioapi.Destination{Host: "reviews." + ns + ".svc.cluster.local"}}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// A Gateway API Gateway routing to web.
	gc := gwclient.NewForConfigOrDie(c1.Config)
	gw, err := gc.GatewayV1().Gateways(ns).Create(ctx, &gwapi.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "edge", Namespace: ns, Annotations: global("gw.gslb.example.com")},
		Spec:       gwapi.GatewaySpec{GatewayClassName: "example", Listeners: []gwapi.Listener{{Name: "http", Port: 80, Protocol: gwapi.HTTPProtocolType}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ipType := gwapi.IPAddressType
	gw.Status.Addresses = []gwapi.GatewayStatusAddress{{Type: &ipType, Value: "192.0.2.40"}}
	if _, err := gc.GatewayV1().Gateways(ns).UpdateStatus(ctx, gw, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.GatewayV1().HTTPRoutes(ns).Create(ctx, &gwapi.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: gwapi.HTTPRouteSpec{CommonRouteSpec: gwapi.CommonRouteSpec{ParentRefs: []gwapi.ParentReference{{Name: "edge"}}},
			Rules: []gwapi.HTTPRouteRule{{BackendRefs: []gwapi.HTTPBackendRef{{BackendRef: gwapi.BackendRef{BackendObjectReference: gwapi.BackendObjectReference{Name: "web", Port: ptr(gwapi.PortNumber(80))}}}}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// The config may name an object instead of its annotation.
	named := []Named{{Kind: KindIngress, Namespace: ns, Name: "web", Service: "named.gslb.example.com"}}
	w := startDiscovery(t, Config{Clusters: []ClusterConfig{clusterCfg(0)}, Resolver: resolver, Named: named})
	for _, tc := range []struct {
		service string
		ingress []netip.Addr
		pods    int
		zones   []model.ZonePods
	}{
		{"ingress.gslb.example.com", addrs("192.0.2.10", "192.0.2.11"), 6, []model.ZonePods{{Zone: "zone-a", ReadyPods: 3}, {Zone: "zone-b", ReadyPods: 3}}},
		{"lb.gslb.example.com", addrs("192.0.2.20", "192.0.2.21"), 2, nil},
		{"other.gslb.example.com", addrs("192.0.2.20", "192.0.2.21"), 2, nil},
		{"mesh.gslb.example.com", addrs("192.0.2.30"), 3, []model.ZonePods{{Zone: "zone-a", ReadyPods: 3}}},
		{"gw.gslb.example.com", addrs("192.0.2.40"), 6, []model.ZonePods{{Zone: "zone-a", ReadyPods: 3}, {Zone: "zone-b", ReadyPods: 3}}},
		{"named.gslb.example.com", addrs("192.0.2.10", "192.0.2.11"), 6, []model.ZonePods{{Zone: "zone-a", ReadyPods: 3}, {Zone: "zone-b", ReadyPods: 3}}},
	} {
		t.Run(tc.service, func(t *testing.T) {
			w.wait(t, tc.service, func(inv model.Inventory) bool {
				b, ok := backend(inv, tc.service, c1.Name)
				return ok && slices.Equal(b.Ingress, tc.ingress) && b.ReadyPods == tc.pods && slices.Equal(b.ZonePods, tc.zones)
			})
		})
	}
	b, _ := backend(w.latest(), "ingress.gslb.example.com", c1.Name)
	if len(b.PodIPs) != 6 || slices.Contains(b.PodIPs, netip.MustParseAddr("10.9.9.9")) {
		t.Errorf("pod IPs %v: want the 6 ready ones, not the terminating one", b.PodIPs)
	}
}

func ptr[T any](v T) *T { return &v }

func TestScalingShowsInTheInventory(t *testing.T) {
	useEnv(t)
	kc := env.Clusters[1]
	ns := "scale"
	kc.Namespace(t, ns)
	kc.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Annotations: global("scale.gslb.example.com")},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: "198.51.100.1"})
	kc.Endpoints(t, ns, "app", 6, []string{"zone-a", "zone-b", "zone-c"})
	w := startDiscovery(t, Config{Clusters: []ClusterConfig{clusterCfg(1)}})
	name := env.Clusters[1].Name
	pods := func(n int, zones ...model.ZonePods) func(model.Inventory) bool {
		return func(inv model.Inventory) bool {
			b, ok := backend(inv, "scale.gslb.example.com", name)
			return ok && b.ReadyPods == n && slices.Equal(b.ZonePods, zones)
		}
	}
	w.wait(t, "6 pods", pods(6, model.ZonePods{Zone: "zone-a", ReadyPods: 2}, model.ZonePods{Zone: "zone-b", ReadyPods: 2}, model.ZonePods{Zone: "zone-c", ReadyPods: 2}))
	kc.Endpoints(t, ns, "app", 0, nil)
	w.wait(t, "0 pods", pods(0))
	kc.Endpoints(t, ns, "app", 3, []string{"zone-a"})
	w.wait(t, "3 pods in zone-a", pods(3, model.ZonePods{Zone: "zone-a", ReadyPods: 3}))
}

func TestNodePortIngressCountsItsNodes(t *testing.T) {
	useEnv(t)
	kc := env.Clusters[2]
	k := kc.Client
	ns := "nodeport"
	kc.Namespace(t, ns)
	for i, zone := range []string{"z1", "z2", "z3"} {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%d", i),
			Labels: map[string]string{corev1.LabelTopologyRegion: "onprem", corev1.LabelTopologyZone: zone}}}
		n, err := k.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("10.0.0.%d", i+1)},
			{Type: corev1.NodeExternalIP, Address: fmt.Sprintf("203.0.113.%d", i+1)}}
		if _, err := k.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The ingress controller runs on node-0 and node-1 and is exposed by
	// NodePort; it routes to Service app, whose pods count.
	kc.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ingress-nginx", Namespace: ns,
		Annotations: map[string]string{AnnotationGlobalName: "np.gslb.example.com", AnnotationBackend: "app"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}})
	kc.Endpoints(t, ns, "ingress-nginx", 2, []string{"z1", "z2"}, "node-0", "node-1")
	kc.Endpoints(t, ns, "app", 4, []string{"z1", "z2"})
	w := startDiscovery(t, Config{Clusters: []ClusterConfig{clusterCfg(2)}})
	inv := w.wait(t, "node addresses", func(inv model.Inventory) bool {
		b, ok := backend(inv, "np.gslb.example.com", env.Clusters[2].Name)
		return ok && slices.Equal(b.Ingress, addrs("203.0.113.1", "203.0.113.2")) && b.ReadyPods == 4
	})
	b, _ := backend(inv, "np.gslb.example.com", env.Clusters[2].Name)
	wantZones := []model.AddrZone{{Addr: netip.MustParseAddr("203.0.113.1"), Zone: "z1"}, {Addr: netip.MustParseAddr("203.0.113.2"), Zone: "z2"}}
	if !slices.Equal(b.IngressZones, wantZones) {
		t.Errorf("ingress zones %v, want %v", b.IngressZones, wantZones)
	}
	// The cluster's region defaults to its ingress nodes' label; they span zones.
	c, _ := inv.Cluster(env.Clusters[2].Name)
	if c.Locality != (model.Locality{Region: "onprem"}) {
		t.Errorf("locality %+v, want region onprem without a zone", c.Locality)
	}
}

func TestClustersFromSecrets(t *testing.T) {
	useEnv(t)
	hc := env.Clusters[0]
	home := hc.Client
	ns := "meridian-secrets"
	hc.Namespace(t, ns)
	w := startDiscovery(t, Config{Secrets: &SecretsConfig{Namespace: ns, Cluster: clusterCfg(0)}})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "remote", Namespace: ns,
		Labels:      map[string]string{LabelCluster: "remote-3"},
		Annotations: map[string]string{AnnotationRegion: "ap-southeast", AnnotationLocation: "1.29,103.85"}},
		Data: map[string][]byte{"kubeconfig": env.Clusters[2].KubeconfigData}}
	if _, err := home.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "cluster remote-3", func(inv model.Inventory) bool {
		c, ok := inv.Cluster("remote-3")
		return ok && c.Locality.Region == "ap-southeast" && c.Location.Known() && c.Location == model.LocationAt(model.Point{Lat: 1.29, Lon: 103.85})
	})
	bad := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "broken", Namespace: ns, Labels: map[string]string{LabelCluster: "broken"}},
		Data: map[string][]byte{"kubeconfig": []byte("not: a: kubeconfig")}}
	if _, err := home.CoreV1().Secrets(ns).Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, w.d, "broken", func(s ClusterStatus) bool { return s.Error != "" && strings.HasPrefix(s.Source, "secret ") })
	if _, ok := w.latest().Cluster("remote-3"); !ok {
		t.Error("a broken secret removed a good cluster")
	}
	if err := home.CoreV1().Secrets(ns).Delete(ctx, "remote", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "cluster remote-3 gone", func(inv model.Inventory) bool { _, ok := inv.Cluster("remote-3"); return !ok })
}

func waitStatus(t *testing.T, d *Discovery, name string, ok func(ClusterStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range d.Status() {
			if s.Name == name && ok(s) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("cluster %s never reached the expected status: %+v", name, d.Status())
}

func TestBurstsAreBatched(t *testing.T) {
	useEnv(t)
	kc := env.Clusters[1]
	k := kc.Client
	ns := "burst"
	kc.Namespace(t, ns)
	kc.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Annotations: global("burst.gslb.example.com")},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: "198.51.100.9"})
	kc.Endpoints(t, ns, "app", 1, nil)
	w := startDiscovery(t, Config{Clusters: []ClusterConfig{clusterCfg(1)}})
	name := env.Clusters[1].Name
	w.wait(t, "1 pod", func(inv model.Inventory) bool {
		b, ok := backend(inv, "burst.gslb.example.com", name)
		return ok && b.ReadyPods == 1
	})
	before, start := w.count(), time.Now()
	// Four writers, as a busy endpointslice controller would, rewrite the
	// service's slice with ready counts from 0 to 6: every write is a change.
	const updates = 1000
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < updates; i += 4 {
				writeSlice(k, ns, "app", fmt.Sprintf("app-%d", g), i%7)
			}
		}()
	}
	wg.Wait()
	for g := range 4 {
		writeSlice(k, ns, "app", fmt.Sprintf("app-%d", g), 0)
	}
	kc.Endpoints(t, ns, "app", 5, nil)
	w.wait(t, "5 pods", func(inv model.Inventory) bool {
		b, ok := backend(inv, "burst.gslb.example.com", name)
		return ok && b.ReadyPods == 5
	})
	// A change is built at once and the ones that follow it within
	// debounce.DefaultRest together: at most one Inventory per rest.
	took := time.Since(start)
	if n, most := w.count()-before, int(took/debounce.DefaultRest)+2; n > most {
		t.Errorf("%d changes in %v gave %d Inventories, want at most one per %v (%d)", updates, took, n, debounce.DefaultRest, most)
	}
	t.Logf("%d EndpointSlice writes in %v gave %d Inventory versions", updates+5, took.Round(time.Millisecond), w.count()-before)
}

// writeSlice writes one EndpointSlice of service with ready endpoints,
// ignoring conflicts between writers: the last write wins, as it would.
func writeSlice(k kubernetes.Interface, ns, service, slice string, ready int) {
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: slice, Namespace: ns,
		Labels: map[string]string{discoveryv1.LabelServiceName: service}}, AddressType: discoveryv1.AddressTypeIPv4}
	for i := range ready {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.2.%d.%d", len(slice), i+1)}})
	}
	if cur, err := k.DiscoveryV1().EndpointSlices(ns).Get(ctx, slice, metav1.GetOptions{}); err == nil {
		es.ResourceVersion = cur.ResourceVersion
		k.DiscoveryV1().EndpointSlices(ns).Update(ctx, es, metav1.UpdateOptions{})
		return
	}
	k.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{})
}

// TestLostClusterKeepsItsState kills one API server: that cluster is
// marked lost with its last contact and keeps its backends, the others
// keep updating, and a restart recovers it.
func TestLostClusterKeepsItsState(t *testing.T) {
	useEnv(t)
	lost, alive := env.Clusters[2], env.Clusters[1]
	for i, c := range []*kubetest.Cluster{alive, lost} {
		ns := fmt.Sprintf("loss-%d", i)
		c.Namespace(t, ns)
		c.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Annotations: global("loss.gslb.example.com")},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: fmt.Sprintf("192.0.2.%d", 100+i)})
		c.Endpoints(t, ns, "app", 4, nil)
	}
	w := startDiscovery(t, Config{Clusters: []ClusterConfig{clusterCfg(1), clusterCfg(2)}})
	w.wait(t, "both clusters", func(inv model.Inventory) bool { return len(inv.BackendsOf("loss.gslb.example.com")) == 2 })

	restart := stopMember(t, lost)
	stopped := time.Now()
	inv := w.wait(t, "cluster-3 lost", func(inv model.Inventory) bool {
		c, _ := inv.Cluster(lost.Name)
		return !c.LostAt.IsZero()
	})
	c, _ := inv.Cluster(lost.Name)
	if c.LostAt.After(stopped) || stopped.Sub(c.LostAt) > 5*time.Second {
		t.Errorf("lost at %v, want its last contact, just before %v", c.LostAt, stopped)
	}
	if b, ok := backend(inv, "loss.gslb.example.com", lost.Name); !ok || b.ReadyPods != 4 {
		t.Errorf("the lost cluster's last known state is gone: %+v", b)
	}
	alive.Endpoints(t, "loss-0", "app", 2, nil)
	w.wait(t, "the live cluster updating", func(inv model.Inventory) bool {
		b, ok := backend(inv, "loss.gslb.example.com", alive.Name)
		return ok && b.ReadyPods == 2
	})
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "cluster-3 recovered", func(inv model.Inventory) bool {
		c, _ := inv.Cluster(lost.Name)
		return c.Name != "" && c.LostAt.IsZero()
	})
	if w.d.Metrics.Losses() < 1 || w.d.Metrics.Recoveries() < 1 {
		t.Errorf("losses %d recoveries %d, want both counted", w.d.Metrics.Losses(), w.d.Metrics.Recoveries())
	}
}
