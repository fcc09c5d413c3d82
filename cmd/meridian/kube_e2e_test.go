package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// TestServeFollowsKubernetes runs Meridian against two real API servers:
// a UK client gets eu-west's load balancer, and once eu-west's backend has
// no ready pods, us-east's.
func TestServeFollowsKubernetes(t *testing.T) {
	env := kubetest.Start(t, 2)
	eu, us := env.Clusters[0], env.Clusters[1]
	for c, ip := range map[*kubetest.Cluster]string{eu: "192.0.2.10", us: "198.51.100.10"} {
		shopApp(t, c, ip, 3)
	}
	p := startMeridian(t, twoMembersConf(eu.Kubeconfig, us.Kubeconfig))
	answer := func() string {
		r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24")
		if len(r.answer) != 1 {
			return r.status
		}
		f := strings.Fields(r.answer[0])
		return f[len(f)-1]
	}
	waitAnswer := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for got := answer(); got != want; got = answer() {
			if time.Now().After(deadline) {
				t.Fatalf("UK client gets %s, want %s", got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitAnswer("192.0.2.10")
	eu.Endpoints(t, "shop", "app", 0, nil)
	waitAnswer("198.51.100.10")
	eu.Endpoints(t, "shop", "app", 2, nil)
	waitAnswer("192.0.2.10")
}

// TestServeAnswersWithAMemberDown runs Meridian with one live member and
// one whose API server port is closed: the first Plan already has the live
// member's service, without waiting for the dead one, and DNS answers with
// the live member's load balancer. The time from start to that answer is
// logged (bench/RESULTS.md records it).
func TestServeAnswersWithAMemberDown(t *testing.T) {
	env := kubetest.Start(t, 1)
	eu := env.Clusters[0]
	shopApp(t, eu, "192.0.2.10", 3)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	deadConfig := filepath.Join(t.TempDir(), "dead.kubeconfig")
	if err := os.WriteFile(deadConfig, []byte(strings.Replace(string(eu.KubeconfigData), eu.Config.Host, "https://"+dead, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p := startMeridian(t, twoMembersConf(eu.Kubeconfig, deadConfig))
	for _, rec := range p.startup {
		if rec["msg"] == "plan published" {
			if n, _ := rec["services"].(float64); n != 1 {
				t.Errorf("the first Plan has %v services, want the live member's one", rec["services"])
			}
			break
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24")
		if len(r.answer) == 1 && strings.HasSuffix(r.answer[0], "192.0.2.10") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer from the live member: %s %v", r.status, r.answer)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("first answer from the live member %v after start, with one member dead", time.Since(start).Round(time.Millisecond))
}

// shopApp puts the global service app.gslb.example.com in cluster c: a
// LoadBalancer Service in namespace shop with address ip, and ready pods.
func shopApp(t *testing.T, c *kubetest.Cluster, ip string, ready int) {
	t.Helper()
	c.Namespace(t, "shop")
	c.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop",
		Annotations: map[string]string{"meridian.io/global-name": "app.gslb.example.com"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: ip})
	c.Endpoints(t, "shop", "app", ready, nil)
}

// twoMembersConf is a config with the members eu-west and us-east, from
// their kubeconfig files, and the service app in zone gslb.example.com.
func twoMembersConf(euKubeconfig, usKubeconfig string) string {
	return fmt.Sprintf(`
meridian {
    dns  127.0.0.1:0
    http 127.0.0.1:0
}
cluster eu-west {
    kubeconfig %s
    region   eu-west
    location 53.35 -6.26
}
cluster us-east {
    kubeconfig %s
    region   us-east
    location 39.04 -77.49
}
zone gslb.example.com {
    ns ns1.gslb.example.com 127.0.0.1
    service app {
        ttl 5
    }
}
`, euKubeconfig, usKubeconfig)
}

// BenchmarkChangeToAnswer measures, through the real binary against two
// real API servers, the time from an EndpointSlice write (as kubectl would
// make it, the write's round trip included) to the first DNS answer that
// shows it: eu-west's pods go to zero and a UK client is sent to us-east,
// then back. DNS is polled every 2 ms. Run it with -benchtime 1x: it does
// rounds rounds whatever b.N is.
func BenchmarkChangeToAnswer(b *testing.B) {
	const rounds = 20
	env := kubetest.Start(b, 2)
	eu, us := env.Clusters[0], env.Clusters[1]
	for c, ip := range map[*kubetest.Cluster]string{eu: "192.0.2.10", us: "198.51.100.10"} {
		c.Namespace(b, "shop")
		c.Service(b, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop",
			Annotations: map[string]string{"meridian.io/global-name": "app.gslb.example.com"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}, corev1.LoadBalancerIngress{IP: ip})
		c.Endpoints(b, "shop", "app", 3, nil)
	}
	p := startMeridian(b, twoMembersConf(eu.Kubeconfig, us.Kubeconfig))
	client := &mdns.Client{Net: "udp", Timeout: time.Second}
	answer := func() string {
		m := new(mdns.Msg)
		m.SetQuestion("app.gslb.example.com.", mdns.TypeA)
		o := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
		o.SetUDPSize(1232)
		o.Option = append(o.Option, &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: net.ParseIP("81.2.69.0").To4()})
		m.Extra = append(m.Extra, o)
		r, _, err := client.Exchange(m, "127.0.0.1:"+p.dnsPort)
		if err != nil || len(r.Answer) != 1 {
			return fmt.Sprint(err)
		}
		if a, ok := r.Answer[0].(*mdns.A); ok {
			return a.A.String()
		}
		return r.Answer[0].String()
	}
	waitFor := func(want string) time.Time {
		deadline := time.Now().Add(20 * time.Second)
		for got := answer(); got != want; got = answer() {
			if time.Now().After(deadline) {
				b.Fatalf("UK client gets %s, want %s", got, want)
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Now()
	}
	waitFor("192.0.2.10")
	var took []time.Duration
	b.ResetTimer()
	for range rounds {
		start := time.Now()
		eu.Endpoints(b, "shop", "app", 0, nil)
		took = append(took, waitFor("198.51.100.10").Sub(start))
		time.Sleep(300 * time.Millisecond) // past every hold-off and maximum
		start = time.Now()
		eu.Endpoints(b, "shop", "app", 3, nil)
		took = append(took, waitFor("192.0.2.10").Sub(start))
		time.Sleep(300 * time.Millisecond)
	}
	b.StopTimer()
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[0]), "min-ms")
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*9/10]), "p90-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
}
