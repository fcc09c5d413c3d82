package xds

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/meridian-gtm/meridian/model"
)

// benchRegions are the five localities of the simulated gateways.
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

// simGateway is a simulated Envoy gateway: one connection, one SotW ADS
// stream, every response ACKed at once. It reports each endpoints response
// it ACKs.
type simGateway struct {
	node   *core.Node
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	eds    chan time.Time // when an endpoints response was ACKed
}

func startSimGateway(ctx context.Context, addr, id, region string) (*simGateway, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { cc.Close() })
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	md, _ := structpb.NewStruct(map[string]any{RoleKey: "gateway"})
	g := &simGateway{
		node:   &core.Node{Id: id, Locality: &core.Locality{Region: region, Zone: region + "a"}, Metadata: md},
		stream: stream,
		eds:    make(chan time.Time, 64),
	}
	for _, typeURL := range []string{resource.ListenerType, resource.ClusterType} {
		if err := stream.Send(&discovery.DiscoveryRequest{Node: g.node, TypeUrl: typeURL}); err != nil {
			return nil, err
		}
	}
	go g.run()
	return g, nil
}

func (g *simGateway) run() {
	var edsNames []string
	for {
		resp, err := g.stream.Recv()
		if err != nil {
			return
		}
		var names []string
		switch resp.TypeUrl {
		case resource.ClusterType:
			// Ask for the endpoints of every cluster once they are known,
			// as Envoy does when it warms clusters.
			group := Group{Role: Gateway, Region: g.node.Locality.Region, Zone: g.node.Locality.Zone}
			var eds []string
			for i := range resp.Resources {
				eds = append(eds, EndpointsName(group, clusterName(resp.Resources[i].Value)))
			}
			slices.Sort(eds)
			if !slices.Equal(eds, edsNames) {
				edsNames = eds
				if err := g.stream.Send(&discovery.DiscoveryRequest{Node: g.node, TypeUrl: resource.EndpointType, ResourceNames: edsNames}); err != nil {
					return
				}
			}
		case resource.ListenerType:
			names = nil
		case resource.EndpointType:
			names = edsNames
		case resource.RouteType:
			names = []string{"gateway_80"}
		}
		ack := &discovery.DiscoveryRequest{Node: g.node, TypeUrl: resp.TypeUrl, ResourceNames: names, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce}
		if resp.TypeUrl == resource.ListenerType {
			// The listener names the route configuration: subscribe to it.
			if err := g.stream.Send(&discovery.DiscoveryRequest{Node: g.node, TypeUrl: resource.RouteType, ResourceNames: []string{"gateway_80"}}); err != nil {
				return
			}
		}
		if resp.TypeUrl == resource.ClusterType {
			ack.ResourceNames = nil
		}
		if err := g.stream.Send(ack); err != nil {
			return
		}
		if resp.TypeUrl == resource.EndpointType {
			select {
			case g.eds <- time.Now():
			default:
			}
		}
	}
}

// clusterName decodes a Cluster's name.
func clusterName(raw []byte) string {
	var c cluster.Cluster
	if err := proto.Unmarshal(raw, &c); err != nil {
		return ""
	}
	return c.Name
}

// BenchmarkPlanToACK measures how long a Plan change takes to reach 1,000
// gateways in 5 localities (5 node groups) and be ACKed by every one, and
// the server's memory. The gateways run in a child process (this test
// binary again, see TestMain), so that the memory measured is the
// server's. Run it with -benchtime 1x: it does rounds rounds whatever b.N is.
func BenchmarkPlanToACK(b *testing.B) {
	const (
		clients  = 1000
		services = 100
		rounds   = 10
	)
	w := benchWorld(services)
	s := New(Config{})
	s.SetPlan(w.plan())
	addr := startServer(b, s)

	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	child := exec.Command(exe)
	child.Env = append(os.Environ(), simGatewaysEnv+"="+addr, "MERIDIAN_SIM_CLIENTS="+strconv.Itoa(clients))
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		child.Process.Kill()
		child.Wait()
	}()
	lines := bufio.NewScanner(out)
	// next returns the next line the child reports, skipping test chatter.
	next := func() string {
		for lines.Scan() {
			if l, ok := strings.CutPrefix(lines.Text(), "sim: "); ok {
				return l
			}
		}
		b.Fatalf("the simulated gateways stopped: %v", lines.Err())
		return ""
	}
	if l := next(); l != "ready" {
		b.Fatalf("the simulated gateways say %q", l)
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapMB, rssMB := float64(ms.HeapInuse)/(1<<20), float64(rssKB())/1024

	var lat []time.Duration
	b.ResetTimer()
	for r := range rounds {
		// Drain one cluster, then bring it back: every group's endpoints change.
		if r%2 == 0 {
			w.ovr = model.NewOverrides([]model.Override{{Kind: model.Drain, Cluster: "c-" + benchRegions[r/2%len(benchRegions)].region, Reason: "bench", Created: time.Now()}})
		} else {
			w.ovr = model.Overrides{}
		}
		plan := w.plan()
		start := time.Now()
		s.SetPlan(plan)
		for range clients {
			ns, err := strconv.ParseInt(next(), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Unix(0, ns).Sub(start))
		}
	}
	b.StopTimer()
	rssAfter := float64(rssKB()) / 1024
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(heapMB, "server-heap-MB")
	b.ReportMetric(rssMB, "server-rss-MB")
	b.ReportMetric(rssAfter, "server-rss-after-MB")
}

// simGatewaysEnv, when set to the server's address, makes this test binary
// the child process of BenchmarkPlanToACK.
const simGatewaysEnv = "MERIDIAN_SIM_XDS"

func TestMain(m *testing.M) {
	if addr := os.Getenv(simGatewaysEnv); addr != "" {
		if err := runSimGateways(addr); err != nil {
			fmt.Fprintln(os.Stderr, "simulated gateways:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runSimGateways runs the simulated gateways of BenchmarkPlanToACK and
// prints "sim: ready" when each has its endpoints, then "sim: UNIXNANO" for
// every endpoints update a gateway ACKs, until it is killed.
func runSimGateways(addr string) error {
	n, err := strconv.Atoi(os.Getenv("MERIDIAN_SIM_CLIENTS"))
	if err != nil {
		return err
	}
	ctx := context.Background()
	gws := make([]*simGateway, n)
	for i := range gws {
		if gws[i], err = startSimGateway(ctx, addr, "gw-"+strconv.Itoa(i), benchRegions[i%len(benchRegions)].region); err != nil {
			return err
		}
	}
	for i, g := range gws {
		select {
		case <-g.eds:
		case <-time.After(60 * time.Second):
			return fmt.Errorf("gateway %d got no endpoints", i)
		}
	}
	var mu sync.Mutex
	fmt.Println("sim: ready")
	var wg sync.WaitGroup
	for _, g := range gws {
		wg.Go(func() {
			for at := range g.eds {
				mu.Lock()
				fmt.Printf("sim: %d\n", at.UnixNano())
				mu.Unlock()
			}
		})
	}
	wg.Wait() // until the benchmark kills the process
	return nil
}

// rssKB reads the process's resident set size from /proc.
func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
