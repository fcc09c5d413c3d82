package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/testlog"
)

// startUnbound runs Debian's unbound as a recursive resolver on loopback
// that sends queries for gslb.example.com to Meridian (a stub zone) and
// forwards the client subnet (RFC 7871), as a public resolver delegated to
// Meridian would. It returns unbound's port.
func startUnbound(t *testing.T, meridianPort string) string {
	t.Helper()
	return startUnboundWith(t, meridianPort, "")
}

// startUnboundWith is startUnbound; with anchor (a DNSKEY record of the
// zone's key-signing key) unbound validates, with that trust anchor. The
// stubs are more stub zones, for zones served on other ports than
// meridianPort: unbound would follow a referral's glue only to port 53.
func startUnboundWith(t *testing.T, meridianPort, anchor string, stubs ...stubZone) string {
	t.Helper()
	return startUnboundConf(t, meridianPort, anchor, "", stubs...)
}

// startUnboundConf is startUnboundWith with extra lines (each indented,
// ending in a newline) in unbound's server section.
func startUnboundConf(t *testing.T, meridianPort, anchor, extra string, stubs ...stubZone) string {
	t.Helper()
	bin, err := exec.LookPath("unbound")
	if err != nil {
		// Debian puts it in sbin, which a plain user's PATH may lack.
		bin = "/usr/sbin/unbound"
		if _, err := os.Stat(bin); err != nil {
			t.Fatal("unbound is not installed: run `make test` as root, or apt-get install unbound")
		}
	}
	// The port is free when picked, but may be taken before unbound binds
	// it (over TCP too, by any process's outgoing connection): then
	// unbound says so and exits, and it is tried again on another. It
	// binds without SO_REUSEPORT, so that it cannot share a port with a
	// server that lets others join (Meridian's sockets, another unbound)
	// and see half the queries go elsewhere.
	for attempt := 1; ; attempt++ {
		port, out, exited := runUnbound(t, bin, freeUDPPort(t), meridianPort, anchor, extra, stubs)
		deadline := time.Now().Add(20 * time.Second)
		for {
			// Any answer will do: with a wrong trust anchor it is SERVFAIL.
			if o, err := exec.Command("kdig", "@127.0.0.1", "-p", port, "+time=1", "+retry=0", "www.gslb.example.com").CombinedOutput(); err == nil && strings.Contains(string(o), "status: ") {
				return port
			}
			select {
			case <-exited:
				if strings.Contains(out.String(), "could not open ports") && attempt < 5 {
					t.Logf("unbound could not bind port %s; trying another", port)
				} else {
					t.Fatalf("unbound exited:\n%s", out)
				}
			default:
				if time.Now().After(deadline) {
					t.Fatalf("unbound did not answer within 20s:\n%s", out)
				}
				time.Sleep(100 * time.Millisecond)
				continue
			}
			break
		}
	}
}

// stubZone is a zone unbound sends to a server on a loopback port.
type stubZone struct{ name, port string }

// runUnbound starts unbound on port as a recursive resolver whose stub
// for the demo zone is Meridian on meridianPort, with more stubs; exited
// is closed when it exits, and out collects what it prints. With anchor,
// it validates; extra goes in the server section.
func runUnbound(t *testing.T, bin, port, meridianPort, anchor, extra string, stubs []stubZone) (string, *testlog.Buffer, chan struct{}) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "unbound.conf")
	modules := "subnetcache iterator"
	if anchor != "" {
		modules = "subnetcache validator iterator"
		anchor = fmt.Sprintf("    trust-anchor: %q\n    val-log-level: 2\n", anchor)
	}
	var more strings.Builder
	for _, s := range stubs {
		fmt.Fprintf(&more, "stub-zone:\n    name: %q\n    stub-addr: 127.0.0.1@%s\n", s.name, s.port)
	}
	os.WriteFile(conf, []byte(fmt.Sprintf(`server:
    interface: 127.0.0.1
    port: %s
    do-daemonize: no
    so-reuseport: no
    username: ""
    chroot: ""
    directory: "%s"
    pidfile: "%s/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "%s"
    send-client-subnet: 127.0.0.1
    client-subnet-always-forward: yes
    max-client-subnet-ipv4: 24
%s%sstub-zone:
    name: "gslb.example.com"
    stub-addr: 127.0.0.1@%s
%s`, port, dir, dir, modules, anchor, extra, meridianPort, more.String())), 0o644)
	cmd := exec.Command(bin, "-d", "-c", conf)
	out := &testlog.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("unbound output:\n%s", out)
		}
	})
	return port, out, exited
}

func freeUDPPort(t *testing.T) string {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, port, _ := net.SplitHostPort(c.LocalAddr().String())
	return port
}

// TestRecursiveResolverForwardsClientSubnet asks unbound, not Meridian:
// the answer must still depend on the client's subnet, and unbound's cache
// must keep the UK and US answers apart, as their ECS scopes tell it to.
func TestRecursiveResolverForwardsClientSubnet(t *testing.T) {
	p := startMeridian(t, demoConf(t, false))
	port := startUnbound(t, p.dnsPort)
	for round := range 2 { // the second round comes from unbound's cache
		for _, tc := range []struct {
			subnet, prefix string
		}{
			{"81.2.69.0/24", "192.0.2."},    // UK: eu-west
			{"8.8.8.0/24", "198.51.100."},   // US: us-east
			{"13.250.0.0/24", "203.0.113."}, // Singapore: ap-southeast
		} {
			r := kdig(t, port, "app.gslb.example.com", "+subnet="+tc.subnet)
			if r.status != "NOERROR" || len(r.answer) != 1 || !strings.Contains(r.answer[0], " A "+tc.prefix) {
				t.Errorf("round %d, via unbound with subnet %s: %s %v, want an address in %s*", round, tc.subnet, r.status, r.answer, tc.prefix)
			}
		}
	}
	// Static names resolve through the delegation too.
	if r := kdig(t, port, "www.gslb.example.com"); len(r.answer) != 1 || !strings.Contains(r.answer[0], "192.0.2.80") {
		t.Errorf("www via unbound: %v", r.answer)
	}
}

// TestRecursiveResolverCachesByScope puts unbound's subnet cache in front
// of Meridian: a geo service's answer is cached per client network (UK,
// US and Singapore each reach Meridian and get their own cluster; the UK
// again is served from unbound's cache), while a service whose answer is
// the same for every client answers with ECS scope /0, so one cache entry
// serves every network and Meridian is asked once.
func TestRecursiveResolverCachesByScope(t *testing.T) {
	conf := demoConf(t, false)
	for old, repl := range map[string]string{
		"pods app 6\n":  "pods app 6\n        pods solo 2\n",
		"service app {": "service solo {\n        policy geo\n        ttl 300\n    }\n\n    service app {",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("demo config lacks %q", old)
		}
		conf = strings.Replace(conf, old, repl, 1)
	}
	p := startMeridian(t, conf)
	port := startUnbound(t, p.dnsPort)
	for _, tc := range []struct {
		subnet, prefix string
	}{
		{"81.2.69.0/24", "192.0.2."},    // UK: eu-west
		{"8.8.8.0/24", "198.51.100."},   // US: us-east
		{"13.250.0.0/24", "203.0.113."}, // Singapore: ap-southeast
		{"81.2.69.0/24", "192.0.2."},    // UK again, from unbound's cache
	} {
		if r := kdig(t, port, "app.gslb.example.com", "+subnet="+tc.subnet); r.status != "NOERROR" || len(r.answer) != 1 || !strings.Contains(r.answer[0], " A "+tc.prefix) {
			t.Errorf("app via unbound with subnet %s: %s %v, want an address in %s*", tc.subnet, r.status, r.answer, tc.prefix)
		}
		if r := kdig(t, port, "solo.gslb.example.com", "+subnet="+tc.subnet); r.status != "NOERROR" || len(r.answer) != 1 || !strings.Contains(r.answer[0], " A 192.0.2.1") {
			t.Errorf("solo via unbound with subnet %s: %s %v, want eu-west's address", tc.subnet, r.status, r.answer)
		}
	}
	metrics := scrapeMetrics(t, p.httpAddr)
	for _, tc := range []struct {
		service, cluster string
		want             int
	}{
		{"app.gslb.example.com", "eu-west", 1}, // the UK's second query came from the cache
		{"app.gslb.example.com", "us-east", 1},
		{"app.gslb.example.com", "ap-southeast", 1},
		{"solo.gslb.example.com", "eu-west", 1}, // scope /0: one entry for every network
	} {
		if got := serviceAnswers(metrics, tc.service, tc.cluster); got != tc.want {
			t.Errorf("Meridian answered %s from %s %d times through unbound, want %d", tc.service, tc.cluster, got, tc.want)
		}
	}
}

// scrapeMetrics returns the text of Meridian's /metrics.
func scrapeMetrics(t *testing.T, httpAddr string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// serviceAnswers reads meridian_dns_service_answers_total for a service
// and cluster from metrics text; 0 when absent.
func serviceAnswers(metrics, service, cluster string) int {
	re := regexp.MustCompile(`meridian_dns_service_answers_total\{cluster="` + regexp.QuoteMeta(cluster) +
		`",service="` + regexp.QuoteMeta(service) + `"\} (\d+)`)
	m := re.FindStringSubmatch(metrics)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
