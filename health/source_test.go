package health

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meridian-gtm/meridian/model"
)

// peerListener records the address of every peer it accepts.
type peerListener struct {
	net.Listener
	mu    sync.Mutex
	peers []string
}

func (l *peerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		l.mu.Lock()
		l.peers = append(l.peers, host)
		l.mu.Unlock()
	}
	return c, err
}

func (l *peerListener) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Compact(slices.Sorted(slices.Values(l.peers)))
}

// serveKind serves a healthy server of a probe kind on a recording
// listener at addr and returns the listener.
func serveKind(t *testing.T, kind string, addr netip.Addr) *peerListener {
	t.Helper()
	inner, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	ln := &peerListener{Listener: inner}
	switch kind {
	case "http":
		srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	case "tcp":
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		t.Cleanup(func() { ln.Close() })
	case "grpc":
		srv := grpc.NewServer()
		healthpb.RegisterHealthServer(srv, grpchealth.NewServer())
		go srv.Serve(ln)
		t.Cleanup(srv.Stop)
	}
	return ln
}

// Every kind of probe is sent from the source address of the target's
// family, and from the kernel's choice when there is none: real HTTP, TCP
// and gRPC health servers on loopback see where probes come from. Linux
// routes all of 127.0.0.0/8 to lo, so 127.0.0.11 is an address of the
// host without any setup.
func TestProbesAreSentFromTheSourceAddress(t *testing.T) {
	v4, v6 := localhost, netip.MustParseAddr("::1")
	source := netip.MustParseAddr("127.0.0.11")
	for _, tc := range []struct {
		name   string
		source Source
		target netip.Addr
		want   string
	}{
		{"IPv4 source", Source{IPv4: source}, v4, "127.0.0.11"},
		{"no source", Source{}, v4, "127.0.0.1"},
		{"an IPv6 source only: an IPv4 target from the kernel's choice", Source{IPv6: v6}, v4, "127.0.0.1"},
		{"an IPv4 source only: an IPv6 target from the kernel's choice", Source{IPv4: source}, v6, "::1"},
	} {
		for _, kind := range []string{"http", "tcp", "grpc"} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				ln := serveKind(t, kind, tc.target)
				const svc = "app.example.org"
				h := startCheckerWith(t, Config{
					Checks: map[string]Check{svc: fastCheck(kind, portOf(t, ln.Addr().String()), svc)},
					Source: tc.source,
				})
				h.checker.SetInventory(inventory(backend(svc, "eu", 1, tc.target)))
				h.wait(t, svc, "eu", tc.target, model.Up, 5*time.Second)
				if got := ln.seen(); !slices.Equal(got, []string{tc.want}) {
					t.Errorf("the %s server saw probes from %v, want only %s", kind, got, tc.want)
				}
			})
		}
	}
}

// A source address that is not the host's fails every probe, saying why,
// rather than sending probes from another address.
func TestProbesFromAForeignSourceFail(t *testing.T) {
	for _, kind := range []string{"http", "tcp", "grpc"} {
		t.Run(kind, func(t *testing.T) {
			ln := serveKind(t, kind, localhost)
			const svc = "app.example.org"
			h := startCheckerWith(t, Config{
				Checks: map[string]Check{svc: fastCheck(kind, portOf(t, ln.Addr().String()), svc)},
				Source: Source{IPv4: netip.MustParseAddr("192.0.2.1")}, // TEST-NET-1, on no interface here
			})
			h.checker.SetInventory(inventory(backend(svc, "eu", 1, localhost)))
			v := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second)
			if !strings.Contains(v.Reason, "assign requested address") {
				t.Errorf("down reason = %q, want the bind's error", v.Reason)
			}
			if got := ln.seen(); len(got) != 0 {
				t.Errorf("the server saw probes from %v, want none", got)
			}
		})
	}
}

// CheckSource accepts the host's addresses and refuses others.
func TestCheckSource(t *testing.T) {
	for _, a := range []string{"127.0.0.11", "::1"} {
		if err := CheckSource(netip.MustParseAddr(a)); err != nil {
			t.Errorf("%s: %v", a, err)
		}
	}
	if err := CheckSource(netip.MustParseAddr("192.0.2.1")); err == nil || !strings.Contains(err.Error(), "assign requested address") {
		t.Errorf("192.0.2.1: %v, want cannot assign requested address", err)
	}
}
