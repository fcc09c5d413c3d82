package main

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// signedDemoConf is the demo with its zone signed (keys in dir, so no
// transfers), a wildcard and a delegation to an unsigned child.
func signedDemoConf(t *testing.T, keys string) string {
	t.Helper()
	return signZone(t, demoConf(t, false), keys,
		"    record *.dev A 192.0.2.99\n    record *.w CNAME app\n    record sub NS ns1.sub\n    record ns1.sub A 192.0.2.53\n")
}

// signZone signs the demo's zone in conf (a demoConf) with the keys in
// dir, and adds the records more.
func signZone(t *testing.T, conf, keys, more string) string {
	t.Helper()
	const transfers = "    allow_transfer 127.0.0.1\n    allow_transfer_without_services yes\n"
	if !strings.Contains(conf, transfers) {
		t.Fatal("the demo's zone changed: update signZone")
	}
	return strings.Replace(conf, transfers, "    dnssec {\n        keys "+keys+"\n    }\n"+more, 1)
}

// anchorOf returns the DNSKEY record of the key-signing key in dir, as
// dnssec-keygen's .key file holds it: the zone's trust anchor.
func anchorOf(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "K*.key"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && !strings.HasPrefix(line, ";") && slices.Contains(f, "DNSKEY") && slices.Contains(f, "257") {
				return strings.Join(f, " ")
			}
		}
	}
	t.Fatalf("no key-signing key in %s: %v", dir, files)
	return ""
}

// TestSignedZoneValidates runs the real binary with the demo zone signed
// (a key generated on first start) behind unbound as a validating
// resolver with the key as trust anchor: geo answers for UK, US and
// Singapore clients, a CNAME into the service, a name that does not
// exist, a type a name lacks, a wildcard (of A, and a CNAME into the
// service) and the DS of an unsigned child
// all come back with AD. delv validates Meridian's own answers with the
// same anchor. With the trust anchor of another key, unbound answers
// SERVFAIL: validation really happens.
func TestSignedZoneValidates(t *testing.T) {
	keys := t.TempDir()
	p := startMeridian(t, signedDemoConf(t, keys))
	anchor := anchorOf(t, keys)
	resolver := startUnboundWith(t, p.dnsPort, anchor)

	for _, c := range []struct {
		args    []string
		cluster string // the demo cluster of the first address, when set
	}{
		{[]string{"app.gslb.example.com", "+subnet=81.2.69.0/24"}, "eu-west"},
		{[]string{"app.gslb.example.com", "+subnet=8.8.8.0/24"}, "us-east"},
		{[]string{"app.gslb.example.com", "+subnet=13.250.0.0/24"}, "ap-southeast"},
		{[]string{"api.gslb.example.com", "+subnet=81.2.69.0/24"}, ""},
		{[]string{"nope.gslb.example.com"}, ""},
		{[]string{"www.gslb.example.com", "MX"}, ""},
		{[]string{"app.gslb.example.com", "AAAA", "+subnet=81.2.69.0/24"}, ""},
		{[]string{"x.dev.gslb.example.com"}, ""},
		{[]string{"x.w.gslb.example.com", "+subnet=13.250.0.0/24"}, "ap-southeast"}, // a wildcard CNAME into the service
		{[]string{"sub.gslb.example.com", "DS"}, ""},
		{[]string{"gslb.example.com", "DNSKEY"}, ""},
	} {
		r := kdig(t, resolver, append([]string{"+dnssec"}, c.args...)...)
		if r.status != "NOERROR" || !slices.Contains(r.flags, "ad") {
			t.Errorf("%v through the validating resolver: %s, flags %v, want NOERROR with ad", c.args, r.status, r.flags)
		}
		if c.cluster != "" {
			var addrs []string
			for _, a := range r.answer {
				if f := strings.Fields(a); f[3] == "A" {
					addrs = append(addrs, a)
				}
			}
			if len(addrs) == 0 || demoCluster(kdigResult{answer: addrs}) != c.cluster {
				t.Errorf("%v: answered %v, want %s", c.args, r.answer, c.cluster)
			}
		}
	}

	anchorFile := filepath.Join(t.TempDir(), "anchor.conf")
	f := strings.Fields(anchor)
	os.WriteFile(anchorFile, []byte("trust-anchors {\n  gslb.example.com. static-key "+f[4]+" "+f[5]+" "+f[6]+` "`+strings.Join(f[7:], "")+"\";\n};\n"), 0o644)
	for _, q := range [][]string{{"app.gslb.example.com", "A"}, {"nope.gslb.example.com", "A"}, {"x.dev.gslb.example.com", "A"}, {"api.gslb.example.com", "A"}} {
		out := runDelv(t, "@127.0.0.1", "-p", p.dnsPort, "-a", anchorFile, "+root=gslb.example.com", q[0], q[1])
		if !strings.Contains(out, "; fully validated") && !strings.Contains(out, "; negative response, fully validated") {
			t.Errorf("delv %v:\n%s", q, out)
		}
	}

	// The DS to give the parent, as ctl prints it, is the one the zone
	// publishes as CDS, which the parent may scan for.
	out, errOut, code := runCtl(t, "http://"+p.httpAddr, "demo-read-token", "dnssec", "ds", "gslb.example.com")
	ds := strings.Fields(out)
	cds := kdig(t, p.dnsPort, "gslb.example.com", "CDS")
	if code != 0 || len(ds) != 8 || ds[3] != "DS" || len(cds.answer) != 1 ||
		!strings.EqualFold(strings.Join(ds[4:], " "), strings.Join(strings.Fields(cds.answer[0])[4:], " ")) {
		t.Errorf("ctl dnssec ds: exit %d %q %s; CDS %v", code, out, errOut, cds.answer)
	}

	other := t.TempDir()
	startMeridian(t, signedDemoConf(t, other)) // generates another key
	wrong := startUnboundWith(t, p.dnsPort, anchorOf(t, other))
	if r := kdig(t, wrong, "+dnssec", "app.gslb.example.com", "+subnet=81.2.69.0/24"); r.status != "SERVFAIL" {
		t.Errorf("with the anchor of another key: %s, want SERVFAIL", r.status)
	}
}

// runDelv runs BIND's delv, whose exit status is not an error when the
// answer is negative.
func runDelv(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("delv")
	if err != nil {
		t.Fatal("delv is not installed: run `make test` as root, or apt-get install bind9-dnsutils")
	}
	out, _ := exec.Command(bin, args...).CombinedOutput()
	return string(out)
}

// TestReplicasShareKeys runs two replicas of a signed zone whose keys no
// directory holds, their overrides in one ConfigMap of a real
// kube-apiserver: the first generates the key into the Secret beside it,
// the second signs with the same key, and unbound validates the answers
// of each with the anchor read from the other.
func TestReplicasShareKeys(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	overrides := regexp.MustCompile(`(?m)^    overrides  file .*$`)
	var replicas []*process
	for i := range 2 {
		conf := signedDemoConf(t, "unused")
		conf = strings.Replace(conf, "        keys unused\n", "        algorithm ed25519\n", 1)
		conf = overrides.ReplaceAllString(conf, fmt.Sprintf("    overrides  kubernetes meridian/overrides %s\n    audit_log  %s/audit.log\n    replica    r%d",
			c.Kubeconfig, t.TempDir(), i))
		replicas = append(replicas, startMeridian(t, conf))
	}
	dnskey := func(p *process) string {
		r := kdig(t, p.dnsPort, "gslb.example.com", "DNSKEY")
		if len(r.answer) != 1 {
			t.Fatalf("DNSKEY: %v", r.answer)
		}
		return r.answer[0]
	}
	k0, k1 := dnskey(replicas[0]), dnskey(replicas[1])
	if k0 != k1 || !strings.Contains(k0, " 257 3 15 ") {
		t.Fatalf("the replicas publish %q and %q, want one Ed25519 key", k0, k1)
	}
	s, err := c.Client.CoreV1().Secrets("meridian").Get(t.Context(), "overrides-dnssec", metav1.GetOptions{})
	if err != nil || len(s.Data) != 2 {
		t.Fatalf("the keys Secret: %v, %d entries", err, len(s.Data))
	}
	for i, p := range replicas {
		anchor := dnskey(replicas[1-i])
		resolver := startUnboundWith(t, p.dnsPort, anchor)
		if r := kdig(t, resolver, "+dnssec", "app.gslb.example.com", "+subnet=81.2.69.0/24"); r.status != "NOERROR" || !slices.Contains(r.flags, "ad") {
			t.Errorf("replica %d validated with the key read from replica %d: %s %v", i, 1-i, r.status, r.flags)
		}
	}
}

// TestZSKRolloverUnderValidator rolls the zone-signing key every 6 s
// (zsk_lifetime 6s, TTLs of 2 s, propagation 1s) while unbound, whose
// trust anchor is the DS of the combined key generated at start (as the
// parent would hold it, printed by ctl dnssec ds), validates an answer
// every 200 ms: no answer fails validation at any point, and the answers
// are signed in turn by the first key and by at least two ZSKs.
func TestZSKRolloverUnderValidator(t *testing.T) {
	keys := t.TempDir()
	p := startMeridian(t, fastSignedConf(t, keys, "        zsk_lifetime 6s\n"))
	ds, errOut, code := runCtl(t, "http://"+p.httpAddr, "demo-read-token", "dnssec", "ds", "gslb.example.com")
	if code != 0 || !strings.Contains(ds, " DS ") {
		t.Fatalf("ctl dnssec ds: exit %d %q %s", code, ds, errOut)
	}
	resolver := startUnboundWith(t, p.dnsPort, strings.TrimSpace(ds))

	signers := map[string]bool{}
	deadline := time.Now().Add(20 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		name := []string{"app.gslb.example.com", "www.gslb.example.com", "nope.gslb.example.com"}[n%3]
		r := kdig(t, resolver, "+dnssec", name, "+subnet=81.2.69.0/24")
		if r.status != "NOERROR" || !slices.Contains(r.flags, "ad") {
			t.Fatalf("%s through the validator at %d: %s %v", name, n, r.status, r.flags)
		}
		for _, rr := range kdig(t, p.dnsPort, "+dnssec", "www.gslb.example.com").answer {
			if f := strings.Fields(rr); len(f) > 10 && f[3] == "RRSIG" {
				signers[f[10]] = true // the key tag
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("signed by keys %v", slices.Sorted(maps.Keys(signers)))
	if len(signers) < 3 {
		t.Errorf("signed by keys %v in 20 s, want the first and at least two ZSKs", signers)
	}
	files, _ := filepath.Glob(filepath.Join(keys, "*.private"))
	if len(files) < 3 {
		t.Errorf("%d keys written, want at least 3", len(files))
	}
}

// fastSignedConf is signedDemoConf with TTLs of 2 s and keys read again
// every second (a long ZSK lifetime, a propagation of 1 s), for rollovers
// in accelerated time.
func fastSignedConf(t *testing.T, keys string, more string) string {
	t.Helper()
	conf := signedDemoConf(t, keys)
	conf = strings.Replace(conf, "        keys "+keys+"\n", "        keys "+keys+"\n        propagation 1s\n"+more, 1)
	conf = strings.Replace(conf, "    soa ns1.gslb.example.com hostmaster@example.com\n",
		"    ttl 2\n    soa ns1.gslb.example.com hostmaster@example.com {\n        minimum 2\n    }\n", 1)
	conf = strings.Replace(conf, "        ttl    30\n", "        ttl    2\n", 1)
	if !strings.Contains(conf, "propagation 1s") || !strings.Contains(conf, "minimum 2") || !strings.Contains(conf, "ttl    2\n") {
		t.Fatal("the demo config changed: update fastSignedConf")
	}
	return conf
}

// TestAlgorithmRollover follows the documented algorithm rollover, in
// accelerated time: the zone starts with an ECDSA key; an Ed25519 key's
// files are added and every RRset gets signed by both; a validator whose
// anchor is the new key's DS validates from then on; the old key's files
// are removed and the zone is signed with Ed25519 alone, and that
// validator never fails.
func TestAlgorithmRollover(t *testing.T) {
	keys := t.TempDir()
	p := startMeridian(t, fastSignedConf(t, keys, "        zsk_lifetime 1h\n"))
	ds := func() []string {
		out, errOut, code := runCtl(t, "http://"+p.httpAddr, "demo-read-token", "dnssec", "ds", "gslb.example.com")
		if code != 0 {
			t.Fatalf("ctl dnssec ds: exit %d %s", code, errOut)
		}
		return strings.Split(strings.TrimSpace(out), "\n")
	}
	old := ds()
	if len(old) != 1 || !strings.Contains(old[0], " DS ") || strings.Fields(old[0])[5] != "13" {
		t.Fatalf("DS at start: %q", old)
	}
	validates := func(resolver, when string) {
		t.Helper()
		for _, name := range []string{"app.gslb.example.com", "nope.gslb.example.com", "x.dev.gslb.example.com"} {
			if r := kdig(t, resolver, "+dnssec", name, "+subnet=81.2.69.0/24"); r.status != "NOERROR" || !slices.Contains(r.flags, "ad") {
				t.Fatalf("%s: %s: %s %v", when, name, r.status, r.flags)
			}
		}
	}
	withOld := startUnboundWith(t, p.dnsPort, old[0])
	validates(withOld, "the old anchor before")

	// A key of the new algorithm, made by ctl dnssec keygen, its files added.
	other := t.TempDir()
	if out, errOut, code := runCtl(t, "http://"+p.httpAddr, "", "dnssec", "keygen", "gslb.example.com", other, "-algorithm", "ed25519"); code != 0 ||
		!strings.HasPrefix(out, filepath.Join(other, "Kgslb.example.com.+015+")) {
		t.Fatalf("ctl dnssec keygen: exit %d %q %s", code, out, errOut)
	}
	files, _ := filepath.Glob(filepath.Join(other, "K*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		os.WriteFile(filepath.Join(keys, filepath.Base(f)), data, 0o600)
	}
	waitKeys := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(kdig(t, p.dnsPort, "gslb.example.com", "DNSKEY").answer) != n {
			if time.Now().After(deadline) {
				t.Fatalf("the DNSKEY RRset does not hold %d keys 10 s on", n)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitKeys(2)
	if r := kdig(t, p.dnsPort, "+dnssec", "app.gslb.example.com", "+subnet=81.2.69.0/24"); strings.Count(strings.Join(r.answer, "\n"), " RRSIG ") != 2 {
		t.Errorf("double-signed: %v", r.answer)
	}
	time.Sleep(3 * time.Second) // TTL and propagation
	validates(withOld, "the old anchor while both sign")
	both := ds()
	var next string
	for _, d := range both {
		if strings.Fields(d)[5] == "15" {
			next = d
		}
	}
	if len(both) != 2 || next == "" {
		t.Fatalf("DS while both sign: %q", both)
	}
	withNew := startUnboundWith(t, p.dnsPort, next) // the parent's DS replaced
	validates(withNew, "the new anchor while both sign")

	// The old key leaves.
	olds, _ := filepath.Glob(filepath.Join(keys, "K*+013+*"))
	for _, f := range olds {
		os.Remove(f)
	}
	waitKeys(1)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		validates(withNew, "the new anchor after the old key left")
		time.Sleep(250 * time.Millisecond)
	}
	if r := kdig(t, p.dnsPort, "+dnssec", "app.gslb.example.com", "+subnet=81.2.69.0/24"); strings.Count(strings.Join(r.answer, "\n"), " RRSIG ") != 1 || !strings.Contains(strings.Join(r.answer, "\n"), " RRSIG A 15 ") {
		t.Errorf("after the rollover: %v", r.answer)
	}
}
