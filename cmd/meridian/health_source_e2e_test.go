package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// healthSourceAddr is the loopback address the replica with health_source
// probes from; Linux routes all of 127.0.0.0/8 to lo, so it needs no setup.
const healthSourceAddr = "127.0.0.12"

// A replica with health_source probes from that address: a backend that
// turns away probes from it (a firewall that admits another address) is
// down for that replica, whose answer moves to the other cluster, while a
// replica without health_source, probing from 127.0.0.1, keeps it up.
func TestServeHealthSourceIsWhereProbesComeFrom(t *testing.T) {
	primary, secondary, port := listenPair(t)
	var mu sync.Mutex
	peers := map[string]int{} // probes of the primary, by source address
	serveHTTP(t, primary, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		mu.Lock()
		peers[host]++
		mu.Unlock()
		if host == healthSourceAddr {
			http.Error(w, "not from there", http.StatusServiceUnavailable)
		}
	}), nil)
	// probesFrom waits until the primary has seen n probes from addr.
	probesFrom := func(addr string, n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			got := peers[addr]
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the primary saw %d probes from %s within 20 s, want %d", got, addr, n)
			}
		}
	}
	probes := func(addr string) int { mu.Lock(); defer mu.Unlock(); return peers[addr] }
	serveHTTP(t, secondary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
	// A timeout as long as the interval: under a loaded machine and the race
	// detector a probe can take 200 ms, and two such would fail a target
	// for a reason that is not the one under test.
	block := fmt.Sprintf("            kind http\n            port %d\n            interval 500ms\n            rise 2\n            fall 2", port)
	conf := healthConf(block)
	sourced := startMeridian(t, strings.Replace(conf, "replica e2e-replica", "replica e2e-replica\n    health_source "+healthSourceAddr, 1))
	plain := startMeridian(t, conf)
	query := []string{"app.gslb.example.com", "A"}

	waitAnswer(t, sourced.dnsPort, secondaryAddr, 10*time.Second, query...)
	rec := waitLog(t, sourced, "target down")
	if rec["cluster"] != "primary" || !strings.Contains(fmt.Sprint(rec["reason"]), "status 503") {
		t.Errorf("logged %v, want the primary down because of status 503", rec)
	}
	// The plain replica, which probes from 127.0.0.1, has judged the
	// primary over more probes than fall since then.
	probesFrom("127.0.0.1", probes("127.0.0.1")+3)
	if got := answerOf(t, plain.dnsPort, query...); got != primaryAddr {
		t.Errorf("the replica without health_source answers %s, want the primary %s", got, primaryAddr)
	}
	mu.Lock()
	if peers[healthSourceAddr] == 0 || peers["127.0.0.1"] == 0 || len(peers) != 2 {
		t.Errorf("the primary saw probes from %v, want from %s and 127.0.0.1 alone", peers, healthSourceAddr)
	}
	mu.Unlock()

	// health_source is read at start: a reload that adds it warns and
	// changes nothing.
	if err := os.WriteFile(plain.conf, []byte(strings.Replace(conf, "replica e2e-replica", "replica e2e-replica\n    health_source "+healthSourceAddr, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := plain.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec = waitLog(t, plain, "health_source changed; it takes effect at the next restart")
	if fmt.Sprint(rec["configured"]) != "["+healthSourceAddr+"]" {
		t.Errorf("logged %v, want configured [%s]", rec, healthSourceAddr)
	}
	waitLog(t, plain, "configuration reloaded")
	probesFrom("127.0.0.1", probes("127.0.0.1")+3)
	if got := answerOf(t, plain.dnsPort, query...); got != primaryAddr {
		t.Errorf("after the reload the replica without health_source at start answers %s, want the primary %s", got, primaryAddr)
	}
}

// TestServeRejectsForeignHealthSource: at start, a health_source this host
// does not have is a configuration error: exit status 2, naming the line.
func TestServeRejectsForeignHealthSource(t *testing.T) {
	path, out := serveFails(t, "meridian {\n    dns 127.0.0.1:0\n    http 127.0.0.1:0\n    health_source 192.0.2.1\n}\nzone example.org {\n    ns ns.example.net\n}\n")
	want := fmt.Sprintf("%s:4: health_source: 192.0.2.1 is not an address of this host: listen tcp 192.0.2.1:0: bind: cannot assign requested address\n", path)
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}
