package main

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/testlog"
)

// freePort returns a loopback port free for both UDP and TCP just now,
// below the kernel's ephemeral range (32768 and up), so that no outgoing
// connection of a test running beside this one takes it before the server
// binds it, or after serve released it and before the test binds it again.
// It never returns a port twice in one test process: nothing is bound to
// a port between this call and the server's start, so a test asking for
// several would otherwise get the same one now and then (dns and xds both
// on one port, once in a CI run).
func freePort(t *testing.T) string {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		if _, given := portsGiven.LoadOrStore(port, true); given {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		pc, err := net.ListenPacket("udp", addr)
		ln.Close()
		if err == nil {
			pc.Close()
			return addr
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return ""
}

// portsGiven holds the ports freePort returned.
var portsGiven sync.Map

// ownGoroutines returns the stacks of the goroutines that run Meridian's
// code, by goroutine id, leaving out the caller's own.
func ownGoroutines() map[string]string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	header := regexp.MustCompile(`^goroutine (\d+) `)
	for i, g := range strings.Split(string(buf), "\n\n") {
		m := header.FindStringSubmatch(g)
		if i == 0 || m == nil {
			continue // the first is the caller's
		}
		if runsOurCode(g) {
			out[m[1]] = g
		}
	}
	return out
}

// runsOurCode reports whether a goroutine's stack has a frame of
// Meridian's code. "created by" lines do not count: a goroutine that has
// returned from all of its functions and is exiting has only that line.
func runsOurCode(stack string) bool {
	for _, l := range strings.Split(stack, "\n") {
		if strings.HasPrefix(l, "created by ") || strings.HasPrefix(l, "\t") {
			continue
		}
		if strings.Contains(l, "github.com/meridian-gtm/meridian/") || strings.HasPrefix(l, "main.") {
			return true
		}
	}
	return false
}

// checkAllStopped fails t unless every goroutine started since before is
// gone (each part may take a moment after serve returns to be scheduled
// out, but serve must have waited for all of them), and every address in
// addrs can be bound again over TCP and UDP.
func checkAllStopped(t *testing.T, before map[string]string, addrs ...string) {
	t.Helper()
	// A goroutine that has said it is done (a UDP reader's WaitGroup.Done
	// runs in its last deferred call) may still be returning, and one
	// locked to its thread takes the thread down with it: what is left
	// after a moment is left running.
	var left map[string]string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left = map[string]string{}
		for id, stack := range ownGoroutines() {
			if _, ok := before[id]; !ok {
				left[id] = stack
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, stack := range left {
		t.Errorf("goroutine left running after serve returned:\n%s", stack)
	}
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Errorf("%s still held over TCP after serve returned: %v", a, err)
		} else {
			ln.Close()
		}
		pc, err := net.ListenPacket("udp", a)
		if err != nil {
			t.Errorf("%s still held over UDP after serve returned: %v", a, err)
		} else {
			pc.Close()
		}
	}
}

// serveConf is the demo config with the given listen addresses.
func serveConf(t *testing.T, dnsAddr, xdsAddr, httpAddr string) string {
	conf := demoConf(t, false)
	conf = strings.Replace(conf, "dns   127.0.0.1:0", "dns   "+dnsAddr, 1)
	conf = strings.Replace(conf, "xds   127.0.0.1:0", "xds   "+xdsAddr, 1)
	conf = strings.Replace(conf, "http  127.0.0.1:0", "http  "+httpAddr, 1)
	for _, a := range []string{dnsAddr, xdsAddr, httpAddr} {
		if !strings.Contains(conf, " "+a+"\n") {
			t.Fatalf("the demo config no longer has the listener for %s in the expected form", a)
		}
	}
	return conf
}

func writeConf(t *testing.T, conf string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meridian.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeStartFailureStopsWhatStarted binds DNS and xDS, then fails to
// bind HTTP: serve must return the reason, release both, and leave no
// goroutine behind.
func TestServeStartFailureStopsWhatStarted(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dnsAddr, xdsAddr := freePort(t), freePort(t)
	path := writeConf(t, serveConf(t, dnsAddr, xdsAddr, taken.Addr().String()))
	before := ownGoroutines()
	err = serve(context.Background(), path, "", slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("serve with its HTTP port taken = %v, want the bind error", err)
	}
	checkAllStopped(t, before, dnsAddr, xdsAddr)
}

// TestServeStopsEverythingOnSignal runs the demo until its context ends:
// serve returns nil having stopped every part and released every port.
func TestServeStopsEverythingOnSignal(t *testing.T) {
	dnsAddr, xdsAddr, httpAddr := freePort(t), freePort(t), freePort(t)
	path := writeConf(t, serveConf(t, dnsAddr, xdsAddr, httpAddr))
	before := ownGoroutines()
	ctx, cancel := context.WithCancel(context.Background())
	var logs testlog.Buffer
	done := make(chan error, 1)
	go func() { done <- serve(ctx, path, "", slog.New(slog.NewTextHandler(&logs, nil))) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "plan published") {
		if time.Now().After(deadline) {
			t.Fatalf("no plan published in 30 s:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after its context ended = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return within 30 s of its context ending")
	}
	checkAllStopped(t, before, dnsAddr, xdsAddr, httpAddr)
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("no \"stopped\" log line:\n%s", logs.String())
	}
}

// TestServeComponentFailureStopsEverything makes discovery fail once the
// listeners serve (its cluster-secrets kubeconfig is empty): serve returns
// an error naming discovery, after stopping every other part.
func TestServeComponentFailureStopsEverything(t *testing.T) {
	dnsAddr, xdsAddr, httpAddr := freePort(t), freePort(t), freePort(t)
	empty := filepath.Join(t.TempDir(), "empty-kubeconfig")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := serveConf(t, dnsAddr, xdsAddr, httpAddr)
	conf = strings.Replace(conf, "meridian {\n", "meridian {\n    cluster_secrets meridian {\n        kubeconfig "+empty+"\n    }\n", 1)
	path := writeConf(t, conf)
	before := ownGoroutines()
	done := make(chan error, 1)
	go func() { done <- serve(context.Background(), path, "", slog.New(slog.DiscardHandler)) }()
	select {
	case err := <-done:
		if err == nil || !strings.HasPrefix(err.Error(), "discovery stopped: ") {
			t.Fatalf("serve with a broken cluster-secrets kubeconfig = %v, want \"discovery stopped: ...\"", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30 s of discovery failing")
	}
	checkAllStopped(t, before, dnsAddr, xdsAddr, httpAddr)
}

// TestFreePortNeverTwice: a thousand ports asked for in one process are
// a thousand ports (drawn at random from 12,000, some would repeat).
func TestFreePortNeverTwice(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		p := freePort(t)
		if seen[p] {
			t.Fatalf("freePort returned %s twice", p)
		}
		seen[p] = true
	}
}
