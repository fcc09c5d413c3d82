package xds

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	grpcxds "google.golang.org/grpc/xds"

	"github.com/meridian-gtm/meridian/internal/testmetrics"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// The three member clusters of the end-to-end tests, each one gRPC
// backend on its own loopback address.
var e2eClusters = []struct {
	name, region, zone, addr string
	loc                      model.Point
	pods                     int
}{
	{"ap-southeast", "ap-southeast-1", "ap-southeast-1a", "127.0.0.4", singapore, 5},
	{"eu-west", "eu-west-1", "eu-west-1a", "127.0.0.2", dublin, 2},
	{"us-east", "us-east-1", "us-east-1b", "127.0.0.3", virginia, 3},
}

const (
	weightedSvc = "split.gslb.example.com"
	geoSvc      = "near.gslb.example.com"
)

// world is the Inventory and policies of the end-to-end tests: a weighted
// service whose capacity shares are 20/30/50 and a geo service.
type world struct {
	inv    model.Inventory
	pol    model.Policies
	health model.Health
	ovr    model.Overrides
}

func newWorld() *world {
	var cls []model.Cluster
	var bs []model.Backend
	for _, c := range e2eClusters {
		cls = append(cls, model.Cluster{Name: c.name, Locality: model.Locality{Region: c.region, Zone: c.zone}, Location: model.LocationAt(c.loc)})
		for _, svc := range []string{weightedSvc, geoSvc} {
			bs = append(bs, model.Backend{Service: svc, Cluster: c.name, Ingress: addrs(c.addr), ReadyPods: c.pods})
		}
	}
	// The weighted service spills by hosts: with ap-southeast down and
	// us-east drained, eu-west's 1 healthy host of 2 keeps it out of
	// panic, where capacity spill (2 of 7 pods healthy, 29% < 50%) would
	// panic and use ap-southeast's down address too.
	weighted := model.DefaultPolicy(weightedSvc, model.Weighted)
	weighted.Spill = model.SpillHosts
	return &world{
		inv: model.NewInventory(cls, bs),
		pol: model.NewPolicies(model.DefaultStaleGrace, []model.ServicePolicy{weighted, model.DefaultPolicy(geoSvc, model.Geo)}),
	}
}

func (w *world) plan() *model.Plan { return weights.Solve(time.Now(), w.inv, w.health, w.ovr, w.pol) }

// startBackends serves gRPC health on every cluster's address, one port
// for all, and returns the port.
func startBackends(t *testing.T) uint32 {
	t.Helper()
	for attempt := 0; ; attempt++ {
		var lns []net.Listener
		first, err := net.Listen("tcp", e2eClusters[0].addr+":0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, first)
		port := first.Addr().(*net.TCPAddr).Port
		for _, c := range e2eClusters[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(c.addr, strconv.Itoa(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) < len(e2eClusters) {
			for _, ln := range lns {
				ln.Close()
			}
			if attempt == 10 {
				t.Fatal("no port free on every backend address")
			}
			continue
		}
		for _, ln := range lns {
			gs := grpc.NewServer()
			healthpb.RegisterHealthServer(gs, grpchealth.NewServer())
			go gs.Serve(ln)
			t.Cleanup(gs.Stop)
		}
		return uint32(port)
	}
}

// startServer runs the xDS server on loopback and returns its address.
func startServer(t testing.TB, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// xdsClient dials xds:///service through grpc-go's own xDS resolver, with a
// bootstrap naming the server and the client's locality.
func xdsClient(t *testing.T, server, nodeID, region, zone, service string) *grpc.ClientConn {
	t.Helper()
	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": %q, "locality": {"region": %q, "zone": %q}}
	}`, server, nodeID, region, zone)
	builder, err := grpcxds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///"+service, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(builder))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// spread sends n RPCs and counts them by the backend address that served them.
func spread(t *testing.T, cc *grpc.ClientConn, n int) map[string]int {
	t.Helper()
	client := healthpb.NewHealthClient(cc)
	got := map[string]int{}
	for range n {
		var p peer.Peer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true))
		cancel()
		if err != nil {
			t.Fatalf("RPC: %v", err)
		}
		host, _, _ := net.SplitHostPort(p.Addr.String())
		got[host]++
	}
	return got
}

// waitUntil sends RPCs until the last 100 satisfy ok, and returns how long
// that took from start; it fails after 15 s.
func waitUntil(t *testing.T, cc *grpc.ClientConn, start time.Time, what string, ok func(backend string) bool) time.Duration {
	t.Helper()
	streak := 0
	for streak < 100 {
		if time.Since(start) > 15*time.Second {
			t.Fatalf("%s: not after 15s", what)
		}
		for host := range spread(t, cc, 1) {
			if ok(host) {
				streak++
			} else {
				streak = 0
			}
		}
	}
	return time.Since(start)
}

func addrOf(cluster string) string {
	for _, c := range e2eClusters {
		if c.name == cluster {
			return c.addr
		}
	}
	panic(cluster)
}

func TestGRPCClientFollowsPlan(t *testing.T) {
	port := startBackends(t)
	reg := prometheus.NewRegistry()
	w := newWorld()
	s := New(Config{Options: Options{Services: map[string]ServiceOptions{
		weightedSvc: {Port: port}, geoSvc: {Port: port},
	}}, Metrics: NewMetrics(reg), Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	s.SetPlan(w.plan())
	addr := startServer(t, s)
	cc := xdsClient(t, addr, "client-eu", "eu-west-1", "eu-west-1a", weightedSvc)

	t.Run("split matches the Plan's shares", func(t *testing.T) {
		p := w.plan()
		sp, _ := p.Service(weightedSvc)
		want := map[string]float64{}
		for _, sh := range sp.Route(len(p.Sites)).Shares {
			want[addrOf(sp.ClusterOf(sh.Target))] += sh.Fraction
		}
		const n = 3000
		got := spread(t, cc, n)
		for host, share := range want {
			frac := float64(got[host]) / n
			t.Logf("%s: %d RPCs (%.1f%%), Plan %.1f%%", host, got[host], 100*frac, 100*share)
			if d := frac - share; d > 0.04 || d < -0.04 {
				t.Errorf("%s got %.1f%% of RPCs, the Plan gives it %.1f%%", host, 100*frac, 100*share)
			}
		}
	})

	t.Run("an unhealthy cluster loses its traffic", func(t *testing.T) {
		w.health = model.NewHealth([]model.TargetHealth{{Service: weightedSvc, Cluster: "ap-southeast",
			Address: netip.MustParseAddr(addrOf("ap-southeast")), State: model.Down, Reason: "test"}})
		start := time.Now()
		s.SetPlan(w.plan())
		took := waitUntil(t, cc, start, "traffic leaves ap-southeast", func(b string) bool { return b != addrOf("ap-southeast") })
		t.Logf("traffic left the unhealthy cluster %v after the Plan changed", took)
	})

	t.Run("a drained cluster loses its traffic", func(t *testing.T) {
		w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "us-east", Reason: "test", Created: time.Now()}})
		start := time.Now()
		s.SetPlan(w.plan())
		took := waitUntil(t, cc, start, "traffic goes to eu-west only", func(b string) bool { return b == addrOf("eu-west") })
		t.Logf("traffic left the drained cluster %v after the Plan changed", took)
	})

	t.Run("clients in other localities get their own priorities", func(t *testing.T) {
		w.health, w.ovr = model.Health{}, model.Overrides{}
		s.SetPlan(w.plan())
		for _, c := range e2eClusters {
			cc := xdsClient(t, addr, "client-"+c.name, c.region, c.zone, geoSvc)
			got := spread(t, cc, 50)
			if got[c.addr] != 50 {
				t.Errorf("a client in %s reached %v, want only its own cluster %s", c.region, got, c.addr)
			}
		}
	})

	// The subtest's clients have closed; the first one is still connected.
	connected := `meridian_xds_clients{role="grpc"} 1` + "\n"
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(testmetrics.Text(t, reg), connected) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	text := testmetrics.Text(t, reg)
	for _, want := range []string{connected, `meridian_xds_clients{role="gateway"} 0`,
		`meridian_xds_pushes_total{type="ClusterLoadAssignment"}`, "meridian_xds_plan_ack_seconds_count"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s:\n%s", want, text)
		}
	}
}

// TestNACKIsRecordedNotResent makes the server send a Cluster grpc-go
// rejects and checks that the NACK is recorded, that the rejected version
// is not sent again and again, and that the next good version is taken.
func TestNACKIsRecordedNotResent(t *testing.T) {
	port := startBackends(t)
	reg := prometheus.NewRegistry()
	w := newWorld()
	s := New(Config{Options: Options{Services: map[string]ServiceOptions{weightedSvc: {Port: port}, geoSvc: {Port: port}}}, Metrics: NewMetrics(reg)})
	s.SetPlan(w.plan())
	addr := startServer(t, s)
	cc := xdsClient(t, addr, "client-nack", "eu-west-1", "eu-west-1a", geoSvc)
	spread(t, cc, 10)

	var mu sync.Mutex
	bad := true
	s.tamper = func(r *Resources) {
		mu.Lock()
		defer mu.Unlock()
		if bad {
			for _, c := range r.Clusters {
				c.LbPolicy = cluster.Cluster_MAGLEV // grpc-go supports no MAGLEV
			}
		}
	}
	s.SetPlan(w.plan())
	deadline := time.Now().Add(15 * time.Second)
	for len(s.NACKs()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no NACK recorded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	n := s.NACKs()[0]
	if n.Node != "client-nack" || n.TypeURL != "type.googleapis.com/envoy.config.cluster.v3.Cluster" || n.Version == "" || !strings.Contains(strings.ToLower(n.Detail), "lb") {
		t.Errorf("NACK = %+v", n)
	}
	// The rejected version must not be sent again. A resend would go out
	// in answer to the NACK, and the client would NACK it too, before it
	// sees any later version: so the client's ACK of the next, good,
	// version on the same stream (whose requests the server handles in
	// order) is the signal that a resend, if any, has been counted.
	clusterPushes := func() float64 { return metricValue(t, reg, `meridian_xds_pushes_total{type="Cluster"}`) }
	before := clusterPushes()
	// The client kept its last good config.
	if got := spread(t, cc, 10); got[addrOf("eu-west")] != 10 {
		t.Errorf("after the NACK the client reached %v", got)
	}
	if !strings.Contains(testmetrics.Text(t, reg), `meridian_xds_nacks_total{type="Cluster"} 1`) {
		t.Error("nacks metric not counted")
	}

	// A good version again, and a drain to see that it is used.
	mu.Lock()
	bad = false
	mu.Unlock()
	acks := metricValue(t, reg, "meridian_xds_plan_ack_seconds_count")
	w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "eu-west", Reason: "test", Created: time.Now()}})
	s.SetPlan(w.plan())
	waitUntil(t, cc, time.Now(), "traffic leaves eu-west", func(b string) bool { return b != addrOf("eu-west") })
	deadline = time.Now().Add(15 * time.Second)
	for metricValue(t, reg, "meridian_xds_plan_ack_seconds_count") <= acks {
		if time.Now().After(deadline) {
			t.Fatal("no ACK of the good version")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if after := clusterPushes(); after != before+1 {
		t.Errorf("Cluster pushes went from %v to %v with one good version after the NACK, want one more: the rejected version was resent", before, after)
	}
	if len(s.NACKs()) != 1 {
		t.Errorf("NACKs = %+v, want the one", s.NACKs())
	}
}

// metricValue returns the value of the series named exactly name (with
// its labels) in reg, failing the test when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	for line := range strings.Lines(testmetrics.Text(t, reg)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
