package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// strictValidator is unbound's option that makes it demand, on every
// RRset, a valid signature of each algorithm its anchor (the DS) names,
// where by default any one valid signature does (RFC 6840 section 5.11).
// With it, a zone whose RRsets lack the new algorithm's signatures fails
// under the new anchor, so the validators below see what a key tag check
// alone would have to take on trust.
const strictValidator = "    harden-algo-downgrade: yes\n"

// rolloverNames are the names the validators ask for all along: a geo
// answer, a name that does not exist (compact denial) and a wildcard.
var rolloverNames = [][]string{
	{"app.gslb.example.com", "+subnet=81.2.69.0/24"},
	{"nope.gslb.example.com"},
	{"x.dev.gslb.example.com"},
}

// keygen runs `meridian ctl dnssec keygen` into dir and returns the new
// key's "algorithm/tag", as RRSIGs name their signer.
func keygen(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errOut, code := runCtl(t, "", "", append([]string{"dnssec", "keygen", "gslb.example.com", dir}, args...)...)
	m := regexp.MustCompile(`Kgslb\.example\.com\.\+(\d{3})\+(\d{5})$`).FindStringSubmatch(strings.TrimSpace(out))
	if code != 0 || m == nil {
		t.Fatalf("ctl dnssec keygen %v: exit %d %q %s", args, code, out, errOut)
	}
	alg, _ := strconv.Atoi(m[1])
	tag, _ := strconv.Atoi(m[2])
	return fmt.Sprintf("%d/%d", alg, tag)
}

// signers returns the "algorithm/tag" of the RRSIGs over typ in r, sorted.
func signers(r kdigResult, typ string) []string {
	var out []string
	for _, rr := range append(slices.Clone(r.answer), r.authority...) {
		if f := strings.Fields(rr); len(f) > 10 && f[3] == "RRSIG" && f[4] == typ {
			out = append(out, f[5]+"/"+f[10])
		}
	}
	slices.Sort(out)
	return out
}

// checkSigners asks Meridian itself: the DNSKEY RRset must be signed by
// exactly ksks, and a geo answer, a denial (its NSEC and SOA) and a
// wildcard answer by exactly zsks.
func checkSigners(t *testing.T, port, when string, ksks, zsks []string) {
	t.Helper()
	ksks, zsks = slices.Sorted(slices.Values(ksks)), slices.Sorted(slices.Values(zsks))
	for _, c := range []struct {
		args []string
		typ  string
		want []string
	}{
		{[]string{"gslb.example.com", "DNSKEY"}, "DNSKEY", ksks},
		{[]string{"app.gslb.example.com", "+subnet=81.2.69.0/24"}, "A", zsks},
		{[]string{"nope.gslb.example.com"}, "NSEC", zsks},
		{[]string{"nope.gslb.example.com"}, "SOA", zsks},
		{[]string{"x.dev.gslb.example.com"}, "A", zsks},
	} {
		if got := signers(kdig(t, port, append([]string{"+dnssec"}, c.args...)...), c.typ); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v: %s signed by %v, want %v", when, c.args, c.typ, got, c.want)
		}
	}
}

// validating asks resolver for rolloverNames every 250 ms until the
// function it returns is called, which returns how many rounds were asked
// and the answers that were not NOERROR with AD. It runs kdig itself, as
// t.Fatal may not be called outside the test's goroutine.
func validating(t *testing.T, resolver string) func() (int, []string) {
	done := make(chan struct{})
	type result struct {
		rounds   int
		failures []string
	}
	results := make(chan result, 1)
	go func() {
		var r result
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, q := range rolloverNames {
				out, err := exec.Command("kdig", append([]string{"@127.0.0.1", "-p", resolver, "+time=2", "+retry=1", "+dnssec"}, q...)...).CombinedOutput()
				status, flags := statusRe.FindStringSubmatch(string(out)), flagsRe.FindStringSubmatch(string(out))
				if err != nil || status == nil || status[1] != "NOERROR" || flags == nil || !slices.Contains(strings.Fields(flags[1]), "ad") {
					r.failures = append(r.failures, fmt.Sprintf("%s %v: %v %v %v", time.Now().Format("15:04:05.000"), q, err, status, flags))
				}
			}
			r.rounds++
			select {
			case <-done:
				results <- r
				return
			case <-tick.C:
			}
		}
	}()
	stop := sync.OnceValues(func() (int, []string) {
		close(done)
		r := <-results
		return r.rounds, r.failures
	})
	t.Cleanup(func() { stop() })
	return stop
}

// checkValidated stops a validating loop: it must have asked at least
// rounds rounds, and every answer must have validated.
func checkValidated(t *testing.T, what string, stop func() (int, []string), rounds int) {
	t.Helper()
	n, failures := stop()
	t.Logf("%s: %d rounds of %d names, %d failures", what, n, len(rolloverNames), len(failures))
	if n < rounds || len(failures) > 0 {
		t.Errorf("%s: %d rounds (want at least %d), failures:\n%s", what, n, rounds, strings.Join(failures, "\n"))
	}
}

// resolverHolds asks resolver for the zone's DNSKEY RRset until it holds
// n keys, validated: the resolver's cache has turned over to the zone's
// current keys.
func resolverHolds(t *testing.T, resolver string, n int, within time.Duration) {
	t.Helper()
	var r kdigResult
	for deadline := time.Now().Add(within); ; time.Sleep(250 * time.Millisecond) {
		r = kdig(t, resolver, "+dnssec", "gslb.example.com", "DNSKEY")
		if keys := slices.DeleteFunc(slices.Clone(r.answer), func(rr string) bool { return strings.Fields(rr)[3] != "DNSKEY" }); len(keys) == n && slices.Contains(r.flags, "ad") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the validating resolver does not hold %d keys, validated, %v on: %s %v %v", n, within, r.status, r.flags, r.answer)
		}
	}
}

// dsOf returns the DS line that ctl dnssec ds prints for the key alg/tag.
func dsOf(t *testing.T, p *process, key string) string {
	t.Helper()
	out, errOut, code := runCtl(t, "http://"+p.httpAddr, "demo-read-token", "dnssec", "ds", "gslb.example.com")
	if code != 0 {
		t.Fatalf("ctl dnssec ds: exit %d %s", code, errOut)
	}
	alg, tag, _ := strings.Cut(key, "/")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(line); len(f) == 8 && f[3] == "DS" && f[4] == tag && f[5] == alg {
			return line
		}
	}
	t.Fatalf("ctl dnssec ds prints no DS of key %s:\n%s", key, out)
	return ""
}

// waitDNSKEYs waits until Meridian's DNSKEY RRset holds n keys: the key
// files were read again.
func waitDNSKEYs(t *testing.T, port string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); len(kdig(t, port, "gslb.example.com", "DNSKEY").answer) != n; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the DNSKEY RRset does not hold %d keys 10 s on", n)
		}
	}
}

// startSplitKeys makes an ECDSA KSK and ZSK with ctl dnssec keygen, as an
// operator would before the first start, and serves the demo zone signed
// with them, TTLs of 2 s and the keys read again every second.
func startSplitKeys(t *testing.T) (p *process, keys, ksk, zsk string) {
	t.Helper()
	keys = t.TempDir()
	ksk, zsk = keygen(t, keys), keygen(t, keys, "-zsk")
	p = startMeridian(t, fastSignedConf(t, keys, "        zsk_lifetime 1h\n"))
	t.Cleanup(func() { checkServerLog(t, p) })
	checkSigners(t, p.dnsPort, "at start", []string{ksk}, []string{zsk})
	return p, keys, ksk, zsk
}

// checkServerLog fails the test if the server refused the key files at
// any step (the procedure's order keeps them valid throughout), or if,
// built with -race, it reported a data race, which startMeridian shows
// only for a test that failed: a key change builds a zone version while
// queries read the one it replaces. It reads the log, so it prints it
// when the test failed, as startMeridian would have.
func checkServerLog(t *testing.T, p *process) {
	var race []string
	var all []map[string]any
	for len(p.logs) > 0 {
		rec := <-p.logs
		all = append(all, rec)
		if line, ok := rec["line"].(string); ok {
			race = append(race, line)
		}
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "DNSSEC keys failed") {
			t.Errorf("the server refused the keys: %v", rec)
		}
	}
	if slices.ContainsFunc(race, func(l string) bool { return strings.Contains(l, "DATA RACE") }) {
		t.Errorf("the server reported a data race")
	}
	if t.Failed() {
		for _, rec := range all {
			t.Logf("meridian (after start-up): %v", rec)
		}
	}
}

// TestAlgorithmRolloverSplitKeys follows the documented algorithm
// rollover, in accelerated time, for a zone of a KSK and a ZSK: ECDSA
// keys at start, under a validator whose anchor is the ECDSA KSK's DS; an
// Ed25519 KSK and ZSK are added, and the DNSKEY RRset gets signed by both
// KSKs and every other RRset by both ZSKs; after the TTL and propagation
// a validator with the Ed25519 KSK's DS (the parent's DS replaced)
// validates; the ECDSA files are removed, the ZSK's first and the KSK's
// at once after, and the zone is signed with Ed25519 alone. Both
// validators demand their anchor's algorithm on every RRset, and ask
// every 250 ms from their start to the step that retires their anchor
// (the old) or to the end (the new): none of their answers fails.
func TestAlgorithmRolloverSplitKeys(t *testing.T) {
	p, keys, oldKSK, oldZSK := startSplitKeys(t)
	withOld := startUnboundConf(t, p.dnsPort, dsOf(t, p, oldKSK), strictValidator)
	stopOld := validating(t, withOld)

	// Step 1: the new algorithm's KSK and ZSK.
	newKSK := keygen(t, keys, "-algorithm", "ed25519")
	newZSK := keygen(t, keys, "-algorithm", "ed25519", "-zsk")
	waitDNSKEYs(t, p.dnsPort, 4)
	checkSigners(t, p.dnsPort, "both algorithms", []string{oldKSK, newKSK}, []string{oldZSK, newZSK})

	// Step 2: the TTL and propagation, for caches to take the new keys.
	time.Sleep(3 * time.Second)
	resolverHolds(t, withOld, 4, 5*time.Second)

	// Step 3: the parent's DS replaced.
	withNew := startUnboundConf(t, p.dnsPort, dsOf(t, p, newKSK), strictValidator)
	stopNew := validating(t, withNew)
	time.Sleep(time.Second) // a few rounds of both validators while both algorithms sign
	checkValidated(t, "the old anchor, until the old keys leave", stopOld, 12)

	// Step 4: the old algorithm's files, the ZSK's then the KSK's.
	for _, key := range []string{oldZSK, oldKSK} {
		var alg, tag int
		fmt.Sscanf(key, "%d/%d", &alg, &tag)
		for _, ext := range []string{".key", ".private"} {
			if err := os.Remove(filepath.Join(keys, fmt.Sprintf("Kgslb.example.com.+%03d+%05d%s", alg, tag, ext))); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitDNSKEYs(t, p.dnsPort, 2)
	checkSigners(t, p.dnsPort, "after the old keys left", []string{newKSK}, []string{newZSK})
	// The new validator's cache turns over (TTL 2 s) to the two keys left.
	resolverHolds(t, withNew, 2, 8*time.Second)
	time.Sleep(time.Second)
	checkValidated(t, "the new anchor, to the end", stopNew, 8)
}

// TestAlgorithmRolloverNewKSKOnly is the slip an operator will make: of
// the new algorithm only the KSK is added, without a ZSK. The KSK then
// signs every RRset too, as a combined key of its algorithm, beside the
// old ZSK: every RRset carries both algorithms' signatures (RFC 4035
// section 2.2), so a validator that demands the new algorithm's (its DS)
// validates.
func TestAlgorithmRolloverNewKSKOnly(t *testing.T) {
	p, keys, oldKSK, oldZSK := startSplitKeys(t)
	newKSK := keygen(t, keys, "-algorithm", "ed25519")
	waitDNSKEYs(t, p.dnsPort, 3)
	checkSigners(t, p.dnsPort, "the new KSK alone", []string{oldKSK, newKSK}, []string{oldZSK, newKSK})
	withNew := startUnboundConf(t, p.dnsPort, dsOf(t, p, newKSK), strictValidator)
	for _, q := range rolloverNames {
		if r := kdig(t, withNew, append([]string{"+dnssec"}, q...)...); r.status != "NOERROR" || !slices.Contains(r.flags, "ad") {
			t.Errorf("%v under the new KSK's DS: %s %v", q, r.status, r.flags)
		}
	}
}
