package dns

import (
	"fmt"
	"slices"
	"time"

	mdns "github.com/miekg/dns"
)

// Key rollover by pre-publication (RFC 7583 section 3.2), for zone-signing
// keys. Every replica computes, from the key files they share and the
// time, which keys are published and which ones sign: a new ZSK is
// published ipub before it starts signing, so that resolvers have it
// before they meet its signatures; the ZSK it replaces stays published
// iret after it stops signing, so that signatures it made, cached up to
// their TTL, still validate. Nothing is written but the new key's files,
// whose Publish and Activate times (BIND's timing metadata) drive it all,
// so that replicas roll together and a key can come from BIND or Knot with
// its own times. A combined signing key stays a key-signing key: its
// first rollover makes the zone one of a KSK and a ZSK.
//
// Key-signing keys and algorithms roll by hand, as they change the DS at
// the parent (docs/configuration.md, DNSSEC): every active key-signing
// key signs the DNSKEY RRset (double signature, RFC 7583 section 3.3.2),
// and every algorithm that has one signs every RRset with its own
// zone-signing key (RFC 6781 section 4.1.4), so that keys of a second
// algorithm, or a second KSK, are simply added and later removed.

// keyTimeline is a zone's rollover schedule.
type keyTimeline struct {
	lifetime time.Duration // of a ZSK; 0: no automatic rollover
	ipub     time.Duration // publication before use: propagation and the DNSKEY TTL
	iret     time.Duration // publication after use: propagation and the longest TTL of a signed RRset
}

// at returns the keys in use and published at now. Every key-signing key
// whose Activate time has come signs the DNSKEY RRset. Per algorithm of
// those, the ZSK of that algorithm activated last signs the rest, or
// without one the algorithm's first key-signing key (a combined key).
// Published are the key-signing keys whose publication has begun and the
// ZSKs likewise, but those a later active ZSK of their algorithm retired
// more than iret ago.
func (tl keyTimeline) at(origin string, all []zoneKey, now time.Time) (zoneKeys, error) {
	var keys zoneKeys
	var zsks []zoneKey
	for _, k := range all {
		switch {
		case !k.sep():
			zsks = append(zsks, k)
		case k.publish.After(now):
		default:
			keys.published = append(keys.published, k)
			if signs(k, now) {
				keys.ksks = append(keys.ksks, k)
			}
		}
	}
	if len(keys.ksks) == 0 {
		return zoneKeys{}, fmt.Errorf("no active key-signing key (flags 257) for %s", origin)
	}
	// ZSKs in the order they take turns.
	slices.SortStableFunc(zsks, func(a, b zoneKey) int { return a.activate.Compare(b.activate) })
	for i, k := range zsks {
		if !tl.gone(zsks, i, now) && !slices.ContainsFunc(keys.ksks, func(s zoneKey) bool { return s.dnskey.Algorithm == k.dnskey.Algorithm }) {
			return zoneKeys{}, fmt.Errorf("the ZSK %d is of algorithm %d, of which no key-signing key is active; "+
				"add a key-signing key of that algorithm with or before the ZSK, or remove the ZSK with or before its KSK "+
				"(an algorithm rollover, see the docs)", k.tag, k.dnskey.Algorithm)
		}
	}
	for _, alg := range keys.algorithms() {
		active := -1
		for i, k := range zsks {
			if k.dnskey.Algorithm == alg && signs(k, now) {
				active = i
			}
		}
		if active < 0 {
			keys.zsks = append(keys.zsks, keys.ksks[slices.IndexFunc(keys.ksks, func(k zoneKey) bool { return k.dnskey.Algorithm == alg })])
		} else {
			keys.zsks = append(keys.zsks, zsks[active])
		}
		for i, k := range zsks {
			if k.dnskey.Algorithm == alg && !k.publish.After(now) && !tl.gone(zsks, i, now) {
				keys.published = append(keys.published, k)
			}
		}
	}
	return keys, nil
}

// signs reports whether a ZSK may sign at now: active, and published,
// since a key signing before resolvers can have it makes answers bogus.
func signs(k zoneKey, now time.Time) bool { return !k.activate.After(now) && !k.publish.After(now) }

// gone reports whether ZSK i of zsks (in the order they take turns) is
// retired for good: a later ZSK of its algorithm has been signing for
// iret, so no signature it made is left in any cache.
func (tl keyTimeline) gone(zsks []zoneKey, i int, now time.Time) bool {
	for _, n := range zsks[i+1:] {
		if n.dnskey.Algorithm == zsks[i].dnskey.Algorithm && signs(n, now) && !n.activate.Add(tl.iret).After(now) {
			return true
		}
	}
	return false
}

// algorithms are the algorithms of the active key-signing keys, in order.
func (k zoneKeys) algorithms() []uint8 {
	var out []uint8
	for _, s := range k.ksks {
		if !slices.Contains(out, s.dnskey.Algorithm) {
			out = append(out, s.dnskey.Algorithm)
		}
	}
	return out
}

// ensureKeys returns the changes the zone's key files need at now, given
// those it has: a combined signing key when it has none; with a ZSK
// lifetime, for each algorithm, the next ZSK once the one signing is
// within ipub of its end, published now and active when that one ends (or
// ipub from now, if later), and the removal (nil content) of the files of
// ZSKs retired for good, so that they do not pile up.
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
	add := map[string][]byte{}
	var zsks []zoneKey
	for _, k := range all {
		if !k.sep() {
			zsks = append(zsks, k)
		}
	}
	slices.SortStableFunc(zsks, func(a, b zoneKey) int { return a.activate.Compare(b.activate) })
	for i, k := range zsks {
		if tl.gone(zsks, i, now) && k.file != "" {
			add[k.file+".key"], add[k.file+".private"] = nil, nil
		}
	}
	for _, zsk := range keys.zsks {
		next := slices.ContainsFunc(all, func(k zoneKey) bool {
			return !k.sep() && k.dnskey.Algorithm == zsk.dnskey.Algorithm && k.activate.After(zsk.activate)
		})
		end := zsk.activate.Add(tl.lifetime)
		if next || now.Before(end.Add(-tl.ipub)) {
			continue
		}
		activate := end
		if earliest := now.Add(tl.ipub); activate.Before(earliest) {
			activate = earliest
		}
		files, err := newKeyFiles(origin, zsk.dnskey.Algorithm, mdns.ZONE, now, activate)
		if err != nil {
			return nil, err
		}
		for name, data := range files {
			add[name] = data
		}
	}
	return add, nil
}
