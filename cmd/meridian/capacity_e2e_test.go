package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	grpcxds "google.golang.org/grpc/xds"
)

// The three-view test's second address in the primary cluster; it fails
// its HTTP health check.
const primaryDownAddr = "127.0.0.4"

// listenSame listens on one free port of every address.
func listenSame(t *testing.T, addrs ...string) ([]net.Listener, int) {
	t.Helper()
	for range 20 {
		first, err := net.Listen("tcp", addrs[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		lns := []net.Listener{first}
		for _, a := range addrs[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(a, fmt.Sprint(port)))
			if err != nil {
				break
			}
			lns = append(lns, ln)
		}
		if len(lns) == len(addrs) {
			t.Cleanup(func() {
				for _, ln := range lns {
					ln.Close()
				}
			})
			return lns, port
		}
		for _, ln := range lns {
			ln.Close()
		}
	}
	t.Fatalf("no port free on all of %v", addrs)
	return nil, 0
}

// capacityConf serves app.gslb.example.com by geo from primary (two
// ingress addresses, 6 pods) and secondary (one, 6 pods), probed over
// HTTP on httpPort, reached by gateways and gRPC on grpcPort.
func capacityConf(dir, spill string, httpPort, grpcPort int) string {
	return fmt.Sprintf(`
meridian {
    dns        127.0.0.1:0
    http       127.0.0.1:0
    xds        127.0.0.1:0
    api_tokens %[1]s/tokens
    overrides  file %[1]s/overrides.json
}
cluster primary {
    region   eu-west
    zone     eu-west-1a
    location 53.35 -6.26
    static {
        ingress %[2]s %[3]s
        pods app 6
    }
}
cluster secondary {
    region   us-east
    zone     us-east-1a
    location 38.9 -77.4
    static {
        ingress %[4]s
        pods app 6
    }
}
zone gslb.example.com {
    ns ns1.gslb.example.com 127.0.0.1
    service app {
        policy   geo
        ttl      5
        spill    %[5]s
        xds_port %[7]d
        health {
            kind     http
            port     %[6]d
            interval 200ms
            rise     2
            fall     2
        }
    }
}
`, dir, primaryAddr, primaryDownAddr, secondaryAddr, spill, httpPort, grpcPort)
}

// TestThreeViewsAgreeWhenAnAddressFails: primary has two ingress
// addresses, one of which fails its real HTTP health check, and every pod
// ready. For a client in the UK (nearest primary), the API's shares, 2,000
// DNS answers and 2,000 RPCs through grpc-go's xDS resolver agree within
// sampling error; with spill capacity nothing crosses to secondary, with
// spill hosts 30% does (Envoy's arithmetic by address: 1 of 2 healthy,
// health 70).
func TestThreeViewsAgreeWhenAnAddressFails(t *testing.T) {
	for _, tc := range []struct {
		spill     string
		secondary float64 // the Plan's share for secondary
	}{{"capacity", 0}, {"hosts", 0.30}} {
		t.Run(tc.spill, func(t *testing.T) {
			addrs := []string{primaryAddr, primaryDownAddr, secondaryAddr}
			httpLns, httpPort := listenSame(t, addrs...)
			for i, ln := range httpLns {
				failing := addrs[i] == primaryDownAddr
				serveHTTP(t, ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if failing {
						http.Error(w, "draining", http.StatusServiceUnavailable)
					}
				}), nil)
			}
			grpcLns, grpcPort := listenSame(t, addrs...)
			for _, ln := range grpcLns {
				gs := grpc.NewServer()
				healthpb.RegisterHealthServer(gs, grpchealth.NewServer())
				go gs.Serve(ln)
				t.Cleanup(gs.Stop)
			}
			dir := t.TempDir()
			writeTokens(t, filepath.Join(dir, "tokens"))
			p := startMeridian(t, capacityConf(dir, tc.spill, httpPort, grpcPort))

			// The API: wait for the verdict, then take the Plan's shares.
			var api map[string]float64
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				var down bool
				api, down = explainShares(t, p.httpAddr, "81.2.69.1")
				if down {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s is not unhealthy after 20s: shares %v", primaryDownAddr, api)
				}
			}
			if math.Abs(api[secondaryAddr]-tc.secondary) > 1e-9 || api[primaryDownAddr] != 0 {
				t.Fatalf("the API's shares are %v; want %.2f for secondary and none for %s", api, tc.secondary, primaryDownAddr)
			}

			const n = 2000
			dnsConn, err := net.Dial("udp", "127.0.0.1:"+p.dnsPort)
			if err != nil {
				t.Fatal(err)
			}
			defer dnsConn.Close()
			ask := func() string { return queryECS(t, dnsConn, "app.gslb.example.com.", [3]byte{81, 2, 69}) }
			settle(t, "DNS", ask)
			dns := map[string]int{}
			for range n {
				dns[ask()]++
			}

			cc := ukGRPCClient(t, p.xdsAddr)
			rpc := func() string { return rpcBackend(t, cc) }
			settle(t, "gRPC", rpc)
			rpcs := map[string]int{}
			for range n {
				rpcs[rpc()]++
			}

			t.Logf("spill %s: API %v; DNS %v; gRPC %v", tc.spill, api, dns, rpcs)
			for view, counts := range map[string]map[string]int{"DNS": dns, "gRPC": rpcs} {
				if counts[primaryDownAddr] > 0 {
					t.Errorf("%s: %d of %d to the failing address", view, counts[primaryDownAddr], n)
				}
				got := float64(counts[secondaryAddr]) / n
				// 5 standard deviations of a binomial share at 30% of 2,000 is 0.051.
				if math.Abs(got-api[secondaryAddr]) > 0.05 || tc.secondary == 0 && counts[secondaryAddr] > 0 {
					t.Errorf("%s: %.3f to secondary (%d of %d), the API says %.3f", view, got, counts[secondaryAddr], n, api[secondaryAddr])
				}
				if counts[primaryAddr]+counts[secondaryAddr] != n {
					t.Errorf("%s: answers %v, want only %s and %s", view, counts, primaryAddr, secondaryAddr)
				}
			}

			// The spill mode is policy, re-read on SIGHUP like the rest.
			if tc.spill != "capacity" {
				return
			}
			if err := os.WriteFile(p.conf, []byte(capacityConf(dir, "hosts", httpPort, grpcPort)), 0o644); err != nil {
				t.Fatal(err)
			}
			p.cmd.Process.Signal(syscall.SIGHUP)
			for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if api, _ = explainShares(t, p.httpAddr, "81.2.69.1"); math.Abs(api[secondaryAddr]-0.3) < 1e-9 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after a reload to spill hosts the shares are still %v", api)
				}
			}
		})
	}
}

// explainShares asks the API how the Plan splits app's traffic for client,
// by address, and whether the failing address is unhealthy.
func explainShares(t *testing.T, httpAddr, client string) (map[string]float64, bool) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/api/v1/explain?"+url.Values{"name": {"app.gslb.example.com"}, "client": {client}}.Encode(), nil)
	req.Header.Set("Authorization", "Bearer read-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Site    string
		Targets []struct {
			Address, Status string
			Share           float64
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("explain: %v %v", resp.Status, err)
	}
	if e.Site != "primary" {
		t.Fatalf("explain places %s nearest %q, want primary", client, e.Site)
	}
	shares, down := map[string]float64{}, false
	for _, tg := range e.Targets {
		shares[tg.Address] += tg.Share
		down = down || tg.Address == primaryDownAddr && tg.Status == "unhealthy"
	}
	return shares, down
}

// settle waits until 100 answers in a row avoid the failing address: the
// view has the Plan that knows it is down.
func settle(t *testing.T, view string, next func() string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for streak := 0; streak < 100; {
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %s after 15s", view, primaryDownAddr)
		}
		if next() == primaryDownAddr {
			streak = 0
		} else {
			streak++
		}
	}
}

// queryECS asks for name's A record with EDNS Client Subnet subnet/24 and
// returns the address answered.
func queryECS(t *testing.T, conn net.Conn, name string, subnet [3]byte) string {
	t.Helper()
	id := uint16(mrand.Uint32())
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	b.StartAdditionals()
	var opt dnsmessage.ResourceHeader
	opt.SetEDNS0(1232, dnsmessage.RCodeSuccess, false)
	ecs := append([]byte{0, 1, 24, 0}, subnet[:]...) // family IPv4, source /24, scope 0
	b.OPTResource(opt, dnsmessage.OPTResource{Options: []dnsmessage.Option{{Code: 8, Data: ecs}}})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for attempt := 0; attempt < 3; attempt++ {
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break // timed out: ask again
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil || h.ID != id {
				continue // a late answer to an earlier query
			}
			p.SkipAllQuestions()
			for {
				ah, err := p.AnswerHeader()
				if err != nil {
					t.Fatalf("%s: no A record in the answer (%v)", name, h.RCode)
				}
				if ah.Type != dnsmessage.TypeA {
					p.SkipAnswer()
					continue
				}
				a, err := p.AResource()
				if err != nil {
					t.Fatal(err)
				}
				return net.IP(a.A[:]).String()
			}
		}
	}
	t.Fatalf("%s: no answer", name)
	return ""
}

// ukGRPCClient dials app through grpc-go's xDS resolver as a node in
// eu-west-1a, primary's zone.
func ukGRPCClient(t *testing.T, xdsAddr string) *grpc.ClientConn {
	t.Helper()
	return xdsClient(t, xdsAddr, "three-views", `{"region": "eu-west", "zone": "eu-west-1a"}`)
}

// xdsClient dials app.gslb.example.com through grpc-go's xDS resolver, as
// node id at locality (JSON), from Meridian's xDS server at xdsAddr.
func xdsClient(t *testing.T, xdsAddr, id, locality string) *grpc.ClientConn {
	t.Helper()
	bootstrap := fmt.Sprintf(`{
		"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": %q, "locality": %s}
	}`, xdsAddr, id, locality)
	builder, err := grpcxds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///app.gslb.example.com", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(builder))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// rpcBackend makes one RPC and returns the address that served it.
func rpcBackend(t *testing.T, cc *grpc.ClientConn) string {
	t.Helper()
	var pr peer.Peer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&pr), grpc.WaitForReady(true)); err != nil {
		t.Fatalf("RPC through xDS: %v", err)
	}
	host, _, _ := net.SplitHostPort(pr.Addr.String())
	return host
}
