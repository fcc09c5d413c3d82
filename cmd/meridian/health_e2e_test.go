package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meridian-gtm/meridian/internal/testcert"
)

// The two clusters of the health tests: app fails over from primary to
// secondary, whose ingress addresses are two loopback addresses.
const (
	primaryAddr   = "127.0.0.2"
	secondaryAddr = "127.0.0.3"
)

// healthConf is a config in which app.gslb.example.com fails over from
// primary to secondary, probed as the health block says.
func healthConf(healthBlock string) string {
	return fmt.Sprintf(`
meridian {
    dns     127.0.0.1:0
    http    127.0.0.1:0
    replica e2e-replica
}
cluster primary {
    region eu-west
    static {
        ingress %s
        pods app 3
    }
}
cluster secondary {
    region us-east
    static {
        ingress %s
        pods app 3
    }
}
zone gslb.example.com {
    ns ns1.gslb.example.com 127.0.0.1
    service app {
        policy failover
        order  primary secondary
        ttl    5
        health {
%s
        }
    }
}
`, primaryAddr, secondaryAddr, healthBlock)
}

// listenPair listens on the same free port of the primary's and the
// secondary's address, as one health block probes both.
func listenPair(t testing.TB) (primary, secondary net.Listener, port int) {
	t.Helper()
	for range 20 {
		p, err := net.Listen("tcp", primaryAddr+":0")
		if err != nil {
			t.Fatal(err)
		}
		port = p.Addr().(*net.TCPAddr).Port
		s, err := net.Listen("tcp", fmt.Sprintf("%s:%d", secondaryAddr, port))
		if err != nil {
			p.Close()
			continue
		}
		t.Cleanup(func() { p.Close(); s.Close() })
		return p, s, port
	}
	t.Fatal("no port free on both loopback addresses")
	return nil, nil, 0
}

// serveHTTP serves h on ln until the test ends, over TLS when cfg is set.
func serveHTTP(t *testing.T, ln net.Listener, h http.Handler, cfg *tls.Config) {
	srv := &http.Server{Handler: h, TLSConfig: cfg, ErrorLog: log.New(io.Discard, "", 0)}
	if cfg != nil {
		go srv.ServeTLS(ln, "", "")
	} else {
		go srv.Serve(ln)
	}
	t.Cleanup(func() { srv.Close() })
}

// answerOf returns the one address kdig gets for args, or the status when
// the answer is not one record.
func answerOf(t *testing.T, port string, args ...string) string {
	t.Helper()
	r := kdig(t, port, args...)
	if len(r.answer) != 1 {
		return fmt.Sprintf("%s with %d records", r.status, len(r.answer))
	}
	f := strings.Fields(r.answer[0])
	return f[len(f)-1]
}

// waitAnswer polls with kdig until the answer to args is want.
func waitAnswer(t *testing.T, port, want string, within time.Duration, args ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for got := answerOf(t, port, args...); got != want; got = answerOf(t, port, args...) {
		if time.Now().After(deadline) {
			t.Fatalf("%v: the answer is %s after %v, want %s", args, got, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Every kind of failure a probe detects moves the DNS answer, through the
// engine, from the failing cluster to the other one.
func TestServeHealthChecksMoveAnswers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block string // the health block; PORT is the servers' port
		// serve starts a healthy server on each listener and returns what
		// breaks the primary and, where it can, what mends it; and the CA
		// file to trust, if any.
		serve func(t *testing.T, primary, secondary net.Listener) (breakIt, mend func(), ca string)
		// reason is part of the logged reason the primary went down.
		reason string
	}{
		{
			name:  "an HTTP server that starts failing",
			block: "kind http\n path /healthz\n port PORT\n interval 200ms\n rise 2\n fall 2",
			serve: func(t *testing.T, primary, secondary net.Listener) (func(), func(), string) {
				var failing atomic.Bool
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if failing.Load() && strings.HasPrefix(r.Host, "app.gslb.example.com") {
						http.Error(w, "down", http.StatusInternalServerError)
					}
				})
				serveHTTP(t, primary, h, nil)
				serveHTTP(t, secondary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
				return func() { failing.Store(true) }, func() { failing.Store(false) }, ""
			},
			reason: "status 500",
		},
		{
			name:  "a TCP listener that closes",
			block: "kind tcp\n port PORT\n interval 200ms\n fall 2",
			serve: func(t *testing.T, primary, secondary net.Listener) (func(), func(), string) {
				for _, ln := range []net.Listener{primary, secondary} {
					go func() {
						for {
							c, err := ln.Accept()
							if err != nil {
								return
							}
							c.Close()
						}
					}()
				}
				return func() { primary.Close() }, nil, ""
			},
			reason: "connection refused",
		},
		{
			name:  "a gRPC server that reports NOT_SERVING",
			block: "kind grpc\n port PORT\n interval 200ms\n fall 2",
			serve: func(t *testing.T, primary, secondary net.Listener) (func(), func(), string) {
				var statuses []*grpchealth.Server
				for _, ln := range []net.Listener{primary, secondary} {
					srv, hs := grpc.NewServer(), grpchealth.NewServer()
					healthpb.RegisterHealthServer(srv, hs)
					go srv.Serve(ln)
					t.Cleanup(srv.Stop)
					statuses = append(statuses, hs)
				}
				return func() { statuses[0].SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING) },
					func() { statuses[0].SetServingStatus("", healthpb.HealthCheckResponse_SERVING) }, ""
			},
			reason: "NOT_SERVING",
		},
		{
			name:  "an HTTPS server whose certificate goes bad",
			block: "kind https\n port PORT\n ca CA\n interval 200ms\n fall 2",
			serve: func(t *testing.T, primary, secondary net.Listener) (func(), func(), string) {
				good := testcert.New(t, "app.gslb.example.com")
				bad := testcert.New(t, "app.gslb.example.com") // same name, signed by no one trusted
				var current atomic.Pointer[tls.Certificate]
				current.Store(&good.TLS)
				cfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return current.Load(), nil }}
				serveHTTP(t, primary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), cfg)
				serveHTTP(t, secondary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
					&tls.Config{Certificates: []tls.Certificate{good.TLS}})
				return func() { current.Store(&bad.TLS) }, func() { current.Store(&good.TLS) }, good.CertFile
			},
			reason: "certificate signed by unknown authority",
		},
		{
			name:  "a server slower than the timeout",
			block: "kind http\n port PORT\n interval 200ms\n timeout 100ms\n fall 2",
			serve: func(t *testing.T, primary, secondary net.Listener) (func(), func(), string) {
				var slow atomic.Bool
				serveHTTP(t, primary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
					if slow.Load() {
						time.Sleep(time.Second)
					}
				}), nil)
				serveHTTP(t, secondary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
				return func() { slow.Store(true) }, func() { slow.Store(false) }, ""
			},
			reason: "timeout after 100ms",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			primary, secondary, port := listenPair(t)
			breakIt, mend, ca := tc.serve(t, primary, secondary)
			block := strings.NewReplacer("PORT", fmt.Sprint(port), "CA", ca, "\n ", "\n            ").Replace("            " + tc.block)
			p := startMeridian(t, healthConf(block))
			query := []string{"app.gslb.example.com", "A"}

			waitAnswer(t, p.dnsPort, primaryAddr, 5*time.Second, query...)
			breakIt()
			waitAnswer(t, p.dnsPort, secondaryAddr, 10*time.Second, query...)
			rec := waitLog(t, p, "target down")
			if rec["replica"] != "e2e-replica" || rec["cluster"] != "primary" || !strings.Contains(fmt.Sprint(rec["reason"]), tc.reason) {
				t.Errorf("logged %v, want the primary down on replica e2e-replica because of %q", rec, tc.reason)
			}
			if mend != nil {
				mend()
				waitAnswer(t, p.dnsPort, primaryAddr, 10*time.Second, query...)
			}
		})
	}
}

// BenchmarkHealthDetection measures, through the real binary, the time from
// a backend starting to fail to the DNS answer leaving it, with the probe
// settings the issue names (HTTP, interval 1 s, fall 3, rise 2, the default
// jitter), and the time back once it recovers. Each round breaks the
// backend at a random moment of its probe interval. Run it with
// -benchtime 1x: it does rounds rounds whatever b.N is.
func BenchmarkHealthDetection(b *testing.B) {
	const rounds = 8
	primary, secondary, port := listenPair(b)
	var failing atomic.Bool
	for i, ln := range []net.Listener{primary, secondary} {
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if i == 0 && failing.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
	}
	p := startMeridian(b, healthConf(fmt.Sprintf("            kind http\n            port %d\n            interval 1s\n            fall 3\n            rise 2", port)))
	conn, err := net.Dial("udp", "127.0.0.1:"+p.dnsPort)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	// waitFor polls the DNS answer every 5 ms until it is want and
	// returns how long that took.
	waitFor := func(want string) time.Duration {
		start := time.Now()
		for got := ""; got != want; got = queryA(b, conn, "app.gslb.example.com.") {
			if time.Since(start) > 30*time.Second {
				b.Fatalf("the answer is %s after 30s, want %s", got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}
	waitFor(primaryAddr)
	var down, up []time.Duration
	b.ResetTimer()
	for range rounds {
		time.Sleep(time.Duration(mrand.Int64N(int64(time.Second)))) // a random phase of the probe interval
		failing.Store(true)
		down = append(down, waitFor(secondaryAddr))
		time.Sleep(time.Duration(mrand.Int64N(int64(time.Second))))
		failing.Store(false)
		up = append(up, waitFor(primaryAddr))
	}
	b.StopTimer()
	for _, m := range []struct {
		name string
		ds   []time.Duration
	}{{"detect", down}, {"recover", up}} {
		slices.Sort(m.ds)
		b.ReportMetric(m.ds[0].Seconds(), m.name+"-min-s")
		b.ReportMetric(m.ds[len(m.ds)/2].Seconds(), m.name+"-p50-s")
		b.ReportMetric(m.ds[len(m.ds)-1].Seconds(), m.name+"-max-s")
	}
}

// queryA asks the server on conn for name's A record and returns its
// address, or a description of what came back instead.
func queryA(b *testing.B, conn net.Conn, name string) string {
	id := uint16(mrand.Uint32())
	q := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id})
	q.StartQuestions()
	q.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	msg, err := q.Finish()
	if err != nil {
		b.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write(msg); err != nil {
		return err.Error()
	}
	buf := make([]byte, 1500)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			return err.Error()
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil || h.ID != id {
			continue // a late answer to an earlier query
		}
		p.SkipAllQuestions()
		answers, err := p.AllAnswers()
		if err != nil || len(answers) != 1 {
			return fmt.Sprintf("%v with %d answers", h.RCode, len(answers))
		}
		a, ok := answers[0].Body.(*dnsmessage.AResource)
		if !ok {
			return "not an A record"
		}
		return netip.AddrFrom4(a.A).String()
	}
}
