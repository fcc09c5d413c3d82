package health

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/meridian-gtm/meridian/internal/testcert"
	"github.com/meridian-gtm/meridian/internal/testlog"
	"github.com/meridian-gtm/meridian/internal/testmetrics"
	"github.com/meridian-gtm/meridian/model"
)

var localhost = netip.MustParseAddr("127.0.0.1")

// harness runs a Checker and keeps what it publishes.
type harness struct {
	checker *Checker
	health  chan model.Health // the latest Health, if not yet taken
	// published counts the Healths published.
	published atomic.Int64
	last      model.Health // the latest Health taken
	reg       *prometheus.Registry
	logs      *testlog.Buffer
}

func startChecker(t *testing.T, checks map[string]Check) *harness {
	t.Helper()
	return startCheckerWith(t, Config{Checks: checks})
}

// startCheckerWith runs a Checker of cfg, whose Workers, Replica, Metrics,
// Logger and Publish it sets.
func startCheckerWith(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{health: make(chan model.Health, 1), reg: prometheus.NewRegistry(), logs: &testlog.Buffer{}}
	cfg.Workers, cfg.Replica, cfg.Metrics = 8, "replica-a", NewMetrics(h.reg)
	cfg.Logger = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Publish = func(hl model.Health) {
		h.published.Add(1)
		select {
		case <-h.health:
		default:
		}
		h.health <- hl
	}
	h.checker = New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.checker.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

// wait returns the verdict on a target once it is want, failing after within.
func (h *harness) wait(t *testing.T, service, cluster string, addr netip.Addr, want model.State, within time.Duration) model.TargetHealth {
	t.Helper()
	deadline := time.After(within)
	var last model.TargetHealth
	for {
		for _, v := range h.last.Of(service) {
			if v.Cluster == cluster && v.Address == addr {
				last = v
			}
		}
		if last.State == want && last.Service != "" {
			return last
		}
		select {
		case h.last = <-h.health:
		case <-deadline:
			t.Fatalf("%s in %s at %v is not %v after %v; last verdict: %+v", service, cluster, addr, want, within, last)
		}
	}
}

// backend is one service served in one cluster at addrs by pods pods.
func backend(service, cluster string, pods int, addrs ...netip.Addr) model.Backend {
	return model.Backend{Service: service, Cluster: cluster, Ingress: addrs, ReadyPods: pods}
}

func inventory(backends ...model.Backend) model.Inventory { return model.NewInventory(nil, backends) }

// fastCheck is a probe of kind on port every 100 ms, without jitter, so
// that tests can count probes.
func fastCheck(kind string, port int, host string) Check {
	return Check{Kind: kind, Port: uint16(port), Path: "/healthz", Method: "GET", Host: host,
		Expect: []StatusRange{{Low: 200, High: 399}}, Interval: 100 * time.Millisecond, Timeout: 80 * time.Millisecond,
		Rise: 2, Fall: 3}
}

// tlsCheck is an https probe with room for handshakes under the race
// detector.
func tlsCheck(port int, host string) Check {
	c := fastCheck("https", port, host)
	c.Interval, c.Timeout = 300*time.Millisecond, 300*time.Millisecond
	return c
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// flakyServer is an HTTP server whose health endpoint can be made to fail,
// and which remembers when it answered what.
type flakyServer struct {
	*httptest.Server
	failing atomic.Bool
	mu      sync.Mutex
	answers []answer
}

type answer struct {
	at   time.Time
	ok   bool
	host string
	path string
}

func newFlakyServer(t *testing.T) *flakyServer {
	s := &flakyServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := !s.failing.Load() && r.URL.Path == "/healthz"
		s.mu.Lock()
		s.answers = append(s.answers, answer{time.Now(), ok, r.Host, r.URL.Path})
		s.mu.Unlock()
		if !ok {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("healthy"))
	}))
	t.Cleanup(s.Close)
	return s
}

// count counts the answers that match, given after from and before to.
func (s *flakyServer) count(from, to time.Time, match func(answer) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.answers {
		if a.at.After(from) && a.at.Before(to) && match(a) {
			n++
		}
	}
	return n
}

// waitCount waits until at least n answers after from match: the positive
// signal a check of what did not happen needs before it looks. Probes of
// one target run one after another, so the n-th answer also says that the
// checker has taken in the verdicts of the ones before it.
func (s *flakyServer) waitCount(t *testing.T, what string, from time.Time, n int, match func(answer) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.count(from, time.Now(), match) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d probes after 10s", what, s.count(from, time.Now(), match), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHTTPServerThatStartsFailingIsDownAfterFallAndUpAfterRise(t *testing.T) {
	srv := newFlakyServer(t)
	const svc = "app.example.org"
	check := fastCheck("http", portOf(t, srv.URL), svc)
	h := startChecker(t, map[string]Check{svc: check})
	h.checker.SetInventory(inventory(backend(svc, "eu", 3, localhost)))

	up := h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second)
	if up.Reason != "status 200" {
		t.Errorf("up reason = %q, want status 200", up.Reason)
	}

	broke := time.Now()
	srv.failing.Store(true)
	down := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second)
	if fails := srv.count(broke, down.Since, func(a answer) bool { return !a.ok }); fails != check.Fall {
		t.Errorf("down after %d failed probes, want fall = %d", fails, check.Fall)
	}
	if down.Reason != "status 503" {
		t.Errorf("down reason = %q, want status 503", down.Reason)
	}

	fixed := time.Now()
	srv.failing.Store(false)
	up = h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second)
	if oks := srv.count(fixed, up.Since, func(a answer) bool { return a.ok }); oks != check.Rise {
		t.Errorf("up after %d good probes, want rise = %d", oks, check.Rise)
	}
	if n := srv.count(time.Time{}, time.Now(), func(a answer) bool { return a.host != svc }); n > 0 {
		t.Errorf("%d probes without the service's name as Host", n)
	}

	// The change was logged with the replica's name, and counted.
	if !strings.Contains(h.logs.String(), `"msg":"target down","replica":"replica-a","service":"app.example.org","cluster":"eu","address":"127.0.0.1","from":"up","reason":"status 503"`) {
		t.Errorf("no log of the change with the replica's name:\n%s", h.logs)
	}
	metrics := testmetrics.Text(t, h.reg)
	for _, want := range []string{
		`meridian_health_state_changes_total{state="down"} 1`,
		`meridian_health_state_changes_total{state="up"} 2`,
		`meridian_health_targets 1`,
		`meridian_health_probe_seconds_count{kind="http"}`,
		`meridian_health_probes_total{kind="http",result="fail"}`,
		`meridian_health_probes_total{kind="http",result="ok"}`,
		`meridian_health_schedule_lateness_seconds_count`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
}

func TestBodyAndStatusExpectations(t *testing.T) {
	srv := newFlakyServer(t)
	const svc = "app.example.org"
	check := fastCheck("http", portOf(t, srv.URL), svc)
	check.Body = "ready"
	h := startChecker(t, map[string]Check{svc: check})
	h.checker.SetInventory(inventory(backend(svc, "eu", 3, localhost)))
	if v := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second); v.Reason != `status 200, body lacks "ready"` {
		t.Errorf("reason = %q", v.Reason)
	}

	// A maintenance page that is expected: 503 with its text.
	check.Body = "unavailable"
	check.Expect = []StatusRange{{Low: 500, High: 503}}
	h.checker.SetChecks(map[string]Check{svc: check})
	srv.failing.Store(true)
	if v := h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second); v.Reason != "status 503" {
		t.Errorf("reason = %q", v.Reason)
	}
}

// closingListener accepts and closes every connection until it is
// closed: a TCP probe of it passes.
func closingListener(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

func TestTCPListenerThatCloses(t *testing.T) {
	ln := closingListener(t)
	const svc = "db.example.org"
	h := startChecker(t, map[string]Check{svc: fastCheck("tcp", portOf(t, ln.Addr().String()), svc)})
	h.checker.SetInventory(inventory(backend(svc, "eu", 1, localhost)))
	if v := h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second); v.Reason != "connected" {
		t.Errorf("up reason = %q", v.Reason)
	}
	ln.Close()
	// The reason names no address: the target is known, and a source port
	// would make every reason different.
	if v := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second); v.Reason != "connect: connection refused" {
		t.Errorf("down reason = %q, want connect: connection refused", v.Reason)
	}
}

func TestGRPCServerReportingNotServing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := grpchealth.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	const svc = "rpc.example.org"
	check := fastCheck("grpc", portOf(t, ln.Addr().String()), svc)
	check.GRPCService = "shop.Cart"
	hs.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_SERVING)
	h := startChecker(t, map[string]Check{svc: check})
	h.checker.SetInventory(inventory(backend(svc, "eu", 2, localhost)))
	h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second)

	hs.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_NOT_SERVING)
	if v := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second); v.Reason != "grpc health: NOT_SERVING" {
		t.Errorf("down reason = %q", v.Reason)
	}
	hs.SetServingStatus("shop.Cart", healthpb.HealthCheckResponse_SERVING)
	h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second)
}

func TestHTTPSCertificates(t *testing.T) {
	var hosts sync.Map
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts.Store(r.Host+" sni="+r.TLS.ServerName, true)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", srv.Certificate().Raw)
	port := portOf(t, srv.URL)

	// The test server's certificate names example.com and is signed by no
	// CA the system trusts.
	untrusted := tlsCheck(port, "example.com")
	wrongName := tlsCheck(port, "app.example.org")
	wrongName.CA = caFile
	trusted := tlsCheck(port, "example.com")
	trusted.CA = caFile
	skipped := tlsCheck(port, "app.example.org")
	skipped.InsecureSkipVerify = true
	h := startChecker(t, map[string]Check{"untrusted": untrusted, "wrong-name": wrongName, "trusted": trusted, "skipped": skipped})
	h.checker.SetInventory(inventory(backend("untrusted", "eu", 1, localhost), backend("wrong-name", "eu", 1, localhost),
		backend("trusted", "eu", 1, localhost), backend("skipped", "eu", 1, localhost)))

	if v := h.wait(t, "untrusted", "eu", localhost, model.Down, 5*time.Second); !strings.Contains(v.Reason, "certificate signed by unknown authority") {
		t.Errorf("untrusted: reason = %q", v.Reason)
	}
	if v := h.wait(t, "wrong-name", "eu", localhost, model.Down, 5*time.Second); !strings.Contains(v.Reason, "not app.example.org") {
		t.Errorf("wrong name: reason = %q", v.Reason)
	}
	h.wait(t, "trusted", "eu", localhost, model.Up, 5*time.Second)
	h.wait(t, "skipped", "eu", localhost, model.Up, 5*time.Second)
	if _, ok := hosts.Load("example.com sni=example.com"); !ok {
		t.Error("the trusted probe did not send example.com as Host and server name")
	}
}

func TestHTTPSClientCertificate(t *testing.T) {
	client := testcert.New(t, "meridian-probe")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	pool := x509.NewCertPool()
	pool.AddCert(client.X509)
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	writePEM(t, caFile, "CERTIFICATE", srv.Certificate().Raw)

	const svc = "mtls.example.org"
	check := tlsCheck(portOf(t, srv.URL), "example.com")
	check.CA = caFile
	h := startChecker(t, map[string]Check{svc: check})
	h.checker.SetInventory(inventory(backend(svc, "eu", 1, localhost)))
	h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second)

	check.ClientCert, check.ClientKey = client.CertFile, client.KeyFile
	h.checker.SetChecks(map[string]Check{svc: check})
	h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second)
}

func TestSlowServerExceedsTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		select {
		case <-time.After(time.Second):
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	const svc = "slow.example.org"
	h := startChecker(t, map[string]Check{svc: fastCheck("http", portOf(t, srv.URL), svc)})
	h.checker.SetInventory(inventory(backend(svc, "eu", 1, localhost)))
	if v := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second); v.Reason != "timeout after 80ms" {
		t.Errorf("reason = %q, want timeout after 80ms", v.Reason)
	}
	if m := testmetrics.Text(t, h.reg); !strings.Contains(m, `meridian_health_probes_total{kind="http",result="timeout"} `) {
		t.Errorf("timeouts are not counted:\n%s", m)
	}
}

// TestReadinessIsTheEngines checks that the Checker publishes probe
// verdicts only: a target without ready pods is still probed and judged by
// its probes, an unprobed one is up (model.NotProbed), and a change of
// ready pods alone publishes no new Health, so that it reaches the engine
// once, as an Inventory.
func TestReadinessIsTheEngines(t *testing.T) {
	srv := newFlakyServer(t)
	const probedSvc, plainSvc, laterSvc = "app.example.org", "plain.example.org", "later.example.org"
	h := startChecker(t, map[string]Check{probedSvc: fastCheck("http", portOf(t, srv.URL), probedSvc)})
	h.checker.SetInventory(inventory(backend(probedSvc, "eu", 0, localhost), backend(plainSvc, "eu", 2, localhost)))
	if v := h.wait(t, probedSvc, "eu", localhost, model.Up, 5*time.Second); v.Reason != "status 200" || v.Unprobed {
		t.Errorf("probed target without ready pods: reason = %q, unprobed %v; want status 200, probed", v.Reason, v.Unprobed)
	}
	plain := h.wait(t, plainSvc, "eu", localhost, model.Up, 5*time.Second)
	if plain.Reason != model.NotProbed || !plain.Unprobed {
		t.Errorf("unprobed verdict: reason = %q, unprobed %v; want %q, unprobed", plain.Reason, plain.Unprobed, model.NotProbed)
	}
	before := h.published.Load()
	// Ready pods change, then a new service comes: the only Health
	// published is the one with the new service.
	h.checker.SetInventory(inventory(backend(probedSvc, "eu", 4, localhost), backend(plainSvc, "eu", 0, localhost)))
	h.checker.SetInventory(inventory(backend(probedSvc, "eu", 4, localhost), backend(plainSvc, "eu", 0, localhost), backend(laterSvc, "eu", 1, localhost)))
	h.wait(t, laterSvc, "eu", localhost, model.Up, 5*time.Second)
	if n := h.published.Load() - before; n != 1 {
		t.Errorf("a change of ready pods and a new service published %d Healths, want 1", n)
	}
	if v := h.wait(t, plainSvc, "eu", localhost, model.Up, time.Second); v != plain {
		t.Errorf("unprobed verdict after its pods left = %+v, want it unchanged (%+v)", v, plain)
	}
}

func TestTargetsStartAndStopWithTheInventory(t *testing.T) {
	srv := newFlakyServer(t)
	port := portOf(t, srv.URL)
	check := fastCheck("http", port, "")
	checks := map[string]Check{}
	for _, svc := range []string{"a.example.org", "b.example.org"} {
		c := check
		c.Host = svc
		checks[svc] = c
	}
	host := func(name string) func(answer) bool { return func(a answer) bool { return a.host == name } }
	h := startChecker(t, checks)
	h.checker.SetInventory(inventory(backend("a.example.org", "eu", 1, localhost)))
	h.wait(t, "a.example.org", "eu", localhost, model.Up, 5*time.Second)

	added := time.Now()
	h.checker.SetInventory(inventory(backend("a.example.org", "eu", 1, localhost), backend("b.example.org", "eu", 1, localhost)))
	h.wait(t, "b.example.org", "eu", localhost, model.Up, 5*time.Second)
	if first := srv.count(added, added.Add(50*time.Millisecond), host("b.example.org")); first != 1 {
		t.Errorf("%d probes of a new target within 50ms, want 1 at once", first)
	}

	h.checker.SetInventory(inventory(backend("b.example.org", "eu", 1, localhost)))
	hl := <-h.health
	if vs := hl.Of("a.example.org"); len(vs) != 0 {
		t.Errorf("verdicts on a removed service: %+v", vs)
	}
	removed := time.Now()
	// The remaining target probed 3 times since: a's probes, had they gone
	// on at the same interval, would have landed meanwhile.
	srv.waitCount(t, "probes of the remaining target", removed.Add(check.Timeout), 3, host("b.example.org"))
	// A probe in flight at removal may still land; none may start after.
	if n := srv.count(removed.Add(check.Timeout), time.Now(), host("a.example.org")); n != 0 {
		t.Errorf("%d probes of a removed target", n)
	}
}

func TestChangedCheckKeepsVerdicts(t *testing.T) {
	srv := newFlakyServer(t)
	srv.failing.Store(true)
	const svc = "app.example.org"
	check := fastCheck("http", portOf(t, srv.URL), svc)
	h := startChecker(t, map[string]Check{svc: check})
	h.checker.SetInventory(inventory(backend(svc, "eu", 1, localhost)))
	down := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second)

	// A reload that changes the probe must not make a dead target
	// unknown, which the engine would route to.
	check.Path = "/other"
	check.Interval = 200 * time.Millisecond
	reloaded := time.Now()
	h.checker.SetChecks(map[string]Check{svc: check})
	// Two probes of the new path: the first one's verdict is taken in.
	srv.waitCount(t, "probes with the new check", reloaded, 2, func(a answer) bool { return a.path == "/other" })
	select {
	case hl := <-h.health:
		if v := hl.Of(svc); len(v) != 1 || v[0].State != model.Down || !v[0].Since.Equal(down.Since) {
			t.Errorf("after the reload: %+v, want down since %v", v, down.Since)
		}
	default: // nothing changed, as it should be
	}
	if n := srv.count(down.Since, time.Now(), func(a answer) bool { return a.ok }); n != 0 {
		t.Errorf("%d good probes of a failing server", n)
	}
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
