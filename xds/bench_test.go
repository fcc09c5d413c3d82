package xds

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meridian-gtm/meridian/model"
)

// benchRegions are the first five localities of the simulated gateways.
var benchRegions = []struct {
	region string
	loc    model.Point
}{
	{"ap-southeast-1", singapore},
	{"eu-west-1", dublin},
	{"us-east-1", virginia},
	{"us-west-2", model.Point{Lat: 45.6, Lon: -121.2}},
	{"sa-east-1", model.Point{Lat: -23.5, Lon: -46.6}},
}

// benchWorld has a cluster in each region and services global services in
// every cluster, two ingress addresses each.
func benchWorld(services int) *world {
	var cls []model.Cluster
	var bs []model.Backend
	for i, r := range benchRegions {
		name := "c-" + r.region
		cls = append(cls, model.Cluster{Name: name, Locality: model.Locality{Region: r.region, Zone: r.region + "a"}, Location: model.LocationAt(r.loc)})
		for s := range services {
			bs = append(bs, model.Backend{Service: fmt.Sprintf("svc%03d.gslb.example.com", s), Cluster: name,
				Ingress: addrs(fmt.Sprintf("10.%d.%d.1", i, s), fmt.Sprintf("10.%d.%d.2", i, s)), ReadyPods: 4 + s%7})
		}
	}
	var pols []model.ServicePolicy
	for s := range services {
		pols = append(pols, model.DefaultPolicy(fmt.Sprintf("svc%03d.gslb.example.com", s), model.Geo))
	}
	return &world{inv: model.NewInventory(cls, bs), pol: model.NewPolicies(model.DefaultStaleGrace, pols)}
}

// benchConfig is the shape of BenchmarkPlanToACK's load, from the
// environment (bench/xds/run.sh sets it) so that the child process that
// runs the clients gets the same.
type benchConfig struct {
	gateways, grpc int  // Envoy-style and gRPC-style clients
	localities     int  // node localities, one cluster in each
	services       int  // geo services, in every cluster
	rounds         int  // Plan changes of each kind
	delta          bool // incremental xDS instead of state of the world
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

func benchConfigFromEnv() benchConfig {
	return benchConfig{
		gateways:   envInt("XDS_BENCH_GATEWAYS", 1000),
		grpc:       envInt("XDS_BENCH_GRPC", 0),
		localities: max(1, envInt("XDS_BENCH_LOCALITIES", 5)),
		services:   max(1, envInt("XDS_BENCH_SERVICES", 100)),
		rounds:     max(1, envInt("XDS_BENCH_ROUNDS", 10)),
		delta:      os.Getenv("XDS_BENCH_DELTA") == "1",
	}
}

func (c benchConfig) env() []string {
	d := "0"
	if c.delta {
		d = "1"
	}
	return []string{
		"XDS_BENCH_GATEWAYS=" + strconv.Itoa(c.gateways), "XDS_BENCH_GRPC=" + strconv.Itoa(c.grpc),
		"XDS_BENCH_LOCALITIES=" + strconv.Itoa(c.localities), "XDS_BENCH_SERVICES=" + strconv.Itoa(c.services),
		"XDS_BENCH_ROUNDS=" + strconv.Itoa(c.rounds), "XDS_BENCH_DELTA=" + d,
	}
}

// locality i of the benchmark: the five of benchRegions first, then
// made-up regions spread over the globe.
func (c benchConfig) locality(i int) (region string, loc model.Point) {
	if c.localities <= len(benchRegions) {
		return benchRegions[i].region, benchRegions[i].loc
	}
	return fmt.Sprintf("region-%02d", i), model.Point{Lat: float64(i%9)*18 - 72, Lon: float64(i)*360/float64(c.localities) - 179}
}

// client i of the benchmark: the gateways first, then the gRPC clients,
// each kind spread round-robin over the localities; a gRPC client uses
// one service, round-robin too.
func (c benchConfig) client(i int) (g Group, service string) {
	role, k := Gateway, i
	if i >= c.gateways {
		role, k = GRPC, i-c.gateways
	}
	region, _ := c.locality(k % c.localities)
	g = Group{Role: role, Region: region, Zone: region + "a"}
	if role == GRPC {
		service = benchService(k % c.services)
	}
	return g, service
}

func benchService(i int) string { return fmt.Sprintf("svc%03d.gslb.example.com", i) }

// benchWorldFor has a cluster in each locality serving every service.
func benchWorldFor(c benchConfig) *world {
	var cls []model.Cluster
	var bs []model.Backend
	for i := range c.localities {
		region, loc := c.locality(i)
		name := "c-" + region
		cls = append(cls, model.Cluster{Name: name, Locality: model.Locality{Region: region, Zone: region + "a"}, Location: model.LocationAt(loc)})
		for s := range c.services {
			bs = append(bs, model.Backend{Service: benchService(s), Cluster: name,
				Ingress: addrs(fmt.Sprintf("10.%d.%d.%d", i, s/125, s%125*2+1), fmt.Sprintf("10.%d.%d.%d", i, s/125, s%125*2+2)), ReadyPods: 4 + s%7})
		}
	}
	var pols []model.ServicePolicy
	for s := range c.services {
		pols = append(pols, model.DefaultPolicy(benchService(s), model.Geo))
	}
	return &world{inv: model.NewInventory(cls, bs), pol: model.NewPolicies(model.DefaultStaleGrace, pols)}
}

// simClient is a simulated xDS client: one connection, one ADS stream (of
// the state of the world or incremental), every response ACKed at once.
// A gateway asks, as Envoy does, for the listeners, the route
// configuration they name, the clusters and then the endpoints of every
// cluster; a gRPC client, as grpc-go does, for the api_listener of its
// service, its route configuration, its cluster and its endpoints. It
// reports each endpoints response it ACKs, with the response's size.
type simClient struct {
	node     *core.Node
	nodeSent bool
	group    Group
	service  string
	eds      chan ack
}

type ack struct {
	at    time.Time
	bytes int
}

func (c *simClient) send(typeURL string, names []string) *discovery.DiscoveryRequest {
	return &discovery.DiscoveryRequest{Node: c.nodeOnce(), TypeUrl: typeURL, ResourceNames: names}
}

// nodeOnce is the node to put in the client's next request: a gateway
// names it in every request, as Envoy does by default
// (set_node_on_first_message_only false); a gRPC client only in the first
// of its stream, as grpc-go does (its ads_stream.go: "Sending the node
// proto in every request wastes CPU resources on the client and the
// server").
func (c *simClient) nodeOnce() *core.Node {
	if c.nodeSent && c.group.Role != Gateway {
		return nil
	}
	c.nodeSent = true
	return c.node
}

func startSimClient(ctx context.Context, cc *grpc.ClientConn, id string, g Group, service string, delta bool) error {
	md, _ := structpb.NewStruct(map[string]any{RoleKey: g.Role.String()})
	c := &simClient{
		node:    &core.Node{Id: id, Locality: &core.Locality{Region: g.Region, Zone: g.Zone}, Metadata: md},
		group:   g,
		service: service,
		eds:     make(chan ack, 64),
	}
	ads := discovery.NewAggregatedDiscoveryServiceClient(cc)
	if delta {
		stream, err := ads.DeltaAggregatedResources(ctx)
		if err != nil {
			return err
		}
		go c.runDelta(stream)
	} else {
		stream, err := ads.StreamAggregatedResources(ctx)
		if err != nil {
			return err
		}
		go c.runSotW(stream)
	}
	go c.report()
	return nil
}

// first are the subscriptions a client opens with: a gateway the
// listeners and clusters (all of them), a gRPC client its service's
// listener, route configuration, cluster and endpoints.
func (c *simClient) first() map[string][]string {
	if c.group.Role == Gateway {
		return map[string][]string{resource.ListenerType: nil, resource.ClusterType: nil}
	}
	one := []string{c.service}
	return map[string][]string{resource.ListenerType: one, resource.RouteType: one, resource.ClusterType: one, resource.EndpointType: {EndpointsName(c.group, c.service)}}
}

// gatewayEDS returns the endpoint names of a gateway's clusters.
func (c *simClient) gatewayEDS(raw []*anypb.Any) []string {
	var eds []string
	for _, r := range raw {
		eds = append(eds, EndpointsName(c.group, clusterName(r.Value)))
	}
	slices.Sort(eds)
	return eds
}

func (c *simClient) runSotW(stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	subs := c.first()
	for _, t := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
		if names, ok := subs[t]; ok {
			if err := stream.Send(c.send(t, names)); err != nil {
				return
			}
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return
		}
		if c.group.Role == Gateway {
			switch resp.TypeUrl {
			case resource.ClusterType:
				// Ask for the endpoints of every cluster once they are
				// known, as Envoy does when it warms clusters.
				if eds := c.gatewayEDS(resp.Resources); !slices.Equal(eds, subs[resource.EndpointType]) {
					subs[resource.EndpointType] = eds
					if err := stream.Send(c.send(resource.EndpointType, eds)); err != nil {
						return
					}
				}
			case resource.ListenerType:
				// The listener names the route configuration.
				if _, ok := subs[resource.RouteType]; !ok {
					subs[resource.RouteType] = []string{"gateway_80"}
					if err := stream.Send(c.send(resource.RouteType, subs[resource.RouteType])); err != nil {
						return
					}
				}
			}
		}
		ack := c.send(resp.TypeUrl, subs[resp.TypeUrl])
		ack.VersionInfo, ack.ResponseNonce = resp.VersionInfo, resp.Nonce
		if err := stream.Send(ack); err != nil {
			return
		}
		if resp.TypeUrl == resource.EndpointType {
			c.reportACK(proto.Size(resp))
		}
	}
}

func (c *simClient) runDelta(stream discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient) {
	subscribe := func(t string, names []string) error {
		return stream.Send(&discovery.DeltaDiscoveryRequest{Node: c.nodeOnce(), TypeUrl: t, ResourceNamesSubscribe: names})
	}
	subs := c.first()
	for _, t := range []string{resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType} {
		if names, ok := subs[t]; ok {
			if err := subscribe(t, names); err != nil {
				return
			}
		}
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return
		}
		if c.group.Role == Gateway {
			switch resp.TypeUrl {
			case resource.ClusterType:
				var raw []*anypb.Any
				for _, r := range resp.Resources {
					raw = append(raw, r.Resource)
				}
				if eds := c.gatewayEDS(raw); len(eds) > 0 {
					if err := subscribe(resource.EndpointType, eds); err != nil {
						return
					}
				}
			case resource.ListenerType:
				if _, ok := subs[resource.RouteType]; !ok {
					subs[resource.RouteType] = []string{"gateway_80"}
					if err := subscribe(resource.RouteType, subs[resource.RouteType]); err != nil {
						return
					}
				}
			}
		}
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: c.nodeOnce(), TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce}); err != nil {
			return
		}
		if resp.TypeUrl == resource.EndpointType {
			c.reportACK(proto.Size(resp))
		}
	}
}

func (c *simClient) reportACK(size int) {
	select {
	case c.eds <- ack{time.Now(), size}:
	default:
	}
}

// report hands the client's ACKs to the shared output.
func (c *simClient) report() {
	first := true
	for a := range c.eds {
		simOut.Lock()
		if simOut.ready {
			fmt.Fprintf(simOut.w, "sim: %d %d\n", a.at.UnixNano(), a.bytes)
			simOut.w.Flush()
		} else if first {
			simOut.synced++
		}
		first = false
		simOut.Unlock()
	}
}

// simOut is the child's output. Until every client has its first
// endpoints, ACKs are counted, not printed.
var simOut struct {
	sync.Mutex
	w      *bufio.Writer
	ready  bool
	synced int // clients that ACKed their first endpoints
}

// clusterName decodes a Cluster's name.
func clusterName(raw []byte) string {
	var c cluster.Cluster
	if err := proto.Unmarshal(raw, &c); err != nil {
		return ""
	}
	return c.Name
}

// BenchmarkPlanToACK measures how long a Plan change takes to reach every
// xDS client and be ACKed by it, and the server's memory. The clients
// (benchConfig, from the environment: 1,000 gateways in 5 localities by
// default) run in a child process (this test binary again, see TestMain),
// so that the memory measured is the server's. Run it with -benchtime 1x:
// it does its rounds whatever b.N is. Two kinds of rounds: a whole
// cluster drained or back (every service's endpoints change), then one
// service drained in one cluster or back; each reports its latencies and
// the bytes of endpoints sent per client that got them.
func BenchmarkPlanToACK(b *testing.B) {
	cfg := benchConfigFromEnv()
	clients := cfg.gateways + cfg.grpc
	raiseFileLimit(b, clients+1000)
	w := benchWorldFor(cfg)
	// The default limits, which must admit 10,000 clients; a larger run
	// raises the connection cap.
	var limits Limits
	if clients > DefaultMaxConnections {
		limits.MaxConnections = clients
	}
	s := New(Config{Limits: limits})
	s.SetPlan(w.plan())
	addr := startServer(b, s)

	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	child := exec.CommandContext(ctx, exe)
	child.Env = append(append(os.Environ(), simGatewaysEnv+"="+addr), cfg.env()...)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		// SIGTERM, so that the child can write its CPU profile first;
		// it ends on it either way.
		child.Process.Signal(syscall.SIGTERM)
		kill := time.AfterFunc(10*time.Second, func() { child.Process.Kill() })
		child.Wait()
		kill.Stop()
	}()
	lines := bufio.NewScanner(out)
	// next returns the next line the child reports, skipping test chatter.
	next := func() string {
		for lines.Scan() {
			if l, ok := strings.CutPrefix(lines.Text(), "sim: "); ok {
				return l
			}
		}
		b.Fatalf("the simulated clients stopped: %v", lines.Err())
		return ""
	}
	syncStart := time.Now()
	if l := next(); l != "ready" {
		b.Fatalf("the simulated clients say %q", l)
	}
	syncTime := time.Since(syncStart)
	synced := memNow()
	startProfile(b, "heap-synced")()
	startProfile(b, "goroutine")()
	var allocsBefore runtime.MemStats
	runtime.ReadMemStats(&allocsBefore)
	stopProfile := startProfile(b, "cpu")
	serverCPU, clientsCPU := selfCPU(), procCPU(child.Process.Pid)

	type kind struct {
		name    string
		lat     []time.Duration
		bytes   int
		acks    int
		setPlan time.Duration // in SetPlan, rendering and publishing
	}
	kinds := []*kind{{name: "cluster"}, {name: "service"}}
	b.ResetTimer()
	for r := range 2 * cfg.rounds {
		k := kinds[r/cfg.rounds]
		// Drain one cluster (or one service in it), then bring it back.
		cl, _ := cfg.locality(r / 2 % cfg.localities)
		o := model.Override{Kind: model.Drain, Cluster: "c-" + cl, Reason: "bench", Created: time.Now()}
		if k.name == "service" {
			o.Service = benchService(r / 2 % cfg.services)
		}
		if r%2 == 0 {
			w.ovr = model.NewOverrides([]model.Override{o})
		} else {
			w.ovr = model.Overrides{}
		}
		plan := w.plan()
		before := edsVersions(s)
		start := time.Now()
		s.SetPlan(plan)
		k.setPlan += time.Since(start)
		if r == 0 {
			// The heap while the first push is in flight.
			startProfile(b, "heap-push")()
		}
		want := expectedACKs(cfg, before, edsVersions(s))
		for range want {
			f := strings.Fields(next())
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			size, _ := strconv.Atoi(f[1])
			k.lat = append(k.lat, time.Unix(0, ns).Sub(start))
			k.bytes += size
			k.acks++
		}
	}
	b.StopTimer()
	serverCPU, clientsCPU = selfCPU()-serverCPU, procCPU(child.Process.Pid)-clientsCPU
	stopProfile()
	var allocsAfter runtime.MemStats
	runtime.ReadMemStats(&allocsAfter)
	rssAfter, rssPeak := float64(rssKB())/1024, float64(procStatusKB("VmHWM:"))/1024
	startProfile(b, "heap")()
	after := memNow()
	for _, k := range kinds {
		if len(k.lat) == 0 {
			continue
		}
		slices.Sort(k.lat)
		b.ReportMetric(float64(k.lat[len(k.lat)/2].Microseconds())/1000, k.name+"-p50-ms")
		b.ReportMetric(float64(k.lat[len(k.lat)*99/100].Microseconds())/1000, k.name+"-p99-ms")
		b.ReportMetric(float64(k.lat[len(k.lat)-1].Microseconds())/1000, k.name+"-max-ms")
		b.ReportMetric(float64(k.bytes)/float64(k.acks), k.name+"-EDS-bytes/push")
		b.ReportMetric(float64(k.acks)/float64(cfg.rounds), k.name+"-pushes/round")
		b.ReportMetric(float64(k.setPlan.Microseconds())/1000/float64(cfg.rounds), k.name+"-SetPlan-ms")
	}
	b.ReportMetric(syncTime.Seconds(), "sync-s")
	b.ReportMetric(serverCPU.Seconds(), "server-cpu-s")
	b.ReportMetric(clientsCPU.Seconds(), "clients-cpu-s")
	b.ReportMetric(synced.heapMB, "server-heap-MB")
	b.ReportMetric(synced.stacksMB, "server-stacks-MB")
	b.ReportMetric(synced.stackUsedMB, "server-stacks-used-MB")
	b.ReportMetric(synced.liveMB, "server-live-MB")
	b.ReportMetric(synced.goalMB, "server-gc-goal-MB")
	b.ReportMetric(float64(synced.goroutines)/float64(clients), "goroutines/client")
	b.ReportMetric(float64(synced.stackStart), "stack-start-B")
	b.ReportMetric(synced.rssMB, "server-rss-MB")
	b.ReportMetric(rssAfter, "server-rss-after-MB")
	b.ReportMetric(rssPeak, "server-rss-peak-MB")
	b.ReportMetric(after.heapMB, "server-heap-after-MB")
	b.ReportMetric(float64(allocsAfter.TotalAlloc-allocsBefore.TotalAlloc)/(1<<20)/float64(2*cfg.rounds), "server-alloc-MB/round")
}

// memSample is the benchmark process's memory at one moment, after a GC:
// the heap's spans in use, the goroutines' stacks, the resident set.
type memSample struct {
	heapMB, stacksMB, rssMB float64
	goroutines              int
	stackStart              uint64 // the size a new goroutine's stack starts at
	// stackUsedMB is the stack the last GC scanned (used, not
	// allocated), liveMB the heap it marked live; the next GC's goal
	// is live + (live + stackUsed) × GOGC/100.
	stackUsedMB, liveMB, goalMB float64
}

func memNow() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}, {Name: "/gc/stack/starting-size:bytes"},
		{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/heap/live:bytes"}, {Name: "/gc/heap/goal:bytes"}}
	metrics.Read(m)
	return memSample{
		heapMB:      float64(ms.HeapInuse) / (1 << 20),
		stacksMB:    float64(m[0].Value.Uint64()) / (1 << 20),
		stackStart:  m[1].Value.Uint64(),
		stackUsedMB: float64(m[2].Value.Uint64()) / (1 << 20),
		liveMB:      float64(m[3].Value.Uint64()) / (1 << 20),
		goalMB:      float64(m[4].Value.Uint64()) / (1 << 20),
		rssMB:       float64(rssKB()) / 1024,
		goroutines:  runtime.NumGoroutine(),
	}
}

// edsVersions are the content hashes of every group's endpoints, by
// endpoints name.
func edsVersions(s *Server) map[string]uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]uint64{}
	for _, gs := range s.groups {
		for _, rs := range gs.cache.services {
			out[rs.res.eds] = rs.res.endpointsHash
		}
	}
	return out
}

// expectedACKs counts the clients whose endpoints changed from before to
// after: each gets one response and ACKs it.
func expectedACKs(cfg benchConfig, before, after map[string]uint64) int {
	changed := map[string]bool{}
	groups := map[Group]bool{}
	for name, h := range after {
		if before[name] != h {
			changed[name] = true
		}
	}
	for i := range cfg.gateways + cfg.grpc {
		g, _ := cfg.client(i)
		if g.Role == Gateway {
			if _, ok := groups[g]; !ok {
				groups[g] = false
				for s := range cfg.services {
					if changed[EndpointsName(g, benchService(s))] {
						groups[g] = true
						break
					}
				}
			}
		}
	}
	n := 0
	for i := range cfg.gateways + cfg.grpc {
		g, svc := cfg.client(i)
		if (g.Role == Gateway && groups[g]) || (g.Role == GRPC && changed[EndpointsName(g, svc)]) {
			n++
		}
	}
	return n
}

// startProfile writes this process's CPU profile (kinds ending in "cpu",
// until the returned function is called), goroutines or heap profile to
// $XDS_BENCH_PROFILE/KIND.pprof, when XDS_BENCH_PROFILE names a directory.
func startProfile(tb testing.TB, kind string) func() {
	dir := os.Getenv("XDS_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, kind+".pprof"))
	if err != nil {
		tb.Fatal(err)
	}
	if kind == "goroutine" {
		return func() {
			pprof.Lookup("goroutine").WriteTo(f, 0)
			f.Close()
		}
	}
	if !strings.HasSuffix(kind, "cpu") {
		return func() {
			// Two collections: the profile shows the heap as of the
			// last one, and sync.Pools keep what they held for one.
			runtime.GC()
			runtime.GC()
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		tb.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// raiseFileLimit raises the soft limit on open files to need (each client
// connection is a file on both sides), as far as the hard limit allows.
func raiseFileLimit(tb testing.TB, need int) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		tb.Fatal(err)
	}
	if l.Cur >= uint64(need) {
		return
	}
	l.Cur = min(uint64(need), l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur < uint64(need) {
		tb.Fatalf("open files limited to %d, %d needed: raise the hard limit (ulimit -Hn, or prlimit) (%v)", l.Cur, need, err)
	}
}

// simGatewaysEnv, when set to the server's address, makes this test binary
// the child process of BenchmarkPlanToACK.
const simGatewaysEnv = "MERIDIAN_SIM_XDS"

func TestMain(m *testing.M) {
	if addr := os.Getenv(simGatewaysEnv); addr != "" {
		if err := runSimClients(addr, benchConfigFromEnv()); err != nil {
			fmt.Fprintln(os.Stderr, "simulated clients:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// simTB stands for testing.TB in the child process, for raiseFileLimit.
type simTB struct{ testing.TB }

func (simTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (simTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// runSimClients runs the simulated clients of BenchmarkPlanToACK and
// prints "sim: ready" when each has its endpoints, then "sim: UNIXNANO
// BYTES" for every endpoints update a client ACKs, until it is killed (or
// its parent is gone).
func runSimClients(addr string, cfg benchConfig) error {
	n := cfg.gateways + cfg.grpc
	raiseFileLimit(simTB{}, n+100)
	simOut.w = bufio.NewWriterSize(os.Stdout, 1<<16)
	ctx := context.Background()
	for i := range n {
		if os.Getenv("XDS_BENCH_VERBOSE") != "" && i%1000 == 0 {
			fmt.Fprintf(os.Stderr, "simulated clients: %d started\n", i)
		}
		g, svc := cfg.client(i)
		cc, err := grpc.NewClient(addr, simDialOptions(g.Role)...)
		if err != nil {
			return err
		}
		if err := startSimClient(ctx, cc, "client-"+strconv.Itoa(i), g, svc, cfg.delta); err != nil {
			return err
		}
	}
	// Wait until every client has ACKed its first endpoints.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		simOut.Lock()
		synced := simOut.synced
		if synced >= n {
			pauseSimGC()
			fmt.Fprintln(simOut.w, "sim: ready")
			simOut.w.Flush()
			simOut.ready = true
			simOut.Unlock()
			break
		}
		simOut.Unlock()
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d clients got their endpoints", synced, n)
		}
		if os.Getenv("XDS_BENCH_VERBOSE") != "" && time.Now().Second()%5 == 0 {
			fmt.Fprintf(os.Stderr, "simulated clients: %d of %d synced\n", synced, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	profileSimClients()
	// Stop when the parent is gone.
	for os.Getppid() != 1 {
		time.Sleep(time.Second)
	}
	return nil
}

// simDialOptions are the options of a simulated client's connection. A
// gateway's are Envoy's defaults for HTTP/2 (core.v3.Http2ProtocolOptions):
// a stream window of 16 MiB and a connection window of 24 MiB, where
// grpc-go starts at 64 KiB and grows it by estimating the bandwidth: a
// gateway's 210 KB of endpoints then reach it without waiting for window
// updates, as they reach an Envoy. A gRPC client keeps grpc-go's.
func simDialOptions(role Role) []grpc.DialOption {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if role == Gateway {
		opts = append(opts, grpc.WithInitialWindowSize(envoyStreamWindow), grpc.WithInitialConnWindowSize(envoyConnWindow))
	}
	return opts
}

// Envoy's default HTTP/2 flow-control windows.
const (
	envoyStreamWindow = 16 << 20
	envoyConnWindow   = 24 << 20
)

// pauseSimGC collects the clients' garbage once, then stops their GC
// until the heap passes simHeapLimit, unless XDS_BENCH_CLIENT_GC=1. The
// 10,000 clients share one heap (about 300 MB live): each of its GC
// cycles (0.5-0.8 s on two cores, with assists) stalls every client at
// once, so that all of one round's ACKs wait for it. Real clients are
// Envoys, which have no GC, and gRPC processes with heaps of their own:
// their pauses delay one client each, never the whole fleet together.
// Taking the pause out measures the server, not the harness's heap.
func pauseSimGC() {
	if os.Getenv("XDS_BENCH_CLIENT_GC") == "1" {
		return
	}
	runtime.GC()
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(simHeapLimit)
}

// simHeapLimit is the clients' heap past which their GC runs again,
// whatever pauseSimGC did: a bound, so that a run of many rounds collects
// rather than takes the machine's memory.
const simHeapLimit = 8 << 30

// profileSimClients writes the simulated clients' CPU profile, from now
// until the parent's SIGTERM, to $XDS_BENCH_PROFILE/clients-cpu.pprof when
// XDS_BENCH_PROFILE names a directory: they share the server's CPUs, so
// their time is part of every push's.
func profileSimClients() {
	if os.Getenv("XDS_BENCH_PROFILE") == "" {
		return
	}
	stopProfile := startProfile(simTB{}, "clients-cpu")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	go func() {
		<-stop
		stopProfile()
		os.Exit(0)
	}()
}

// selfCPU is the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is the CPU time process pid has used, from /proc (in clock
// ticks of 1/100 s, as on Linux by default).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rssKB reads the process's resident set size from /proc.
func rssKB() int { return procStatusKB("VmRSS:") }

// procStatusKB reads a field of /proc/self/status given in kB.
func procStatusKB(field string) int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
