package kube

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/meridian-gtm/meridian/model"
)

// memberAt is a member cluster like cluster-1 whose API server is at addr
// instead: a closed port (dead) or a listener that never answers
// (black-holed).
func memberAt(name, addr string) ClusterConfig {
	live := env.Clusters[0]
	data := strings.Replace(string(live.KubeconfigData), live.Config.Host, "https://"+addr, 1)
	return ClusterConfig{Name: name, KubeconfigData: []byte(data)}
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// blackHole returns the address of a listener that accepts connections and
// never says a word, as a member behind a firewall that drops replies
// looks to a client once connected.
func blackHole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// liveService puts a global service with one ready pod in cluster-1.
func liveService(t testing.TB, service string) {
	t.Helper()
	c := env.Clusters[0]
	ns := fmt.Sprintf("dead-%d", time.Now().UnixNano())
	c.Namespace(t, ns)
	c.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Annotations: global(service)},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: "192.0.2.77"})
	c.Endpoints(t, ns, "app", 1, nil)
}

// BenchmarkFirstInventoryWithADeadMember measures the time from Run to the
// first Inventory with the live member's service, with a second member
// that is dead (a closed port) or black-holed (a listener that never
// answers).
func BenchmarkFirstInventoryWithADeadMember(b *testing.B) {
	useEnv(b)
	service := "first.gslb.example.com"
	liveService(b, service)
	for _, kind := range []string{"dead", "black-holed"} {
		b.Run(kind, func(b *testing.B) {
			addr := deadAddr(b)
			if kind == "black-holed" {
				addr = blackHole(b)
			}
			var total time.Duration
			for range b.N {
				seen := make(chan model.Inventory, 100)
				d := New(Config{Clusters: []ClusterConfig{clusterCfg(0), memberAt("down", addr)},
					Publish: func(inv model.Inventory) { seen <- inv }})
				runCtx, cancel := contextWithCancel()
				start := time.Now()
				go d.Run(runCtx)
				inv := <-seen
				total += time.Since(start)
				cancel()
				if len(inv.BackendsOf(service)) != 1 {
					b.Fatalf("the first Inventory lacks the live member's service: %+v", inv.Backends())
				}
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-first")
		})
	}
}

// first waits for the first Inventory published.
func (w *watcher) first(t *testing.T) model.Inventory {
	t.Helper()
	w.wait(t, "any Inventory", func(model.Inventory) bool { return w.count() > 0 })
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.invs[0]
}

// TestDeadMemberDoesNotDelayTheFirstInventory starts discovery with a live
// member and one that is dead or black-holed, with no time-based bound on
// the wait for listings (StartWait and SyncTimeout of an hour): the first
// Inventory has the live member's service all the same, because the other
// member failed to answer, and it is there without backends, lost since
// start, rather than absent or empty.
func TestDeadMemberDoesNotDelayTheFirstInventory(t *testing.T) {
	useEnv(t)
	service := "first.gslb.example.com"
	liveService(t, service)
	for _, kind := range []string{"dead", "black-holed"} {
		t.Run(kind, func(t *testing.T) {
			addr := deadAddr(t)
			if kind == "black-holed" {
				addr = blackHole(t)
			}
			start := time.Now()
			w := startDiscovery(t, Config{Clusters: []ClusterConfig{clusterCfg(0), memberAt("down", addr)},
				StartWait: time.Hour, SyncTimeout: time.Hour})
			inv := w.first(t)
			t.Logf("first Inventory %v after Run", time.Since(start).Round(time.Millisecond))
			if b, ok := backend(inv, service, env.Clusters[0].Name); !ok || b.ReadyPods != 1 {
				t.Errorf("the first Inventory lacks the live member's backend: %+v", inv.BackendsOf(service))
			}
			down, ok := inv.Cluster("down")
			if !ok || down.LostAt.IsZero() {
				t.Errorf("the member that does not answer is %+v (present %v), want it lost since start", down, ok)
			}
			for _, b := range inv.Backends() {
				if b.Cluster == "down" {
					t.Errorf("a member that never answered has a backend: %+v", b)
				}
			}
		})
	}
}

// TestLateMemberJoins starts discovery while one member's API server is
// down: the first Inventory has the live member's service, and the late
// member's backend joins once its API server is up and listed.
func TestLateMemberJoins(t *testing.T) {
	useEnv(t)
	live, late := env.Clusters[0], env.Clusters[2]
	service := "late.gslb.example.com"
	for i, c := range []int{0, 2} {
		kc := env.Clusters[c]
		ns := "late"
		kc.Namespace(t, ns)
		kc.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Annotations: global(service)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: fmt.Sprintf("192.0.2.%d", 50+i)})
		kc.Endpoints(t, ns, "app", 2+i, nil)
	}
	restart := stopMember(t, late)
	w := startDiscovery(t, Config{Clusters: []ClusterConfig{clusterCfg(0), clusterCfg(2)}, StartWait: time.Hour, SyncTimeout: time.Hour})
	inv := w.first(t)
	if bs := inv.BackendsOf(service); len(bs) != 1 || bs[0].Cluster != live.Name {
		t.Fatalf("first Inventory: backends %+v, want only %s's", bs, live.Name)
	}
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "the late member's backend", func(inv model.Inventory) bool {
		b, ok := backend(inv, service, late.Name)
		c, _ := inv.Cluster(late.Name)
		return ok && b.ReadyPods == 3 && c.LostAt.IsZero()
	})
	if b, ok := backend(w.latest(), service, live.Name); !ok || b.ReadyPods != 2 {
		t.Errorf("the live member's backend changed: %+v", b)
	}
}

// TestBlackHoledMemberDoesNotDelayReloadOrSecrets adds a black-holed
// member by reload and by Secret, each together with a live one: the live
// one joins all the same. Nothing asks a member anything without a
// deadline, and nothing asks it from the caller of Reconfigure or from the
// Secret handler, so the live member is not held up by client-go's 32 s
// default per call.
func TestBlackHoledMemberDoesNotDelayReloadOrSecrets(t *testing.T) {
	useEnv(t)
	service := "blackhole.gslb.example.com"
	for i, c := range []int{1, 2} {
		kc := env.Clusters[c]
		ns := "blackhole"
		kc.Namespace(t, ns)
		kc.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Annotations: global(service)},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: fmt.Sprintf("192.0.2.%d", 60+i)})
		kc.Endpoints(t, ns, "app", 1, nil)
	}
	home := env.Clusters[0]
	ns := "blackhole-secrets"
	home.Namespace(t, ns)
	w := startDiscovery(t, Config{Secrets: &SecretsConfig{Namespace: ns, Cluster: clusterCfg(0)}, StartWait: time.Hour, SyncTimeout: time.Hour})
	w.first(t)

	start := time.Now()
	w.d.Reconfigure(ctx, []ClusterConfig{memberAt("hole-1", blackHole(t)), clusterCfg(1)}, model.Inventory{}, nil)
	if d := time.Since(start); d > heartbeatTimeout {
		t.Errorf("Reconfigure took %v: it asked a member something", d)
	}
	w.wait(t, "the member added by reload", func(inv model.Inventory) bool {
		_, ok := backend(inv, service, env.Clusters[1].Name)
		return ok
	})
	t.Logf("member added by reload next to a black-holed one: in the Inventory %v later", time.Since(start).Round(time.Millisecond))

	hole := []byte(memberAt("hole-2", blackHole(t)).KubeconfigData)
	start = time.Now()
	for name, kc := range map[string][]byte{"hole-2": hole, "remote": env.Clusters[2].KubeconfigData} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{LabelCluster: name}},
			Data: map[string][]byte{"kubeconfig": kc}}
		if _, err := home.Client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	w.wait(t, "the member added by Secret", func(inv model.Inventory) bool {
		_, ok := backend(inv, service, "remote")
		return ok
	})
	t.Logf("member added by Secret next to a black-holed one: in the Inventory %v later", time.Since(start).Round(time.Millisecond))
	for _, name := range []string{"hole-1", "hole-2"} {
		waitStatus(t, w.d, name, func(s ClusterStatus) bool { return !s.LostAt.IsZero() && !s.Synced })
	}
}

// TestSettled covers how long the first Inventory waits for one cluster.
func TestSettled(t *testing.T) {
	t0 := time.Unix(1000, 0)
	never := func() bool { return false }
	for _, tc := range []struct {
		name    string
		c       *cluster
		age     time.Duration
		settled bool
	}{
		{"synced", &cluster{probed: true, cur: &informerSet{synced: []cache.InformerSynced{func() bool { return true }}}}, 0, true},
		{"silent, young", &cluster{}, time.Second, false},
		{"silent, past StartWait", &cluster{}, 2 * time.Second, true},
		{"failed to answer", &cluster{lostAt: t0}, 0, true},
		{"answered, listing", &cluster{answered: true, probed: true, cur: &informerSet{synced: []cache.InformerSynced{never}}}, 5 * time.Second, false},
		{"answered, listing past SyncTimeout", &cluster{answered: true, probed: true, cur: &informerSet{synced: []cache.InformerSynced{never}}}, 10 * time.Second, true},
	} {
		tc.c.startedAt = t0
		if got := tc.c.settled(t0.Add(tc.age), 2*time.Second, 10*time.Second); got != tc.settled {
			t.Errorf("%s: settled %v, want %v", tc.name, got, tc.settled)
		}
	}
}

// TestRestartedMemberKeepsItsBackends reloads a member's configuration
// while its API server is down: the new watch cannot list, and the
// member's last known backends stay in the Inventory meanwhile rather
// than vanish; once the API server is back, the new watch takes over.
func TestRestartedMemberKeepsItsBackends(t *testing.T) {
	useEnv(t)
	kc := env.Clusters[2]
	service := "restart.gslb.example.com"
	kc.Namespace(t, "restart")
	kc.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "restart", Annotations: global(service)},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: "192.0.2.70"})
	kc.Endpoints(t, "restart", "app", 2, nil)
	cfg := clusterCfg(2)
	w := startDiscovery(t, Config{Clusters: []ClusterConfig{cfg}})
	w.wait(t, "the member's backend", func(inv model.Inventory) bool { _, ok := backend(inv, service, kc.Name); return ok })

	restart := stopMember(t, kc)
	cfg.Locality = model.Locality{Region: "moved"}
	w.d.Reconfigure(ctx, []ClusterConfig{cfg}, model.Inventory{}, nil)
	w.wait(t, "the new locality", func(inv model.Inventory) bool {
		c, _ := inv.Cluster(kc.Name)
		return c.Locality.Region == "moved"
	})
	waitStatus(t, w.d, kc.Name, func(s ClusterStatus) bool { return !s.LostAt.IsZero() })
	if b, ok := backend(w.latest(), service, kc.Name); !ok || b.ReadyPods != 2 {
		t.Errorf("the restarted member's backend is %+v (present %v), want its last known state", b, ok)
	}
	if err := restart(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, w.d, kc.Name, func(s ClusterStatus) bool { return s.Synced })
	kc.Endpoints(t, "restart", "app", 4, nil)
	w.wait(t, "the new watch's update", func(inv model.Inventory) bool {
		b, ok := backend(inv, service, kc.Name)
		return ok && b.ReadyPods == 4
	})
}
