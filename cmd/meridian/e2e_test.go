package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	cmd     *exec.Cmd
	dnsPort string
	logs    chan map[string]any // every JSON log line after start-up
	exited  chan error
}

// startMeridian runs `meridian serve` on conf and waits until DNS listens
// and the first plan is published.
func startMeridian(t *testing.T, conf string) *process {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meridian.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(meridianBin, "serve", "-config", path, "-log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logs: make(chan map[string]any, 100), exited: make(chan error, 1)}
	lines := make(chan map[string]any, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
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
		cmd.Process.Kill()
		<-p.exited
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
			switch rec["msg"] {
			case "dns listening":
				p.dnsPort = strings.TrimPrefix(rec["udp"].(string), "127.0.0.1:")
			case "plan published":
				published = true
			}
		case <-deadline:
			t.Fatal("meridian did not start within 30s")
		}
	}
	go func() {
		for rec := range lines {
			p.logs <- rec
		}
		close(p.logs)
	}()
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
	flagsRe  = regexp.MustCompile(`;; Flags: ([a-z ]*);`)
	subnetRe = regexp.MustCompile(`;; CLIENT-SUBNET: (\S+)`)
)

// kdig runs the real kdig against the server and parses its output.
func kdig(t *testing.T, port string, args ...string) kdigResult {
	t.Helper()
	bin, err := exec.LookPath("kdig")
	if err != nil {
		t.Fatal("kdig is not installed: run `make test` as root, or apt-get install knot-dnsutils")
	}
	out, err := exec.Command(bin, append([]string{"@127.0.0.1", "-p", port, "+time=5", "+retry=1"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("kdig %v: %v\n%s", args, err, out)
	}
	var r kdigResult
	text := string(out)
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
		t.Fatalf("kdig %v: no status in output:\n%s", args, out)
	}
	return r
}

func TestServeAnswersByLocation(t *testing.T) {
	p := startMeridian(t, demoConf(t, false))
	for _, tc := range []struct {
		name   string
		args   []string
		answer []string
		subnet string
	}{
		{"a UK network gets eu-west", []string{"app.gslb.example.com", "+subnet=81.2.69.0/24"},
			[]string{"app.gslb.example.com. 30 IN A 192.0.2.10", "app.gslb.example.com. 30 IN A 192.0.2.11"},
			"81.2.69.0/24/18"},
		{"a US network gets us-east", []string{"app.gslb.example.com", "+subnet=8.8.8.0/24"},
			[]string{"app.gslb.example.com. 30 IN A 198.51.100.10", "app.gslb.example.com. 30 IN A 198.51.100.11",
				"app.gslb.example.com. 30 IN A 198.51.100.12"}, "8.8.8.0/24/15"},
		{"a Singapore network gets ap-southeast", []string{"app.gslb.example.com", "+subnet=13.250.0.0/24"},
			[]string{"app.gslb.example.com. 30 IN A 203.0.113.10", "app.gslb.example.com. 30 IN A 203.0.113.11"},
			"13.250.0.0/24/15"},
		{"over TCP too", []string{"+tcp", "app.gslb.example.com", "+subnet=81.2.69.0/24"},
			[]string{"app.gslb.example.com. 30 IN A 192.0.2.10", "app.gslb.example.com. 30 IN A 192.0.2.11"},
			"81.2.69.0/24/18"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kdig(t, p.dnsPort, tc.args...)
			if r.status != "NOERROR" || !slices.Contains(r.flags, "aa") {
				t.Errorf("status %s flags %v, want NOERROR with aa", r.status, r.flags)
			}
			if !slices.Equal(r.answer, tc.answer) {
				t.Errorf("answer:\n%s\nwant:\n%s", strings.Join(r.answer, "\n"), strings.Join(tc.answer, "\n"))
			}
			if r.subnet != tc.subnet {
				t.Errorf("client subnet %q, want %q", r.subnet, tc.subnet)
			}
		})
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

func TestServeDemoDrainMovesUKClientsToUSEast(t *testing.T) {
	p := startMeridian(t, demoConf(t, true))
	r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24")
	want := []string{"app.gslb.example.com. 30 IN A 198.51.100.10", "app.gslb.example.com. 30 IN A 198.51.100.11",
		"app.gslb.example.com. 30 IN A 198.51.100.12"}
	if r.status != "NOERROR" || !slices.Equal(r.answer, want) {
		t.Errorf("UK client with eu-west drained: %s %v, want us-east %v", r.status, r.answer, want)
	}
	// Singapore is unaffected.
	if r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=13.250.0.0/24"); len(r.answer) != 2 || !strings.Contains(r.answer[0], "203.0.113.") {
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
	want := path + ":1: cluster a: no source; add a static block\n" +
		path + ":2: region: expected region REGION, got 0 arguments\n"
	if string(out) != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(meridianBin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "meridian ") {
		t.Errorf("version: %q, %v", out, err)
	}
}
