package dns

import (
	"fmt"
	"slices"
	"time"

	mdns "github.com/miekg/dns"
)

// Key rollover by pre-publication (RFC 7583 section 3.2), for zone-signing
// keys. Every replica computes, from the key files they share and the
// time, which keys are published and which one signs: a new ZSK is
// published ipub before it starts signing, so that resolvers have it
// before they meet its signatures; the ZSK it replaces stays published
// iret after it stops signing, so that signatures it made, cached up to
// their TTL, still validate. Nothing is written but the new key's files,
// whose Publish and Activate times (BIND's timing metadata) drive it all,
// so that replicas roll together and a key can come from BIND or Knot with
// its own times. A combined signing key stays the key-signing key: its
// first rollover makes the zone one of a KSK and a ZSK. KSK and CSK
// rollovers involve the parent's DS, and are done by hand (docs).

// keyTimeline is a zone's rollover schedule.
type keyTimeline struct {
	lifetime time.Duration // of a ZSK; 0: no automatic rollover
	ipub     time.Duration // publication before use: propagation and the DNSKEY TTL
	iret     time.Duration // publication after use: propagation and the longest TTL of a signed RRset
}

// at returns the keys in use and published at now: the one key-signing
// key; as zone-signing key the ZSK activated last before now, else the
// key-signing key; published, the key-signing key and every ZSK whose
// publication has begun, but those a later active ZSK retired more than
// iret ago.
func (tl keyTimeline) at(origin string, all []zoneKey, now time.Time) (zoneKeys, error) {
	var ksks, zsks []zoneKey
	for _, k := range all {
		if k.sep() {
			ksks = append(ksks, k)
		} else {
			zsks = append(zsks, k)
		}
	}
	switch {
	case len(ksks) == 0:
		return zoneKeys{}, fmt.Errorf("no key-signing key (flags 257) for %s, only zone-signing keys", origin)
	case len(ksks) > 1:
		return zoneKeys{}, fmt.Errorf("%d key-signing keys for %s; give one (a KSK rollover is done by hand, see the docs)", len(ksks), origin)
	}
	// ZSKs in the order they take turns.
	slices.SortStableFunc(zsks, func(a, b zoneKey) int { return a.activate.Compare(b.activate) })
	keys := zoneKeys{ksk: ksks[0], zsk: ksks[0], published: []zoneKey{ksks[0]}}
	active := -1
	for i, k := range zsks {
		if k.dnskey.Algorithm != keys.ksk.dnskey.Algorithm {
			return zoneKeys{}, fmt.Errorf("the ZSK %d is of algorithm %d and the KSK of %d; an algorithm rollover is done by hand, see the docs",
				k.tag, k.dnskey.Algorithm, keys.ksk.dnskey.Algorithm)
		}
		if !k.activate.After(now) {
			active = i
		}
	}
	if active >= 0 {
		keys.zsk = zsks[active]
	}
	for i, k := range zsks {
		if k.publish.After(now) {
			continue
		}
		// Retired by the next active key more than iret ago: gone.
		if i < active && !zsks[i+1].activate.Add(tl.iret).After(now) {
			continue
		}
		keys.published = append(keys.published, k)
	}
	return keys, nil
}

// ensureKeys returns the key files the zone lacks at now, given those it
// has: a combined signing key when it has none; with a ZSK lifetime, the
// next ZSK once the one signing is within ipub of its end, published now
// and active when that one ends (or ipub from now, if later).
func ensureKeys(origin string, alg uint8, files map[string][]byte, tl keyTimeline, now time.Time) (map[string][]byte, error) {
	if len(files) == 0 {
		return newKeyFiles(origin, alg, mdns.ZONE|mdns.SEP, now, now)
	}
	if tl.lifetime == 0 {
		return nil, nil
	}
	all, err := parseKeys(origin, files)
	if err != nil {
		return nil, err
	}
	keys, err := tl.at(origin, all, now)
	if err != nil {
		return nil, err
	}
	for _, k := range all {
		if !k.sep() && k.activate.After(keys.zsk.activate) {
			return nil, nil // the next one is there already
		}
	}
	end := keys.zsk.activate.Add(tl.lifetime)
	if now.Before(end.Add(-tl.ipub)) {
		return nil, nil
	}
	activate := end
	if earliest := now.Add(tl.ipub); activate.Before(earliest) {
		activate = earliest
	}
	return newKeyFiles(origin, keys.ksk.dnskey.Algorithm, mdns.ZONE, now, activate)
}
