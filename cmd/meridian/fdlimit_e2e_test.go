package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
)

// TestServeSurvivesFileDescriptorExhaustion is issue 14's EMFILE: a
// `meridian serve` whose file descriptors are all taken by idle HTTP
// keep-alive connections keeps answering over UDP, waits out its failed TCP
// accepts (DNS, HTTP and xDS alike) instead of exiting, and answers over TCP
// again once the connections close.
func TestServeSurvivesFileDescriptorExhaustion(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatal("prlimit is not installed: apt-get install util-linux")
	}
	if _, err := exec.LookPath("kdig"); err != nil {
		t.Fatal("kdig is not installed: apt-get install knot-dnsutils")
	}
	p := startMeridian(t, demoConf(t, false))
	pid := p.cmd.Process.Pid
	limit := openFDs(t, pid) + 50
	if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(pid), fmt.Sprintf("--nofile=%d:%d", limit, limit)).CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v\n%s", err, out)
	}

	// Idle keep-alive connections, each after one request, until the server
	// no longer accepts one (it is left waiting in the listen queue).
	var idle []net.Conn
	closeIdle := func() {
		for _, c := range idle {
			c.Close()
		}
		idle = nil
	}
	t.Cleanup(closeIdle)
	for range limit + 10 {
		c, err := net.DialTimeout("tcp", p.httpAddr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		if !keepAliveRequest(c) {
			break
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for openFDs(t, pid) < limit {
		if time.Now().After(deadline) {
			t.Fatalf("the server holds %d file descriptors, not its limit %d", openFDs(t, pid), limit)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// DNS and xDS over TCP cannot accept now: each connection waits.
	for _, addr := range []string{"127.0.0.1:" + p.dnsPort, p.xdsAddr} {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	// DNS, HTTP and xDS log their failed accepts, and wait them out.
	failed := map[string]bool{}
	timeout := time.After(20 * time.Second)
	for !failed["dns tcp"] || !failed["http"] || !failed["xds"] {
		select {
		case rec, ok := <-p.logs:
			if !ok {
				t.Fatal("meridian exited when out of file descriptors")
			}
			if rec["msg"] == "accept failed; retrying" && strings.Contains(fmt.Sprint(rec["err"]), "too many open files") {
				failed[fmt.Sprint(rec["listener"])] = true
			}
		case <-timeout:
			t.Fatalf("within 20s, the listeners that logged a failed accept: %v; want dns tcp, http and xds", failed)
		}
	}
	for i := range 5 { // UDP answers throughout
		if r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24"); r.status != "NOERROR" || len(r.answer) == 0 {
			t.Errorf("UDP query %d while out of file descriptors: %+v", i, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		t.Fatalf("meridian exited when out of file descriptors: %v", err)
	default:
	}

	closeIdle()
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, _ := exec.Command("kdig", "@127.0.0.1", "-p", p.dnsPort, "+tcp", "+time=2", "+retry=0", "app.gslb.example.com").CombinedOutput()
		if strings.Contains(string(out), "status: NOERROR") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer over TCP 20s after the connections closed:\n%s", out)
		}
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + p.httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("HTTP after the connections closed: %v", err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"meridian_dns_tcp_accept_errors_total", "meridian_http_accept_errors_total", "meridian_xds_accept_errors_total"} {
		if m := regexp.MustCompile(name + ` (\d+)`).FindSubmatch(metrics); m == nil || string(m[1]) == "0" {
			t.Errorf("accept errors not counted in %s: %q", name, m)
		}
	}
	cc, err := grpc.NewClient(p.xdsAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if !cc.WaitForStateChange(ctx, s) {
			t.Fatalf("xDS after the connections closed: state %v", s)
		}
	}
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		t.Fatalf("meridian exited: %v", err)
	default:
	}
}

// keepAliveRequest sends one request on c and reads the whole response,
// leaving the connection open; false when none comes within 5 s.
func keepAliveRequest(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: meridian\r\n\r\n"); err != nil {
		return false
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusOK
}

// openFDs counts the file descriptors process pid has open.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
