package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
)

// childZone is a signed zone sub.gslb.example.com, keys in dir, as a
// zone block: the child of the demo zone's delegation `sub`.
func childZone(keys string) string {
	return `zone sub.gslb.example.com {
    soa ns1.sub.gslb.example.com hostmaster@example.com
    ns  ns1.sub.gslb.example.com 192.0.2.53
    dnssec {
        keys ` + keys + `
    }
    record www A 192.0.2.81
}
`
}

// childConf is the demo's config with its zone replaced by the child
// zone alone: a second server, for the child side of the delegation.
func childConf(t *testing.T, keys string) string {
	t.Helper()
	conf := demoConf(t, false)
	i := strings.Index(conf, "zone gslb.example.com {")
	if i < 0 {
		t.Fatal("the demo's zone changed: update childConf")
	}
	// The demo's pods stay, for a service of the child.
	return conf[:i] + strings.Replace(childZone(keys), "    record www", "    service app {\n        policy geo\n    }\n    record www", 1)
}

// parentConf is signedDemoConf with the DS records ds (zone-file lines
// of ctl dnssec ds) at the cut sub, and more appended to the config.
func parentConf(t *testing.T, keys string, ds []string, more string) string {
	t.Helper()
	conf := signedDemoConf(t, keys)
	const cut = "    record sub NS ns1.sub\n"
	var records strings.Builder
	for _, d := range ds {
		f := strings.Fields(d)
		if len(f) != 8 || f[3] != "DS" {
			t.Fatalf("not a DS record: %q", d)
		}
		records.WriteString("    record sub DS " + strings.Join(f[4:], " ") + "\n")
	}
	if !strings.Contains(conf, cut) {
		t.Fatal("the signed demo has no delegation: update parentConf")
	}
	return strings.Replace(conf, cut, cut+records.String(), 1) + more
}

// childDS is the child's DS as ctl dnssec ds prints it.
func childDS(t *testing.T, p *process) []string {
	t.Helper()
	out, errOut, code := runCtl(t, "http://"+p.httpAddr, "demo-read-token", "dnssec", "ds", "sub.gslb.example.com")
	ds := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(ds) != 1 || !strings.HasPrefix(ds[0], "sub.gslb.example.com. ") {
		t.Fatalf("ctl dnssec ds sub.gslb.example.com: exit %d %q %s", code, out, errOut)
	}
	return ds
}

// otherDS is the DS of a key of sub.gslb.example.com that no server
// uses, made by ctl dnssec keygen: what a parent holding a stale or
// mistyped DS would publish.
func otherDS(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, errOut, code := runCtl(t, "", "", "dnssec", "keygen", "sub.gslb.example.com", dir); code != 0 {
		t.Fatalf("ctl dnssec keygen: exit %d %q %s", code, out, errOut)
	}
	rr, err := mdns.NewRR(anchorOf(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	return rr.(*mdns.DNSKEY).ToDS(mdns.SHA256).String()
}

// validated fails unless name and type, asked through the validating
// resolver, come back NOERROR with AD and an answer.
func validated(t *testing.T, resolver string, args ...string) kdigResult {
	t.Helper()
	r := kdig(t, resolver, append([]string{"+dnssec"}, args...)...)
	if r.status != "NOERROR" || !slices.Contains(r.flags, "ad") || len(r.answer) == 0 {
		t.Errorf("%v through the validating resolver: %s, flags %v, answer %v, want NOERROR with ad", args, r.status, r.flags, r.answer)
	}
	return r
}

// TestSecureDelegationValidates runs a signed parent (the demo zone) and
// a signed child (sub.gslb.example.com) in two Meridian processes, the
// parent holding the child's DS as ctl dnssec ds prints it, behind
// unbound validating with the parent's key as its only trust anchor.
// Unbound has a stub zone for each (it cannot follow glue to a port other
// than 53), and still takes the DS from the parent. A name in the child
// and the parent's DS come back with AD; the parent's referral, asked
// directly, carries the DS and its RRSIG with DO and neither without. A
// parent holding the DS of another key makes the child's answers
// SERVFAIL: the chain is really followed.
func TestSecureDelegationValidates(t *testing.T) {
	child := startMeridian(t, childConf(t, t.TempDir()))
	ds := childDS(t, child)
	keys := t.TempDir()
	parent := startMeridian(t, parentConf(t, keys, ds, ""))
	resolver := startUnboundWith(t, parent.dnsPort, anchorOf(t, keys), stubZone{"sub.gslb.example.com", child.dnsPort})

	r := validated(t, resolver, "www.sub.gslb.example.com")
	if !slices.Contains(r.answer, "www.sub.gslb.example.com. 3600 IN A 192.0.2.81") {
		t.Errorf("www.sub through the validator: %v", r.answer)
	}
	validated(t, resolver, "app.sub.gslb.example.com", "+subnet=81.2.69.0/24")
	validated(t, resolver, "sub.gslb.example.com", "DNSKEY")
	r = validated(t, resolver, "sub.gslb.example.com", "DS")
	// The validator fetched the DS already, to validate www.sub: it
	// answers from its cache, the TTL counting down from the parent's
	// 3600 (3599 when a second boundary passed in between).
	if !slices.ContainsFunc(r.answer, func(a string) bool {
		f := strings.Fields(a)
		if len(f) < 5 {
			return false
		}
		ttl, err := strconv.Atoi(f[1])
		return err == nil && ttl > 0 && ttl <= 3600 &&
			strings.EqualFold(strings.Join(slices.Concat([]string{f[0]}, f[2:]), " "), "sub.gslb.example.com. IN DS "+strings.Join(strings.Fields(ds[0])[4:], " "))
	}) {
		t.Errorf("the DS through the validator: %v, want %s with a TTL of at most 3600", r.answer, ds[0])
	}
	checkReferral(t, parent.dnsPort, ds[0])

	// The same child under a parent that holds the DS of another key: the
	// child's key is not the one the parent vouches for.
	wrongKeys := t.TempDir()
	wrong := startMeridian(t, parentConf(t, wrongKeys, []string{otherDS(t)}, ""))
	bogus := startUnboundWith(t, wrong.dnsPort, anchorOf(t, wrongKeys), stubZone{"sub.gslb.example.com", child.dnsPort})
	validated(t, bogus, "www.gslb.example.com") // the parent itself still validates
	for _, name := range []string{"www.sub.gslb.example.com", "app.sub.gslb.example.com"} {
		if r := kdig(t, bogus, "+dnssec", name); r.status != "SERVFAIL" {
			t.Errorf("%s under a parent with a wrong DS: %s %v %v, want SERVFAIL", name, r.status, r.flags, r.answer)
		}
	}
}

// checkReferral asks the parent on port directly for a name below the
// cut sub, with and without DO: a referral, not authoritative, with the
// cut's NS in the authority section and its glue in the additional; with
// DO, the DS (ds, as ctl prints it) and its RRSIG beside the NS.
func checkReferral(t *testing.T, port, ds string) {
	t.Helper()
	for _, do := range []bool{true, false} {
		args := []string{"www.sub.gslb.example.com", "A"}
		if do {
			args = append(args, "+dnssec")
		}
		text := runTool(t, "kdig", append([]string{"@127.0.0.1", "-p", port, "+time=5", "+retry=1", "+norec"}, args...)...)
		r := kdig(t, port, append(args, "+norec")...)
		var types []string
		for _, rr := range r.authority {
			f := strings.Fields(rr)
			if f[0] != "sub.gslb.example.com." {
				t.Errorf("DO %v: authority record of another owner: %s", do, rr)
			}
			types = append(types, f[3])
			if f[3] == "RRSIG" && f[4] != "DS" {
				t.Errorf("DO %v: an RRSIG of %s in the referral: %s", do, f[4], rr)
			}
			if f[3] == "DS" && !strings.EqualFold(strings.Join(f[4:], " "), strings.Join(strings.Fields(ds)[4:], " ")) {
				t.Errorf("DO %v: DS %s, want %s", do, rr, ds)
			}
		}
		slices.Sort(types)
		want := []string{"NS"}
		if do {
			want = []string{"DS", "NS", "RRSIG"}
		}
		if r.status != "NOERROR" || slices.Contains(r.flags, "aa") || len(r.answer) != 0 || !slices.Equal(types, want) {
			t.Errorf("DO %v: %s flags %v answer %v authority %v, want a referral (no aa, no answer) with %v", do, r.status, r.flags, r.answer, r.authority, want)
		}
		if !strings.Contains(text, ";; ADDITIONAL SECTION:") || !strings.Contains(strings.Join(strings.Fields(text), " "), "ns1.sub.gslb.example.com. 3600 IN A 192.0.2.53") {
			t.Errorf("DO %v: no glue in the additional section:\n%s", do, text)
		}
	}
}

// TestSharedDelegationValidates serves the signed demo zone and its
// signed child sub.gslb.example.com, each with its own key, from one
// Meridian. The DS question at the cut is answered from the parent, as
// RFC 4035 section 3.1.4.1 requires of a server authoritative for both:
// authoritatively, signed by the parent's key. Unbound, with one stub
// zone for the parent and the parent's key as trust anchor, validates
// both the DS and names in the child.
func TestSharedDelegationValidates(t *testing.T) {
	childKeys := t.TempDir()
	first := startMeridian(t, childConf(t, childKeys)) // generates the child's key
	ds := childDS(t, first)
	keys := t.TempDir()
	p := startMeridian(t, parentConf(t, keys, ds, "\n"+childZone(childKeys)))

	parentKey, err := mdns.NewRR(anchorOf(t, keys))
	if err != nil {
		t.Fatal(err)
	}
	// The parent's key tag and name, as an RRSIG's fields 10 and 11 say.
	parentSigner := fmt.Sprint(parentKey.(*mdns.DNSKEY).KeyTag(), " gslb.example.com.")
	r := kdig(t, p.dnsPort, "+dnssec", "+norec", "sub.gslb.example.com", "DS")
	var signer string
	for _, rr := range r.answer {
		if f := strings.Fields(rr); f[3] == "RRSIG" && len(f) > 11 {
			signer = f[10] + " " + f[11]
		}
	}
	if r.status != "NOERROR" || !slices.Contains(r.flags, "aa") || len(r.answer) != 2 || signer != parentSigner {
		t.Errorf("sub DS from the server of both zones: %s flags %v answer %v, want the parent's DS and its RRSIG by %s, aa", r.status, r.flags, r.answer, parentSigner)
	}
	if len(r.answer) > 0 && !strings.EqualFold(strings.Join(strings.Fields(r.answer[0])[4:], " "), strings.Join(strings.Fields(ds[0])[4:], " ")) {
		t.Errorf("sub DS: %v, want %s", r.answer, ds[0])
	}

	resolver := startUnboundWith(t, p.dnsPort, anchorOf(t, keys))
	validated(t, resolver, "sub.gslb.example.com", "DS")
	if r := validated(t, resolver, "www.sub.gslb.example.com"); !slices.Contains(r.answer, "www.sub.gslb.example.com. 3600 IN A 192.0.2.81") {
		t.Errorf("www.sub through the validator: %v", r.answer)
	}
	validated(t, resolver, "sub.gslb.example.com", "DNSKEY")
	validated(t, resolver, "app.gslb.example.com", "+subnet=81.2.69.0/24")
}
