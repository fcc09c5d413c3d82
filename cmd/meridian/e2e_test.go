package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// meridianBin is the binary built once for the end-to-end tests.
var meridianBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "meridian-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	meridianBin = filepath.Join(dir, "meridian")
	build := exec.Command("go", "build", "-race", "-o", meridianBin, ".")
	if !raceEnabled {
		build = exec.Command("go", "build", "-o", meridianBin, ".")
	}
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building meridian:", err)
		os.Exit(1)
	}
	// A race-built program sleeps a second before it exits, by default,
	// to catch the races of goroutines still running: every ctl command
	// and every server stopped would take a second longer (a third of
	// this package's time). The races of a server are caught while it
	// serves; the processes the tests start inherit this.
	os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// demoConf returns deploy/demo/meridian.conf as shipped, listening on free
// loopback ports, and with eu-west drained when drain is set.
func demoConf(t *testing.T, drain bool) string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/demo/meridian.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	for old, repl := range map[string]string{
		"127.0.0.1:5353":  "127.0.0.1:0",
		"127.0.0.1:8080":  "127.0.0.1:0",
		"127.0.0.1:18000": "127.0.0.1:0",
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("the demo config no longer listens on %s", old)
		}
		conf = strings.ReplaceAll(conf, old, repl)
	}
	// The API's files: the demo's tokens, a fresh overrides store.
	for old, repl := range map[string]string{
		"api_tokens tokens":                     "api_tokens " + must(filepath.Abs("../../deploy/demo/tokens")),
		"overrides  file .state/overrides.json": "overrides  file " + filepath.Join(t.TempDir(), "overrides.json"),
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("the demo config has no %q", old)
		}
		conf = strings.ReplaceAll(conf, old, repl)
	}
	if drain {
		const commented = "# drain maintenance"
		if !strings.Contains(conf, commented) {
			t.Fatalf("the demo config has no %q line to uncomment", commented)
		}
		conf = strings.Replace(conf, commented, "drain maintenance", 1)
	}
	return conf
}

// process is a running `meridian serve`.
type process struct {
	cmd      *exec.Cmd
	conf     string // the config file, which tests may rewrite and reload
	dnsPort  string
	xdsAddr  string              // set when the config serves xDS
	httpAddr string              // the first HTTP address
	logs     chan map[string]any // every JSON log line after start-up
	startup  []map[string]any    // the log lines of start-up
	exited   chan error
	// races holds what the race detector of a -race binary reported;
	// written by the goroutine reading stderr, read once it has ended.
	races strings.Builder
}

// startMeridian runs `meridian serve` on conf and waits until DNS listens
// and the first plan is published.
func startMeridian(t testing.TB, conf string) *process {
	t.Helper()
	return startMeridianArgs(t, conf)
}

// startMeridianArgs is startMeridian with more arguments for serve.
func startMeridianArgs(t testing.TB, conf string, args ...string) *process {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meridian.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(meridianBin, append([]string{"serve", "-config", path, "-log-format", "json"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, conf: path, logs: make(chan map[string]any, 10000), exited: make(chan error, 1)}
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		inRace := false
		for sc.Scan() {
			// A race report is plain text between these lines.
			if line := sc.Text(); inRace || strings.HasPrefix(line, "WARNING: DATA RACE") {
				inRace = line != "=================="
				p.races.WriteString(line + "\n")
				continue
			}
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				rec = map[string]any{"msg": "unparsed", "line": sc.Text()}
			}
			lines <- rec
		}
		close(lines)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if t.Failed() { // what the server said after start-up, for the diagnosis
			for len(p.logs) > 0 {
				t.Logf("meridian (after start-up): %v", <-p.logs)
			}
		}
		cmd.Process.Kill()
		<-p.exited
		// A race in the server fails the test that provoked it, even when
		// every answer the test checked was right.
		if p.races.Len() > 0 {
			t.Errorf("the server reported a data race:\n%s", p.races.String())
		}
	})
	published := false
	deadline := time.After(30 * time.Second)
	for p.dnsPort == "" || !published {
		select {
		case rec, ok := <-lines:
			if !ok {
				t.Fatal("meridian exited during start-up")
			}
			t.Logf("meridian: %v", rec)
			p.startup = append(p.startup, rec)
			switch rec["msg"] {
			case "dns listening":
				p.dnsPort = strings.TrimPrefix(rec["udp"].(string), "127.0.0.1:")
			case "plan published":
				published = true
			case "http listening":
				if p.httpAddr == "" {
					p.httpAddr = rec["addr"].(string)
				}
			case "serving xDS":
				p.xdsAddr = rec["addr"].(string)
			}
		case <-deadline:
			t.Fatal("meridian did not start within 30s")
		}
	}
	go func() {
		for rec := range lines {
			select {
			case p.logs <- rec:
			default: // nobody reads: drop rather than stall the server's logging
			}
		}
		close(p.logs)
	}()
	// "plan published" is the engine's; DNS compiles the Plan on a
	// goroutine of its own, and /readyz says when it answers from it.
	if p.httpAddr != "" {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			resp, err := http.Get("http://" + p.httpAddr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("not ready 30s after the first plan: %v %v", resp, err)
			}
		}
	}
	return p
}

// kdigResult is what kdig printed, section by section.
type kdigResult struct {
	status    string
	flags     []string
	answer    []string // "name ttl class type rdata" with single spaces
	authority []string
	subnet    string // CLIENT-SUBNET line: "addr/source/scope"
}

var (
	statusRe = regexp.MustCompile(`status: (\w+)`)
	flagsRe  = regexp.MustCompile(`;; [Ff]lags: ([a-z ]*);`)
	subnetRe = regexp.MustCompile(`;; CLIENT-SUBNET: (\S+)`)
)

// kdig runs the real kdig against the server and parses its output.
func kdig(t *testing.T, port string, args ...string) kdigResult {
	t.Helper()
	return lookup(t, "kdig", port, args...)
}

// run runs a DNS tool that the test setup installs, failing if it is missing.
func runTool(t *testing.T, tool string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s is not installed: run `make test` as root, or apt-get install bind9-dnsutils knot-dnsutils", tool)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return string(out)
}

// lookup runs kdig or dig against the server and parses the output.
func lookup(t *testing.T, tool, port string, args ...string) kdigResult {
	t.Helper()
	common := []string{"@127.0.0.1", "-p", port, "+time=5", "+retry=1"}
	text := runTool(t, tool, append(common, args...)...)
	var r kdigResult
	if m := statusRe.FindStringSubmatch(text); m != nil {
		r.status = m[1]
	}
	if m := flagsRe.FindStringSubmatch(text); m != nil {
		r.flags = strings.Fields(m[1])
	}
	if m := subnetRe.FindStringSubmatch(text); m != nil {
		r.subnet = m[1]
	}
	var section *[]string
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, ";; ANSWER SECTION:"):
			section = &r.answer
		case strings.HasPrefix(line, ";; AUTHORITY SECTION:"):
			section = &r.authority
		case strings.HasPrefix(line, ";;"), strings.TrimSpace(line) == "":
			section = nil
		case section != nil:
			*section = append(*section, strings.Join(strings.Fields(line), " "))
		}
	}
	slices.Sort(r.answer)
	if r.status == "" {
		t.Fatalf("%s %v: no status in output:\n%s", tool, args, text)
	}
	return r
}

func TestServeAnswersByLocation(t *testing.T) {
	p := startMeridian(t, demoConf(t, false))
	eu := []string{"app.gslb.example.com. 30 IN A 192.0.2.10", "app.gslb.example.com. 30 IN A 192.0.2.11"}
	us := []string{"app.gslb.example.com. 30 IN A 198.51.100.10", "app.gslb.example.com. 30 IN A 198.51.100.11",
		"app.gslb.example.com. 30 IN A 198.51.100.12"}
	ap := []string{"app.gslb.example.com. 30 IN A 203.0.113.10", "app.gslb.example.com. 30 IN A 203.0.113.11"}
	for _, tc := range []struct {
		name   string
		args   []string
		oneOf  []string // the one answer is one of these
		subnet string
	}{
		{"a UK network gets eu-west", []string{"app.gslb.example.com", "+subnet=81.2.69.0/24"}, eu, "81.2.69.0/24/18"},
		{"a US network gets us-east", []string{"app.gslb.example.com", "+subnet=8.8.8.0/24"}, us, "8.8.8.0/24/15"},
		{"a Singapore network gets ap-southeast", []string{"app.gslb.example.com", "+subnet=13.250.0.0/24"}, ap, "13.250.0.0/24/15"},
		{"over TCP too", []string{"+tcp", "app.gslb.example.com", "+subnet=81.2.69.0/24"}, eu, "81.2.69.0/24/18"},
		{"a UK IPv6 network", []string{"app.gslb.example.com", "+subnet=2a02:c7f::/48"}, eu, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kdig(t, p.dnsPort, tc.args...)
			if r.status != "NOERROR" || !slices.Contains(r.flags, "aa") {
				t.Errorf("status %s flags %v, want NOERROR with aa", r.status, r.flags)
			}
			if len(r.answer) != 1 || !slices.Contains(tc.oneOf, r.answer[0]) {
				t.Errorf("answer:\n%s\nwant one of:\n%s", strings.Join(r.answer, "\n"), strings.Join(tc.oneOf, "\n"))
			}
			if tc.subnet != "" && r.subnet != tc.subnet {
				t.Errorf("client subnet %q, want %q", r.subnet, tc.subnet)
			}
		})
	}
	// Over many queries both eu-west addresses come up: answers are drawn.
	seen := map[string]bool{}
	for range 40 {
		seen[kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24").answer[0]] = true
	}
	if len(seen) != 2 {
		t.Errorf("40 UK queries gave %v, want both eu-west addresses", seen)
	}

	t.Run("a name that does not exist is NXDOMAIN with the SOA", func(t *testing.T) {
		r := kdig(t, p.dnsPort, "nope.gslb.example.com")
		if r.status != "NXDOMAIN" || !slices.Contains(r.flags, "aa") {
			t.Errorf("status %s flags %v, want NXDOMAIN with aa", r.status, r.flags)
		}
		if len(r.authority) != 1 || !regexp.MustCompile(
			`^gslb\.example\.com\. 60 IN SOA ns1\.gslb\.example\.com\. hostmaster\.example\.com\. \d+ 3600 600 1209600 60$`).
			MatchString(r.authority[0]) {
			t.Errorf("authority = %q, want the zone's SOA with the negative TTL", r.authority)
		}
	})
	t.Run("a name outside every zone is REFUSED", func(t *testing.T) {
		r := kdig(t, p.dnsPort, "www.example.org")
		if r.status != "REFUSED" || slices.Contains(r.flags, "aa") || len(r.answer) != 0 {
			t.Errorf("status %s flags %v answer %v, want REFUSED without aa", r.status, r.flags, r.answer)
		}
	})
}

func TestServeProtocol(t *testing.T) {
	p := startMeridian(t, demoConf(t, false))
	for _, tc := range []struct {
		name      string
		tool      string
		args      []string
		status    string
		answer    []string
		authority int // number of authority records
	}{
		{"static A over UDP", "kdig", []string{"www.gslb.example.com"}, "NOERROR",
			[]string{"www.gslb.example.com. 3600 IN A 192.0.2.80"}, 0},
		{"static AAAA over TCP", "kdig", []string{"+tcp", "www.gslb.example.com", "AAAA"}, "NOERROR",
			[]string{"www.gslb.example.com. 3600 IN AAAA 2001:db8::80"}, 0},
		{"MX with dig", "dig", []string{"gslb.example.com", "MX"}, "NOERROR",
			[]string{"gslb.example.com. 3600 IN MX 10 mail.gslb.example.com."}, 0},
		{"NODATA: a type the name lacks, with the SOA", "kdig", []string{"www.gslb.example.com", "MX"}, "NOERROR", nil, 1},
		{"NODATA over TCP", "kdig", []string{"+tcp", "app.gslb.example.com", "AAAA", "+subnet=81.2.69.0/24"}, "NOERROR", nil, 1},
		{"NXDOMAIN over TCP", "kdig", []string{"+tcp", "nope.gslb.example.com"}, "NXDOMAIN", nil, 1},
		{"REFUSED over TCP", "kdig", []string{"+tcp", "www.example.org"}, "REFUSED", nil, 0},
		{"NOTIMP for the STATUS opcode", "dig", []string{"+opcode=status", "app.gslb.example.com"}, "NOTIMP", nil, 0},
		{"FORMERR for a client subnet with a scope", "dig", []string{"+ednsopt=8:00011818510245", "+noednsnegotiation", "app.gslb.example.com"}, "FORMERR", nil, 0},
		{"BADVERS for EDNS version 1", "dig", []string{"+edns=1", "+noednsnegotiation", "app.gslb.example.com"}, "BADVERS", nil, 0},
		{"CNAME to the global service", "kdig", []string{"api.gslb.example.com", "+subnet=8.8.8.0/24"}, "NOERROR", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := lookup(t, tc.tool, p.dnsPort, tc.args...)
			if r.status != tc.status {
				t.Errorf("status %s, want %s", r.status, tc.status)
			}
			if tc.answer != nil && !slices.Equal(r.answer, tc.answer) {
				t.Errorf("answer %v, want %v", r.answer, tc.answer)
			}
			if len(r.authority) != tc.authority {
				t.Errorf("authority %v, want %d records", r.authority, tc.authority)
			}
		})
	}
	t.Run("AXFR from an allowed address", func(t *testing.T) {
		out := runTool(t, "kdig", "@127.0.0.1", "-p", p.dnsPort, "gslb.example.com", "AXFR")
		if n := strings.Count(out, "IN\tSOA"); n != 2 || !strings.Contains(out, "www.gslb.example.com.") || strings.Contains(out, "app.gslb.example.com.\t30") {
			t.Errorf("AXFR: %d SOAs, want the static zone between two SOAs:\n%s", n, out)
		}
	})
	t.Run("AXFR from a denied address is REFUSED", func(t *testing.T) {
		out, _ := exec.Command("kdig", "@127.0.0.1", "-p", p.dnsPort, "-b", "127.0.0.2", "gslb.example.com", "AXFR").CombinedOutput()
		if !strings.Contains(string(out), "REFUSED") {
			t.Errorf("AXFR from 127.0.0.2:\n%s", out)
		}
	})
}

func TestServeReload(t *testing.T) {
	p := startMeridian(t, demoConf(t, false))
	if r := kdig(t, p.dnsPort, "new.gslb.example.com"); r.status != "NXDOMAIN" {
		t.Fatalf("new.gslb.example.com before reload: %s", r.status)
	}
	raw, _ := os.ReadFile(p.conf)
	good := strings.Replace(string(raw), "    record mail A", "    record new A 192.0.2.99\n    record mail A", 1)
	os.WriteFile(p.conf, []byte(good), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p, "configuration reloaded")
	if r := kdig(t, p.dnsPort, "new.gslb.example.com"); r.status != "NOERROR" || len(r.answer) != 1 {
		t.Errorf("new.gslb.example.com after reload: %s %v", r.status, r.answer)
	}
	// A broken config is logged with file and line; the running one stays.
	os.WriteFile(p.conf, []byte(good+"\nzone broken.example {\n    ns\n}\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	rec := waitLog(t, p, "reload failed; the running configuration stays")
	if e, _ := rec["err"].(string); !strings.Contains(e, p.conf+":") || !strings.Contains(e, "ns: expected ns NAME") {
		t.Errorf("reload error %q does not name the file and line", e)
	}
	if r := kdig(t, p.dnsPort, "new.gslb.example.com"); r.status != "NOERROR" {
		t.Errorf("after a failed reload: %s", r.status)
	}
}

// waitLog waits for a log record with the given message.
func waitLog(t *testing.T, p *process, msg string) map[string]any {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case rec, ok := <-p.logs:
			if !ok {
				t.Fatalf("meridian exited waiting for %q", msg)
			}
			if rec["msg"] == msg {
				return rec
			}
		case <-deadline:
			t.Fatalf("no %q in the logs", msg)
		}
	}
}

func TestServeDemoDrainMovesUKClientsToUSEast(t *testing.T) {
	p := startMeridian(t, demoConf(t, true))
	r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24")
	if r.status != "NOERROR" || len(r.answer) != 1 || !strings.Contains(r.answer[0], " A 198.51.100.") {
		t.Errorf("UK client with eu-west drained: %s %v, want a us-east address", r.status, r.answer)
	}
	// Singapore is unaffected.
	if r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=13.250.0.0/24"); len(r.answer) != 1 || !strings.Contains(r.answer[0], "203.0.113.") {
		t.Errorf("Singapore client: %v, want ap-southeast", r.answer)
	}
}

func TestServeShutsDownOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startMeridian(t, demoConf(t, false))
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			var msgs []string
			for rec := range p.logs {
				msgs = append(msgs, fmt.Sprint(rec["msg"]))
			}
			select {
			case err := <-p.exited:
				if err != nil {
					t.Errorf("exit: %v, want status 0", err)
				}
				p.exited <- err // for the cleanup
			case <-time.After(20 * time.Second):
				t.Fatal("meridian did not exit within 20s")
			}
			if !slices.Contains(msgs, "shutting down") || !slices.Contains(msgs, "stopped") {
				t.Errorf("logs after %v: %v, want shutting down … stopped", sig, msgs)
			}
		})
	}
}

func TestServeRejectsBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(path, []byte("cluster a {\n    region\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(meridianBin, "serve", "-config", path)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2; output:\n%s", err, out)
	}
	// Every mistake at once, in file order.
	want := path + ":1: cluster a: no source; add a static block, kubeconfig PATH or incluster\n" +
		path + ":2: region: expected region REGION, got 0 arguments\n"
	if string(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(meridianBin, "version").Output()
	want := regexp.MustCompile(`^meridian \S+\ncommit \S+\ngo ` + regexp.QuoteMeta(runtime.Version()) + ` \S+/\S+\n$`)
	if err != nil || !want.Match(out) {
		t.Errorf("version: %q, %v; want version, commit and Go version", out, err)
	}
}

// TestMakeBuildStampsVersion: `make build` stamps the version and the
// commit as `make image` does, and `meridian version` prints them with the
// Go version.
func TestMakeBuildStampsVersion(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD (install git): %v", err)
	}
	bin := filepath.Join(t.TempDir(), "meridian")
	cmd := exec.Command("make", "-C", "../..", "build", "BIN="+bin, "VERSION=v9.8.7-test")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build (install make): %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	want := fmt.Sprintf("meridian v9.8.7-test\ncommit %s\ngo %s %s/%s\n", strings.TrimSpace(string(head)), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if err != nil || string(out) != want {
		t.Errorf("version of make build's binary: %q, %v; want %q", out, err, want)
	}
	// Without VERSION, make build takes it from git describe, as make image does.
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"VERSION ?= $(shell git describe", "-ldflags \"$(LDFLAGS)\" -o $(BIN)", "-ldflags \"-s -w $(LDFLAGS)\""} {
		if !strings.Contains(string(mk), line) {
			t.Errorf("the Makefile has no %q: build and image no longer stamp alike", line)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
