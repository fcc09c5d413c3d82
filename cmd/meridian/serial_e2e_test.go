package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/internal/knottest"
	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// soaSerial asks the server at port for zone's SOA with kdig and returns
// its serial.
func soaSerial(t *testing.T, port, zone string) uint32 {
	t.Helper()
	r := kdig(t, port, zone, "SOA")
	if r.status != "NOERROR" || len(r.answer) != 1 {
		t.Fatalf("SOA of %s: %s %v", zone, r.status, r.answer)
	}
	f := strings.Fields(r.answer[0])
	if len(f) != 11 || f[3] != "SOA" {
		t.Fatalf("SOA of %s: %q", zone, r.answer[0])
	}
	n, err := strconv.ParseUint(f[6], 10, 32)
	if err != nil {
		t.Fatalf("SOA of %s: serial %q", zone, f[6])
	}
	return uint32(n)
}

// stopMeridian stops p with SIGTERM and waits for it to exit.
func stopMeridian(t *testing.T, p *process) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("meridian did not stop within 20s")
	}
}

// nextSecond waits for the clock's next second, so that a process started
// after it would get another serial if serials came from the clock.
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
}

// reloadWith rewrites p's config file with conf and sends SIGHUP,
// returning once the reload is logged.
func reloadWith(t *testing.T, p *process, conf string) {
	t.Helper()
	if err := os.WriteFile(p.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "configuration reloaded")
}

// serialGreater is RFC 1982's a > b.
func serialGreater(a, b uint32) bool { return int32(a-b) > 0 }

// TestReplicasShareSerial runs two replicas from one config whose
// overrides live in one ConfigMap of a real kube-apiserver: they serve
// the same SOA serial; a replica restarted later serves it still; a change
// reloaded into both makes it grow, to one new serial on both.
func TestReplicasShareSerial(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	var confs []string
	var replicas []*process
	for i := range 2 {
		dir := t.TempDir()
		conf := strings.Replace(ctlConf(t, dir), "overrides  file "+dir+"/overrides.json",
			fmt.Sprintf("overrides  kubernetes meridian/overrides %s\n    audit_log  %s/audit.log\n    replica    r%d", c.Kubeconfig, dir, i), 1)
		confs = append(confs, conf)
		if i > 0 {
			nextSecond()
		}
		replicas = append(replicas, startMeridian(t, conf))
	}
	const zone = "gslb.example.com"
	s0 := soaSerial(t, replicas[0].dnsPort, zone)
	if s1 := soaSerial(t, replicas[1].dnsPort, zone); s1 != s0 {
		t.Fatalf("replicas from one config serve serials %d and %d", s0, s1)
	}

	// A restart, a second or more later, keeps the serial.
	stopMeridian(t, replicas[1])
	nextSecond()
	replicas[1] = startMeridian(t, confs[1])
	if s := soaSerial(t, replicas[1].dnsPort, zone); s != s0 {
		t.Fatalf("after a restart the replica serves %d, before %d", s, s0)
	}
	cm, err := c.Client.CoreV1().ConfigMaps("meridian").Get(t.Context(), "overrides-serials", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the serials ConfigMap: %v", err)
	}
	var rec struct{ Serial uint32 }
	if err := json.Unmarshal([]byte(cm.Data[zone]), &rec); err != nil || rec.Serial != s0 {
		t.Errorf("the ConfigMap records %q for %s, want serial %d", cm.Data[zone], zone, s0)
	}

	// A change reloaded into both: one new, greater serial on both.
	nextSecond()
	for i, p := range replicas {
		reloadWith(t, p, strings.Replace(confs[i], "    service app {", "    record www A 192.0.2.80\n    service app {", 1))
	}
	n0 := soaSerial(t, replicas[0].dnsPort, zone)
	if n1 := soaSerial(t, replicas[1].dnsPort, zone); n1 != n0 || !serialGreater(n0, s0) {
		t.Errorf("after the change: serials %d and %d, want one serial greater than %d", n0, n1, s0)
	}
	if r := kdig(t, replicas[1].dnsPort, "www."+zone); r.status != "NOERROR" || len(r.answer) != 1 {
		t.Errorf("the new record after the reload: %s %v", r.status, r.answer)
	}
}

// TestServeSerialFileStore: a single replica keeps its serials in
// serials.json beside its overrides file: a restart serves the same
// serial, a reload that changes the zone a greater one, a corrupt file
// stops the start; without any store a warning names the zone.
func TestServeSerialFileStore(t *testing.T) {
	conf := demoConf(t, false)
	p := startMeridian(t, conf)
	const zone = "gslb.example.com"
	s0 := soaSerial(t, p.dnsPort, zone)
	stopMeridian(t, p)
	nextSecond()
	p = startMeridian(t, conf)
	if s := soaSerial(t, p.dnsPort, zone); s != s0 {
		t.Fatalf("after a restart: serial %d, before %d", s, s0)
	}
	changed := strings.Replace(conf, "    record mail A", "    record new A 192.0.2.99\n    record mail A", 1)
	reloadWith(t, p, changed)
	s1 := soaSerial(t, p.dnsPort, zone)
	if !serialGreater(s1, s0) {
		t.Errorf("after a change: serial %d, want more than %d", s1, s0)
	}
	stopMeridian(t, p)

	// The file, beside the overrides file, as an operator reads it.
	overrides := strings.Fields(conf[strings.Index(conf, "overrides  file "):])[2]
	path := filepath.Join(filepath.Dir(overrides), "serials.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Zones map[string]struct{ Serial uint32 }
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Zones[zone].Serial != s1 {
		t.Errorf("%s holds %s, want %s at %d", path, b, zone, s1)
	}

	// A corrupt file stops the start with status 2 and says what to do.
	if err := os.WriteFile(path, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(t.TempDir(), "meridian.conf")
	if err := os.WriteFile(confPath, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, meridianBin, "serve", "-config", confPath).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), path) || !strings.Contains(string(out), "remove it") {
		t.Errorf("start with a corrupt serials file: %v, output:\n%s", err, out)
	}

	// No store at all: a warning names the zone.
	noStore := conf
	for _, line := range []string{"    overrides  file " + overrides + "\n", "    api_tokens " + must(filepath.Abs("../../deploy/demo/tokens")) + "\n"} {
		if !strings.Contains(noStore, line) {
			t.Fatalf("the demo config has no %q", line)
		}
		noStore = strings.Replace(noStore, line, "", 1)
	}
	bare := startMeridian(t, noStore)
	found := false
	for _, rec := range bare.startup {
		if strings.Contains(fmt.Sprint(rec["msg"]), "SOA serial is the time it was loaded") && rec["zone"] == zone {
			found = true
		}
	}
	if !found {
		t.Error("no warning naming the zone whose serial no store keeps")
	}
}

// TestKnotSecondary: a real secondary, Knot, transfers a zone without
// global services from Meridian and serves it; after a change reloaded
// into Meridian, Meridian's NOTIFY makes Knot fetch the new version by
// IXFR, which Meridian answers with the differences; and an IXFR from the
// current serial gets the SOA alone.
func TestKnotSecondary(t *testing.T) {
	conf := `
meridian {
    dns ` + freePort(t) + `
    http 127.0.0.1:0
    overrides file ` + filepath.Join(t.TempDir(), "overrides.json") + `
}
zone static.example {
    ns ns1.static.example 127.0.0.1
    allow_transfer 127.0.0.1
    record www A 192.0.2.1
    record old TXT "going"
}
`
	p := startMeridian(t, conf)
	first := soaSerial(t, p.dnsPort, "static.example")
	knot := knottest.Start(t, fmt.Sprintf(`remote:
  - id: meridian
    address: 127.0.0.1@%s
acl:
  - id: notify_from_meridian
    address: 127.0.0.1
    action: notify
zone:
  - domain: static.example
    storage: "{dir}"
    master: meridian
    acl: notify_from_meridian
`, p.dnsPort), nil)
	waitAnswer(t, knot.Port, "192.0.2.1", 20*time.Second, "www.static.example")
	if s := soaSerial(t, knot.Port, "static.example"); s != first {
		t.Fatalf("Knot serves serial %d, Meridian %d", s, first)
	}

	// A change, and Knot told of it.
	nextSecond()
	before := len(knot.Log())
	reloadWith(t, p, strings.Replace(strings.Replace(conf, "    record old TXT \"going\"\n", "", 1),
		"    record www A 192.0.2.1\n", "    record www A 192.0.2.1\n    record new A 192.0.2.2\n    notify 127.0.0.1:"+knot.Port+"\n", 1))
	second := soaSerial(t, p.dnsPort, "static.example")
	if !serialGreater(second, first) {
		t.Fatalf("serial %d after the change, before %d", second, first)
	}
	waitAnswer(t, knot.Port, "192.0.2.2", 20*time.Second, "new.static.example")
	if r := kdig(t, knot.Port, "old.static.example", "TXT"); r.status != "NXDOMAIN" {
		t.Errorf("a record the change deleted is still at Knot: %s %v", r.status, r.answer)
	}
	if s := soaSerial(t, knot.Port, "static.example"); s != second {
		t.Errorf("Knot serves serial %d, Meridian %d", s, second)
	}
	// Knot's refresh timer is an hour: only the NOTIFY can have brought it.
	log := knot.Log()[before:]
	if !strings.Contains(log, "notify, incoming") {
		t.Errorf("Knot logged no NOTIFY:\n%s", log)
	}
	if !strings.Contains(log, "IXFR, incoming") || !strings.Contains(log, "finished") || strings.Contains(log, "AXFR") ||
		!strings.Contains(log, fmt.Sprintf("serial %d -> %d", first, second)) {
		t.Errorf("Knot did not take the change as an incremental transfer from %d to %d:\n%s", first, second, log)
	}

	// IXFR from the current serial: the SOA alone, over TCP and UDP.
	for _, proto := range []string{"+tcp", "+notcp"} {
		out := runTool(t, "kdig", "@127.0.0.1", "-p", p.dnsPort, proto, "static.example", fmt.Sprintf("IXFR=%d", second))
		if n := strings.Count(out, "\tSOA\t"); n != 1 || !strings.Contains(out, fmt.Sprint(second)) || strings.Contains(out, "\tA\t") {
			t.Errorf("kdig IXFR=%d %s: %d SOAs, want the current SOA alone:\n%s", second, proto, n, out)
		}
	}

	// A restart with a change: the NOTIFY sent at start must find
	// Meridian answering, or Knot, refused, would wait its retry interval
	// (10 minutes) before asking again.
	last, err := os.ReadFile(p.conf)
	if err != nil {
		t.Fatal(err)
	}
	stopMeridian(t, p)
	nextSecond()
	p = startMeridian(t, strings.Replace(string(last), "    record new A 192.0.2.2\n", "    record new A 192.0.2.3\n", 1))
	waitAnswer(t, knot.Port, "192.0.2.3", 20*time.Second, "new.static.example")
	if s, m := soaSerial(t, knot.Port, "static.example"), soaSerial(t, p.dnsPort, "static.example"); s != m || !serialGreater(m, second) {
		t.Errorf("after a restart with a change: Knot serves serial %d, Meridian %d, before %d", s, m, second)
	}
}
