package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
)

// TestDnstap runs the binary with `dnstap unix:PATH` and a reader on that
// socket (golang-dnstap's, as its `dnstap` command reads): a UDP query
// with a client subnet and a TCP query for a name that does not exist
// arrive as AUTH_QUERY and AUTH_RESPONSE messages, which Debian's
// dnstap-ldns, the reader of the dnstap project's C library, decodes from
// the file they were saved to: sockets, addresses, the client subnet in
// the query, the answers.
func TestDnstap(t *testing.T) {
	ldns, err := exec.LookPath("dnstap-ldns")
	if err != nil {
		t.Fatal("dnstap-ldns is not installed: run `make test` as root, or apt-get install dnstap-ldns")
	}
	dir := t.TempDir()
	in, err := dnstap.NewFrameStreamSockInputFromPath(filepath.Join(dir, "tap.sock"))
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan []byte, 16)
	go in.ReadInto(frames)

	conf := strings.Replace(demoConf(t, false), "meridian {\n", "meridian {\n    dnstap unix:"+filepath.Join(dir, "tap.sock")+"\n    replica tap-test\n", 1)
	p := startMeridian(t, conf)
	if r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24"); demoCluster(r) != "eu-west" {
		t.Fatalf("UK client: %v", r.answer)
	}
	if r := kdig(t, p.dnsPort, "+tcp", "nope.gslb.example.com"); r.status != "NXDOMAIN" {
		t.Fatalf("nope: %s", r.status)
	}

	file := filepath.Join(dir, "tap.fstrm")
	out, err := dnstap.NewFrameStreamOutputFromFilename(file)
	if err != nil {
		t.Fatal(err)
	}
	go out.RunOutputLoop()
	for range 4 {
		select {
		case f := <-frames:
			out.GetOutputChannel() <- f
		case <-time.After(10 * time.Second):
			t.Fatal("fewer than 4 dnstap messages within 10 s")
		}
	}
	out.Close()
	text, err := exec.Command(ldns, "-y", "-r", file).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-ldns: %v\n%s", err, text)
	}
	yaml := string(text)
	for _, want := range []string{
		`identity: "tap-test"`,
		"type: AUTH_QUERY", "type: AUTH_RESPONSE",
		"socket_protocol: UDP", "socket_protocol: TCP",
		`query_address: "127.0.0.1"`,
		";app.gslb.example.com.\tIN\tA",
		"0008000700011800510245", // the client subnet option: 81.2.69.0/24
		"rcode: NXDOMAIN",
		"app.gslb.example.com.\t30\tIN\tA\t192.0.2.1", // an eu-west address
	} {
		if !strings.Contains(yaml, want) {
			t.Errorf("dnstap-ldns output lacks %q:\n%s", want, yaml)
		}
	}
	if n := strings.Count(yaml, "type: AUTH_QUERY"); n != 2 {
		t.Errorf("%d queries logged, want 2", n)
	}
	// Messages are counted once flushed, which may be after the reader has them.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m := scrapeMetrics(t, p.httpAddr)
		if strings.Contains(m, "meridian_dnstap_messages_total 4\n") && strings.Contains(m, "meridian_dnstap_dropped_total 0\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("dnstap metrics:\n%s", grepLines(m, "meridian_dnstap"))
			break
		}
	}
	os.Remove(file)
}

// grepLines returns the lines of text that contain s.
func grepLines(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
