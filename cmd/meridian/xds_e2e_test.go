package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/internal/testcert"
)

func xdsConf(port int, drain string) string {
	return fmt.Sprintf(`
meridian {
    dns     127.0.0.1:0
    http    127.0.0.1:0
    xds     127.0.0.1:0
}
cluster primary {
    region eu-west
    location 53.35 -6.26
    %s
    static {
        ingress %s
        pods app 3
    }
}
cluster secondary {
    region us-east
    location 38.9 -77.4
    static {
        ingress %s
        pods app 3
    }
}
zone gslb.example.com {
    ns ns1.gslb.example.com 127.0.0.1
    service app {
        xds_port %d
    }
}
`, drain, primaryAddr, secondaryAddr, port)
}

// TestServeXDS runs `meridian serve` with an xDS listener and a gRPC
// client that resolves the global service through grpc-go's xDS resolver:
// it reaches its own region's cluster, and a drain applied by reloading
// the config moves its traffic to the other.
func TestServeXDS(t *testing.T) {
	primary, secondary, port := listenPair(t)
	for _, ln := range []net.Listener{primary, secondary} {
		gs := grpc.NewServer()
		healthpb.RegisterHealthServer(gs, grpchealth.NewServer())
		go gs.Serve(ln)
		t.Cleanup(gs.Stop)
	}
	p := startMeridian(t, xdsConf(port, ""))
	if p.xdsAddr == "" {
		t.Fatal("meridian did not log its xDS address")
	}
	cc := xdsClient(t, p.xdsAddr, "e2e-client", `{"region": "eu-west"}`)
	client := healthpb.NewHealthClient(cc)
	backend := func() string {
		var pr peer.Peer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&pr), grpc.WaitForReady(true)); err != nil {
			t.Fatalf("RPC through xDS: %v", err)
		}
		host, _, _ := net.SplitHostPort(pr.Addr.String())
		return host
	}
	for range 20 {
		if b := backend(); b != primaryAddr {
			t.Fatalf("a client in eu-west reached %s, want the primary %s", b, primaryAddr)
		}
	}

	if err := os.WriteFile(p.conf, []byte(xdsConf(port, "drain maintenance")), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(15 * time.Second)
	streak := 0
	for streak < 20 {
		if time.Now().After(deadline) {
			t.Fatal("traffic did not leave the drained cluster within 15s")
		}
		if b := backend(); b == secondaryAddr {
			streak++
		} else {
			streak = 0
		}
	}
	for _, rec := range drainLogs(p) {
		if strings.Contains(fmt.Sprint(rec["msg"]), "rejected") {
			t.Errorf("a client rejected a response: %v", rec)
		}
	}
}

// drainLogs returns the log lines received so far.
func drainLogs(p *process) []map[string]any {
	var out []map[string]any
	for {
		select {
		case rec, ok := <-p.logs:
			if !ok {
				return out
			}
			out = append(out, rec)
		default:
			return out
		}
	}
}

func TestXDSTLSConfig(t *testing.T) {
	server := testcert.New(t, "127.0.0.1")
	client := testcert.New(t, "gateway.example.org")
	c, err := serverTLS("xds_tls", &config.TLSFiles{Cert: server.CertFile, Key: server.KeyFile, ClientCA: client.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Certificates) != 1 || c.ClientAuth != tls.RequireAndVerifyClientCert || c.ClientCAs == nil {
		t.Errorf("mTLS config = %+v", c)
	}
	_, err = serverTLS("xds_tls", &config.TLSFiles{Pos: config.Pos{File: "m.conf", Line: 7}, Cert: server.CertFile, Key: server.KeyFile, ClientCA: server.KeyFile})
	if err == nil || !strings.HasPrefix(err.Error(), "m.conf:7: xds_tls: ") {
		t.Errorf("a key given as the client CA: err = %v, want one naming m.conf:7", err)
	}
}
