package kube

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/model"
)

// BenchmarkConvergence measures the time from an EndpointSlice write to the
// Inventory that shows it being published, over 200 changes, and reports
// p50 and p99 (target: p99 under 300 ms).
func BenchmarkConvergence(b *testing.B) {
	useEnv(b)
	c := env.Clusters[0]
	ns := fmt.Sprintf("conv-%d", time.Now().UnixNano())
	c.Namespace(b, ns)
	c.Service(b, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Annotations: global("conv.gslb.example.com")},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: "192.0.2.1"})
	c.Endpoints(b, ns, "app", 1, nil)

	seen := make(chan model.Inventory, 1000)
	d := New(Config{Clusters: []ClusterConfig{{Name: c.Name, Kubeconfig: c.Kubeconfig}},
		Publish: func(inv model.Inventory) { seen <- inv }})
	runCtx, cancel := contextWithCancel()
	defer cancel()
	go d.Run(runCtx)
	pods := func(inv model.Inventory) int {
		for _, be := range inv.BackendsOf("conv.gslb.example.com") {
			return be.ReadyPods
		}
		return -1
	}
	waitPods := func(n int) time.Time {
		for inv := range seen {
			if pods(inv) == n {
				return time.Now()
			}
		}
		return time.Time{}
	}
	waitPods(1)
	b.ResetTimer()
	var lat []time.Duration
	for i := range 200 {
		n := 2 + i%8
		if i > 0 && n == 2+(i-1)%8 {
			n++
		}
		start := time.Now()
		c.Endpoints(b, ns, "app", n, nil)
		lat = append(lat, waitPods(n).Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkMemory watches 20 clusters of 500 global services with 10
// ready endpoints each and reports the process's heap and resident memory
// once every cluster is in the Inventory (target: under 300 MB RSS). The 20
// clusters are 20 sets of informers over the three test API servers, which
// costs Meridian what 20 separate API servers would.
func BenchmarkMemory(b *testing.B) {
	useEnv(b)
	const clusters, services, ready = 20, 500, 10
	ns := "mem"
	for _, c := range env.Clusters {
		if _, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
			continue
		}
		c.Namespace(b, ns)
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := w; s < services; s += 8 {
					name := fmt.Sprintf("svc-%03d", s)
					svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: global(name + ".gslb.example.com")},
						Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}}}}
					created, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
					if err != nil {
						b.Error(err)
						return
					}
					created.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: fmt.Sprintf("192.0.%d.%d", 2+s/250, 1+s%250)}}
					c.Client.CoreV1().Services(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
					es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
						Labels: map[string]string{discoveryv1.LabelServiceName: name}}, AddressType: discoveryv1.AddressTypeIPv4}
					zone := "zone-a"
					for e := range ready {
						es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.%d.%d.%d", s/250, s%250, e+1)},
							Zone: &zone, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", name, e)}})
					}
					if _, err := c.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
						b.Error(err)
					}
				}
			}()
		}
		wg.Wait()
	}
	runtime.GC()
	baseHeap := heapInUse()
	var cfgs []ClusterConfig
	for i := range clusters {
		c := env.Clusters[i%len(env.Clusters)]
		cfgs = append(cfgs, ClusterConfig{Name: fmt.Sprintf("mem-%02d", i), Kubeconfig: c.Kubeconfig})
	}
	done := make(chan model.Inventory, 100)
	d := New(Config{Clusters: cfgs, SyncTimeout: time.Minute, Publish: func(inv model.Inventory) { done <- inv }})
	runCtx, cancel := contextWithCancel()
	defer cancel()
	go d.Run(runCtx)
	for inv := range done {
		if len(inv.BackendsOf("svc-499.gslb.example.com")) == clusters && len(inv.Backends()) >= clusters*services {
			break
		}
	}
	runtime.GC()
	b.ReportMetric(float64(heapInUse()-baseHeap)/(1<<20), "heap-MB")
	b.ReportMetric(float64(rss())/(1<<20), "rss-MB")
}

func heapInUse() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// rss reads the resident set size of this process, in bytes.
func rss() uint64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func contextWithCancel() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }
