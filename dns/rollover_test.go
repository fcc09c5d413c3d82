package dns

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// TestZSKRolloverTimeline walks a zone's keys through two rollovers by
// pre-publication, as every replica computes them from the key files and
// the time: the first key (a CSK) signs until its lifetime ends, the next
// ZSK is published ipub before it signs, a retired ZSK stays published
// iret after, and nothing new is added while the next key is waiting.
func TestZSKRolloverTimeline(t *testing.T) {
	const origin = "gslb.example.com."
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	const L, ipub, iret = 10 * 24 * time.Hour, 2 * time.Hour, 3 * time.Hour
	tl := keyTimeline{lifetime: L, ipub: ipub, iret: iret}
	files := map[string][]byte{}
	step := func(at time.Time) zoneKeys {
		t.Helper()
		add, err := ensureKeys(origin, mdns.ECDSAP256SHA256, files, tl, at)
		if err != nil {
			t.Fatal(err)
		}
		applyKeyChange(files, add)
		all, err := parseKeys(origin, files)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := tl.at(origin, all, at)
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	tags := func(ks []zoneKey) []uint16 {
		var out []uint16
		for _, k := range ks {
			out = append(out, k.tag)
		}
		return out
	}
	first := step(t0)
	csk := first.ksks[0].tag
	if first.zsks[0].tag != csk || !slices.Equal(tags(first.published), []uint16{csk}) || len(files) != 2 {
		t.Fatalf("at start: %+v, %d files; want one CSK", first, len(files))
	}
	if k := step(t0.Add(L - ipub - time.Second)); len(files) != 2 || k.zsks[0].tag != csk {
		t.Fatalf("before the pre-publication: %d files", len(files))
	}
	k := step(t0.Add(L - ipub))
	if len(files) != 4 || len(k.published) != 2 || k.zsks[0].tag != csk {
		t.Fatalf("at pre-publication: %d files, published %v, signing %d; want the next ZSK published, the CSK signing", len(files), tags(k.published), k.zsks[0].tag)
	}
	zsk1 := k.published[1].tag
	if k.published[1].sep() || !k.published[1].activate.Equal(t0.Add(L)) {
		t.Errorf("the next key: flags %d, active from %v; want a ZSK from %v", k.published[1].dnskey.Flags, k.published[1].activate, t0.Add(L))
	}
	if k := step(t0.Add(L - time.Second)); k.zsks[0].tag != csk || len(files) != 4 {
		t.Errorf("a second before its turn: signing %d, %d files", k.zsks[0].tag, len(files))
	}
	k = step(t0.Add(L))
	if k.zsks[0].tag != zsk1 || k.ksks[0].tag != csk || !slices.Equal(tags(k.published), []uint16{csk, zsk1}) {
		t.Errorf("at its turn: KSK %d, ZSK %d, published %v", k.ksks[0].tag, k.zsks[0].tag, tags(k.published))
	}
	// The second rollover retires the first ZSK.
	k = step(t0.Add(2*L - ipub))
	if len(files) != 6 || len(k.published) != 3 || k.zsks[0].tag != zsk1 {
		t.Fatalf("second pre-publication: %d files, published %v", len(files), tags(k.published))
	}
	zsk2 := k.published[2].tag
	k = step(t0.Add(2 * L))
	if k.zsks[0].tag != zsk2 || !slices.Equal(tags(k.published), []uint16{csk, zsk1, zsk2}) {
		t.Errorf("second turn: ZSK %d, published %v; want the old ZSK still published", k.zsks[0].tag, tags(k.published))
	}
	k = step(t0.Add(2*L + iret))
	if k.zsks[0].tag != zsk2 || !slices.Equal(tags(k.published), []uint16{csk, zsk2}) {
		t.Errorf("iret after: published %v, want the retired ZSK gone", tags(k.published))
	}
	if len(files) != 4 {
		t.Errorf("iret after: %d files, want the retired ZSK's removed", len(files))
	}
	// A ZSK active but not yet published does not sign: resolvers would
	// not have it.
	early, err := newKeyFiles(origin, mdns.ECDSAP256SHA256, mdns.ZONE, t0.Add(3*L), t0.Add(2*L+iret))
	if err != nil {
		t.Fatal(err)
	}
	withEarly := maps.Clone(files)
	applyKeyChange(withEarly, early)
	allEarly, _ := parseKeys(origin, withEarly)
	if k, err := tl.at(origin, allEarly, t0.Add(2*L+iret)); err != nil || k.zsks[0].tag != zsk2 {
		t.Errorf("a ZSK active before it is published signs: %v %v", k.zsks, err)
	}
	// A replica that comes late (a day after the turn was due and no key
	// was made) publishes the next key now and uses it ipub later.
	late := map[string][]byte{}
	maps.Copy(late, files)
	lateAt := t0.Add(3*L + 24*time.Hour)
	add, err := ensureKeys(origin, mdns.ECDSAP256SHA256, late, tl, lateAt)
	if err != nil || len(add) != 2 {
		t.Fatalf("late: %v, %d files", err, len(add))
	}
	all, _ := parseKeys(origin, add)
	if !all[0].activate.Equal(lateAt.Add(ipub)) || !all[0].publish.Equal(lateAt) {
		t.Errorf("a late key: published %v, active %v; want now and ipub from now", all[0].publish, all[0].activate)
	}
	// Without a lifetime nothing is added.
	if add, err := ensureKeys(origin, mdns.ECDSAP256SHA256, files, keyTimeline{}, t0.Add(100*L)); err != nil || len(add) != 0 {
		t.Errorf("without a lifetime: %d files, %v", len(add), err)
	}
}

// TestRefreshKeysKeepsKeysThatVanish: when the key files disappear under
// a running zone, the refresh fails and no new key is made, which no
// resolver would trust.
func TestRefreshKeysKeepsKeysThatVanish(t *testing.T) {
	dir := t.TempDir()
	h := newTestHandler(t, signedConf(dir))
	zs := h.Zones()
	if _, changed, err := zs.RefreshKeys(time.Now(), nil); err != nil || changed {
		t.Fatalf("with the keys there: changed %v, %v", changed, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		os.Remove(f)
	}
	if _, _, err := zs.RefreshKeys(time.Now(), nil); err == nil || !strings.Contains(err.Error(), "the keys in use stay") {
		t.Errorf("with the keys gone: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("a new key was made: %v", files)
	}
}

// TestSplitKeyAlgorithmRollover: the states an algorithm rollover of a
// zone of a KSK and a ZSK passes through, as every replica computes them
// from the files. A new algorithm's KSK added alone signs every RRset of
// its algorithm too, as a combined key, so that each RRset carries a
// signature of each algorithm in the DNSKEY RRset (RFC 4035 section
// 2.2); with its ZSK, that ZSK signs; the old ZSK removed first, the old
// KSK signs for its algorithm until it goes; the old KSK removed while
// its ZSK stays is refused, saying what to do.
func TestSplitKeyAlgorithmRollover(t *testing.T) {
	const origin = "gslb.example.com."
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tl := keyTimeline{lifetime: time.Hour, ipub: time.Minute, iret: time.Minute}
	files := map[string][]byte{}
	add := func(alg uint8, flags uint16) string {
		t.Helper()
		f, err := newKeyFiles(origin, alg, flags, now, now)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(files, f)
		for name := range f {
			return strings.TrimSuffix(strings.TrimSuffix(name, ".key"), ".private")
		}
		return ""
	}
	remove := func(base string) { delete(files, base+".key"); delete(files, base+".private") }
	id := func(ks []zoneKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.file)
		}
		slices.Sort(out)
		return out
	}
	state := func(when string, ksks, zsks, published []string) {
		t.Helper()
		all, err := parseKeys(origin, files)
		if err != nil {
			t.Fatal(err)
		}
		k, err := tl.at(origin, all, now)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		for _, c := range []struct {
			what      string
			got, want []string
		}{{"signing DNSKEY", id(k.ksks), ksks}, {"signing the rest", id(k.zsks), zsks}, {"published", id(k.published), published}} {
			if want := slices.Sorted(slices.Values(c.want)); !slices.Equal(c.got, want) {
				t.Errorf("%s: %s %v, want %v", when, c.what, c.got, want)
			}
		}
	}
	oldKSK, oldZSK := add(mdns.ECDSAP256SHA256, 257), add(mdns.ECDSAP256SHA256, 256)
	state("at start", []string{oldKSK}, []string{oldZSK}, []string{oldKSK, oldZSK})
	newKSK := add(mdns.ED25519, 257)
	state("the new KSK alone", []string{oldKSK, newKSK}, []string{oldZSK, newKSK}, []string{oldKSK, oldZSK, newKSK})
	newZSK := add(mdns.ED25519, 256)
	state("both algorithms", []string{oldKSK, newKSK}, []string{oldZSK, newZSK}, []string{oldKSK, oldZSK, newKSK, newZSK})
	remove(oldZSK)
	state("the old ZSK gone", []string{oldKSK, newKSK}, []string{oldKSK, newZSK}, []string{oldKSK, newKSK, newZSK})
	remove(oldKSK)
	state("the old keys gone", []string{newKSK}, []string{newZSK}, []string{newKSK, newZSK})

	// The other order: the old KSK removed first.
	files = map[string][]byte{}
	oldKSK, oldZSK = add(mdns.ECDSAP256SHA256, 257), add(mdns.ECDSAP256SHA256, 256)
	newKSK, newZSK = add(mdns.ED25519, 257), add(mdns.ED25519, 256)
	remove(oldKSK)
	all, err := parseKeys(origin, files)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tl.at(origin, all, now); err == nil || !strings.Contains(err.Error(), "remove the ZSK with or before its KSK") {
		t.Errorf("the old KSK removed before its ZSK: %v, want an error saying to remove the ZSK", err)
	}
	remove(oldZSK)
	state("then the old ZSK", []string{newKSK}, []string{newZSK}, []string{newKSK, newZSK})
}
