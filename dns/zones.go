package dns

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Zones is the static part of every zone Meridian serves: SOA, NS and glue,
// inline records and zone files, parsed and checked. Global services are the
// dynamic part; their answers come from the Plan. Zones is rebuilt on reload
// and never changed.
type Zones struct {
	zones []*staticZone // sorted by origin
}

// staticZone is one zone's static data.
type staticZone struct {
	cfg    ZoneConfig
	origin string // lower case, final dot
	soa    *mdns.SOA
	// rrs holds every static record but the SOA, in canonical order; this
	// is what a zone transfer sends between two copies of the SOA.
	rrs []mdns.RR
	// services maps the owner names of global services to their config.
	services map[string]ServiceConfig
	// hash identifies the static content, serial aside (contentHash): the
	// same content has the same hash in every process.
	hash string
	// history holds the changes that led to this version in this process,
	// oldest first, the last one ending at this serial: what IXFR sends a
	// secondary whose serial one of them starts from.
	history []changeset
	// prev is the version this process served before this one, if any,
	// for withSerial to extend the history from.
	prev *priorVersion
	// signer signs the zone's answers when it has a dnssec block; its
	// DNSKEY RRset is in rrs. online holds this version's answers signed
	// online (its SOA is in them).
	signer *signer
	online *onlineAnswers
}

// LoadZones parses and checks the static data of zones, and gives each a
// serial without any I/O: the explicit serial of its soa block, else one
// that follows the content in this process alone (kept while the content
// is the same as in prev, else max(now, previous + 1), so that it only
// grows, RFC 1982). AssignSerials then gives the serials of the store the
// replicas share. Errors name the file and line they come from, in the
// config or in a zone file.
func LoadZones(zones []ZoneConfig, prev *Zones, now time.Time) (*Zones, error) {
	return LoadZonesWithKeys(zones, prev, now, nil)
}

// LoadZonesWithKeys is LoadZones, the keys of signed zones without a keys
// directory kept in keys, the store the replicas share.
func LoadZonesWithKeys(zones []ZoneConfig, prev *Zones, now time.Time, keys KeyStore) (*Zones, error) {
	out := &Zones{}
	var errs []error
	for _, zc := range zones {
		// A zone served signed keeps its keys: if they vanished, a reload
		// fails rather than make new ones that no resolver trusts.
		before := prev.zone(fqdn(zc.Origin))
		z, zerrs := loadZone(zc, keys, now, before == nil || before.signer == nil)
		errs = append(errs, zerrs...)
		if z == nil {
			continue
		}
		serial := uint32(now.Unix())
		old := prev.zone(z.origin)
		switch {
		case zc.SOA.HasSerial:
			serial = zc.SOA.Serial
		case old != nil && old.hash == z.hash:
			serial = old.soa.Serial
		case old != nil && !serialGreater(serial, old.soa.Serial):
			serial = old.soa.Serial + 1
		}
		if old != nil {
			z.prev = priorOf(old, z)
			if old.signer != nil && z.signer != nil && old.signer.keys.same(z.signer.keys) {
				z.signer = old.signer // and the signatures it made
			}
		}
		out.zones = append(out.zones, z.withSerial(serial))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.SortFunc(out.zones, func(a, b *staticZone) int { return cmp.Compare(a.origin, b.origin) })
	return out, nil
}

// signers returns the signers of the signed zones, by origin without the
// final dot.
func (zs *Zones) signers() map[string]*signer {
	out := map[string]*signer{}
	if zs != nil {
		for _, z := range zs.zones {
			if z.signer != nil {
				out[strings.TrimSuffix(z.origin, ".")] = z.signer
			}
		}
	}
	return out
}

// RefreshKeys reads the keys of the signed zones again, adding what a
// rollover needs (ensureKeys), and returns the zones with the keys in use
// at now, and whether any zone's changed: a zone whose keys changed is a
// new version, its DNSKEY, CDS and CDNSKEY records replaced and its
// serial grown (AssignSerials then gives the replicas' one). Replicas call
// it every so often (KeyCheckInterval), so that they publish and switch
// keys at the times the key files say, together.
func (zs *Zones) RefreshKeys(now time.Time, store KeyStore) (*Zones, bool, error) {
	out := &Zones{}
	changed := false
	for _, z := range zs.zones {
		if z.signer == nil {
			out.zones = append(out.zones, z)
			continue
		}
		keys, err := loadKeys(z.origin, z.cfg.DNSSEC, store, now, z.maxTTL(), false)
		if err != nil {
			return nil, false, err
		}
		if keys.same(z.signer.keys) {
			out.zones = append(out.zones, z)
			continue
		}
		changed = true
		out.zones = append(out.zones, z.withKeys(keys, now))
	}
	return out, changed, nil
}

// KeyCheckInterval is how often RefreshKeys should run: often enough to
// switch keys within a tenth of the shortest publication interval of a
// zone that rolls its keys, at least every second, at most every minute.
func (zs *Zones) KeyCheckInterval() time.Duration {
	every := time.Minute
	for _, z := range zs.zones {
		if z.signer != nil && z.cfg.DNSSEC.ZSKLifetime > 0 {
			every = min(every, max(time.Second, (z.cfg.DNSSEC.Propagation+time.Duration(z.maxTTL())*time.Second)/10))
		}
	}
	return every
}

// withKeys is the next version of z, signed with keys from now on.
func (z *staticZone) withKeys(keys zoneKeys, now time.Time) *staticZone {
	n := *z
	n.signer = newSigner(z.origin, keys)
	n.rrs = slices.DeleteFunc(slices.Clone(z.rrs), func(rr mdns.RR) bool {
		switch rr.Header().Rrtype {
		case mdns.TypeDNSKEY, mdns.TypeCDS, mdns.TypeCDNSKEY:
			return strings.EqualFold(rr.Header().Name, z.origin)
		}
		return false
	})
	n.rrs = append(n.rrs, n.signer.apexKeys(z.cfg.TTL)...)
	slices.SortStableFunc(n.rrs, compareRR)
	n.rrs = slices.CompactFunc(n.rrs, mdns.IsDuplicate)
	n.hash = contentHash(n.soa, n.rrs)
	n.prev = priorOf(z, &n)
	serial := uint32(now.Unix())
	if !serialGreater(serial, z.soa.Serial) {
		serial = z.soa.Serial + 1
	}
	return n.withSerial(serial)
}

// maxTTL is the longest TTL of the zone's RRsets, the SOA's and the
// services' included: how long a signature may stay in a cache.
func (z *staticZone) maxTTL() uint32 {
	ttl := max(z.soa.Hdr.Ttl, z.soa.Minttl)
	for _, rr := range z.rrs {
		ttl = max(ttl, rr.Header().Ttl)
	}
	for _, s := range z.services {
		ttl = max(ttl, s.TTL)
	}
	return ttl
}

// Signed reports whether any zone is signed (has a dnssec block).
func (zs *Zones) Signed() bool {
	return zs != nil && slices.ContainsFunc(zs.zones, func(z *staticZone) bool { return z.signer != nil })
}

func (zs *Zones) zone(origin string) *staticZone {
	if zs == nil {
		return nil
	}
	for _, z := range zs.zones {
		if z.origin == origin {
			return z
		}
	}
	return nil
}

// Serial returns the SOA serial of a zone (origin without final dot), 0 if unknown.
func (zs *Zones) Serial(origin string) uint32 {
	if z := zs.zone(fqdn(origin)); z != nil {
		return z.soa.Serial
	}
	return 0
}

// loadZone builds one zone from its config; it returns nil with errors.
// It reports every mistake it finds, not only the first: in the zone's
// own records, in reading its static records, in each static record, and
// in the records of one owner name together.
func loadZone(zc ZoneConfig, keyStore KeyStore, now time.Time, createKeys bool) (*staticZone, []error) {
	z := &staticZone{cfg: zc, origin: fqdn(zc.Origin), services: map[string]ServiceConfig{}}
	for _, s := range zc.Services {
		z.services[fqdn(s.FQDN)] = s
	}
	var errs loadErrors
	z.addApex(&errs)
	static := readStatic(zc, z.origin, &errs)
	types := z.addStatic(static, &errs)
	z.checkOwners(types, &errs)
	if len(errs) > 0 {
		return nil, errs
	}
	if zc.DNSSEC != nil {
		keys, err := loadKeys(z.origin, zc.DNSSEC, keyStore, now, z.maxTTL(), createKeys)
		if err != nil {
			return nil, []error{err}
		}
		z.signer = newSigner(z.origin, keys)
		z.rrs = append(z.rrs, z.signer.apexKeys(zc.TTL)...)
	}
	slices.SortStableFunc(z.rrs, compareRR)
	z.rrs = slices.CompactFunc(z.rrs, mdns.IsDuplicate)
	z.hash = contentHash(z.soa, z.rrs)
	return z, nil
}

// loadErrors collects the mistakes of a zone's load, each an *Error naming
// where it was written.
type loadErrors []error

func (e *loadErrors) add(p Pos, format string, args ...any) {
	*e = append(*e, &Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// addApex sets the zone's own records, made from its config: the SOA, and
// the NS records with their glue. The config checked their names; packing
// them here keeps compile's promise that every record it sees packs.
func (z *staticZone) addApex(errs *loadErrors) {
	zc := z.cfg
	z.soa = &mdns.SOA{
		Hdr:     hdr(z.origin, mdns.TypeSOA, zc.TTL),
		Ns:      fqdn(zc.SOA.MName),
		Mbox:    fqdn(zc.SOA.RName),
		Refresh: zc.SOA.Refresh,
		Retry:   zc.SOA.Retry,
		Expire:  zc.SOA.Expire,
		Minttl:  zc.SOA.Minimum,
	}
	for _, ns := range zc.NS {
		z.rrs = append(z.rrs, &mdns.NS{Hdr: hdr(z.origin, mdns.TypeNS, zc.TTL), Ns: fqdn(ns.Name)})
		for _, ip := range ns.Glue {
			z.rrs = append(z.rrs, addrRR(fqdn(ns.Name), ip, zc.TTL))
		}
	}
	for _, rr := range append([]mdns.RR{z.soa}, z.rrs...) {
		if err := encodable(rr); err != nil {
			errs.add(zc.Pos, "zone %s: %s %s: cannot be encoded: %v", zc.Origin, strings.TrimSuffix(rr.Header().Name, "."), mdns.Type(rr.Header().Rrtype), err)
		}
	}
}

// placedRR is a static record and where it was written.
type placedRR struct {
	rr  mdns.RR
	pos Pos
}

// readStatic parses the zone's static records, inline ones first, then
// its zone files', each with its position. A record that does not parse
// is an error; the others are not checked yet (addStatic).
func readStatic(zc ZoneConfig, origin string, errs *loadErrors) []placedRR {
	var static []placedRR
	for _, r := range zc.Records {
		rrs, err := parseRecords(strings.NewReader(r.Text+"\n"), origin, zc.TTL, r.Pos.File, r.Pos.Line)
		if err != nil {
			*errs = append(*errs, err)
			continue
		}
		for _, rr := range rrs {
			static = append(static, placedRR{rr, r.Pos})
		}
	}
	for _, f := range zc.Files {
		static = append(static, readZoneFile(f, origin, zc.TTL, errs)...)
	}
	return static
}

// readZoneFile parses one zone file, leaving out its SOA: the zone's SOA
// is the soa directive's, and Meridian keeps the serial.
func readZoneFile(f ZoneFile, origin string, ttl uint32, errs *loadErrors) []placedRR {
	fh, err := os.Open(f.Path)
	if err != nil {
		errs.add(f.Pos, "file: %v", err)
		return nil
	}
	rrs, err := parseRecords(fh, origin, ttl, f.Path, 0)
	fh.Close()
	if err != nil {
		*errs = append(*errs, err)
		return nil
	}
	// miekg/dns does not report a record's line; find it by its owner.
	lines := firstLines(f.Path)
	var static []placedRR
	for _, rr := range rrs {
		if rr.Header().Rrtype == mdns.TypeSOA {
			continue
		}
		static = append(static, placedRR{rr, Pos{File: f.Path, Line: ownerLine(lines, rr.Header().Name, origin)}})
	}
	return static
}

// addStatic adds the static records that fit the zone (staticFits), and
// returns the types of the records at each owner name, the zone's own
// included, for checkOwners.
func (z *staticZone) addStatic(static []placedRR, errs *loadErrors) map[string]map[uint16]bool {
	types := map[string]map[uint16]bool{}
	for _, rr := range z.rrs {
		addType(types, rr)
	}
	for _, p := range static {
		if !z.staticFits(p, errs) {
			continue
		}
		addType(types, p.rr)
		z.rrs = append(z.rrs, p.rr)
	}
	return types
}

// staticFits checks one static record against the zone, and makes its
// owner and targets canonical when it fits; when it does not, it says why
// in errs.
func (z *staticZone) staticFits(p placedRR, errs *loadErrors) bool {
	name := canonicalName(p.rr.Header().Name)
	t := p.rr.Header().Rrtype
	where := p.pos
	switch {
	case !mdns.IsSubDomain(z.origin, name):
		errs.add(where, "record %s is outside zone %s", strings.TrimSuffix(p.rr.Header().Name, "."), strings.TrimSuffix(z.origin, "."))
		return false
	case t == mdns.TypeSOA:
		errs.add(where, "record %s: the SOA comes from the soa directive", strings.TrimSuffix(name, "."))
		return false
	case p.rr.Header().Class != mdns.ClassINET:
		errs.add(where, "record %s: only class IN is served", strings.TrimSuffix(name, "."))
		return false
	case t == mdns.TypeNS && strings.HasPrefix(name, "*."):
		// Knot refers every name the wildcard matches to the `*` name's
		// servers, NSD delegates the `*` name alone (RFC 4592 section
		// 4.2 leaves it undefined): a delegation needs a real name.
		errs.add(where, "record %s: a wildcard cannot delegate; NS records need a name without *", strings.TrimSuffix(name, "."))
		return false
	}
	if _, isService := z.services[name]; isService {
		errs.add(where, "record %s: the name is a global service, whose answers the engine decides", strings.TrimSuffix(name, "."))
		return false
	}
	p.rr.Header().Name = name
	lowerTargets(p.rr)
	if err := encodable(p.rr); err != nil {
		errs.add(where, "record %s %s: cannot be encoded: %v", strings.TrimSuffix(name, "."), mdns.Type(t), err)
		return false
	}
	return true
}

// checkOwners checks the records of each owner name together, from their
// types: a CNAME stands alone, and a global service has none.
func (z *staticZone) checkOwners(types map[string]map[uint16]bool, errs *loadErrors) {
	zc := z.cfg
	for name, ts := range types {
		if ts[mdns.TypeCNAME] && len(ts) > 1 {
			errs.add(zc.Pos, "zone %s: %s has a CNAME and other records; a CNAME must stand alone", zc.Origin, strings.TrimSuffix(name, "."))
		}
	}
	for name := range z.services {
		if len(types[name]) > 0 {
			errs.add(zc.Pos, "zone %s: %s is a global service and also has static records", zc.Origin, strings.TrimSuffix(name, "."))
		}
	}
}

// encodable packs rr as the answer of a message asking for it, as the
// answer tables and zone transfers will, and reads it back as a client
// would: RDATA that parses can still fail to pack (an SSHFP fingerprint of
// odd hex, a TXT string over 255 bytes), a record too large for a message
// can never be sent, and a name of more than 255 octets (an owner made
// long by its zone's origin, a CNAME target) packs but no client reads it.
func encodable(rr mdns.RR) error {
	m := new(mdns.Msg)
	m.SetQuestion(rr.Header().Name, rr.Header().Rrtype)
	m.Answer = []mdns.RR{rr}
	b, err := m.Pack()
	if err != nil {
		return err
	}
	if len(b) > maxMsg {
		return fmt.Errorf("%d bytes, more than a DNS message holds (%d)", len(b), maxMsg)
	}
	if err := new(mdns.Msg).Unpack(b); err != nil {
		return fmt.Errorf("it does not read back: %w", err)
	}
	return nil
}

// maxMsg is the largest DNS message, as TCP's length prefix bounds it.
const maxMsg = 0xFFFF

func addType(types map[string]map[uint16]bool, rr mdns.RR) {
	name := strings.ToLower(rr.Header().Name)
	if types[name] == nil {
		types[name] = map[uint16]bool{}
	}
	types[name][rr.Header().Rrtype] = true
}

// lowerTargets lowers the domain names inside records that point at other
// names, so that lookups inside our zones match whatever case they were written in.
func lowerTargets(rr mdns.RR) {
	switch r := rr.(type) {
	case *mdns.CNAME:
		r.Target = canonicalName(r.Target)
	case *mdns.NS:
		r.Ns = canonicalName(r.Ns)
	case *mdns.MX:
		r.Mx = canonicalName(r.Mx)
	case *mdns.SRV:
		r.Target = canonicalName(r.Target)
	}
}

// canonicalName writes a name one way: lower case, escapes only where
// needed (\097pp is app), so that comparisons with the zone's and the
// services' names hold however a record spelled it.
func canonicalName(s string) string {
	buf := make([]byte, 256)
	n, err := mdns.PackDomainName(mdns.Fqdn(s), buf, 0, nil, false)
	if err != nil {
		return strings.ToLower(s) // encodable will report it
	}
	name, _, err := mdns.UnpackDomainName(buf[:n], 0)
	if err != nil {
		return strings.ToLower(s)
	}
	return strings.ToLower(name) // ASCII: other bytes come back as \DDD
}

// compareRR orders records canonically: by owner, type, then text.
func compareRR(a, b mdns.RR) int {
	return cmp.Or(cmp.Compare(a.Header().Name, b.Header().Name), cmp.Compare(a.Header().Rrtype, b.Header().Rrtype),
		cmp.Compare(a.String(), b.String()))
}

var parseErrorRe = regexp.MustCompile(`^(?:.*?: )?dns: (.*) at line: (\d+):\d+$`)

// parseRecords parses zone-file text with miekg/dns's zone parser. Errors
// name file and line; lineBase is added to the parser's line numbers, for
// records written inline in the config (the record is on line 1).
func parseRecords(r io.Reader, origin string, ttl uint32, file string, lineBase int) ([]mdns.RR, error) {
	zp := mdns.NewZoneParser(r, origin, file)
	zp.SetDefaultTTL(ttl)
	var out []mdns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		out = append(out, rr)
	}
	if err := zp.Err(); err != nil {
		msg, line := err.Error(), 0
		if m := parseErrorRe.FindStringSubmatch(msg); m != nil {
			msg = m[1]
			line, _ = strconv.Atoi(m[2])
		}
		if lineBase > 0 {
			line = lineBase
			msg = "record: " + msg
		}
		return nil, &Error{Pos: Pos{File: file, Line: line}, Msg: msg}
	}
	return out, nil
}

// firstLines maps the first word of each line of a zone file, in lower
// case, to the first line it starts; read once per file, as a zone file may
// hold many thousands of records.
func firstLines(path string) map[string]int {
	lines := map[string]int{}
	f, err := os.Open(path)
	if err != nil {
		return lines
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		if fields := strings.Fields(sc.Text()); len(fields) > 0 {
			w := strings.ToLower(fields[0])
			if _, ok := lines[w]; !ok {
				lines[w] = line
			}
		}
	}
	return lines
}

// ownerLine finds the first line of a zone file whose first word names
// owner, so that errors about a record can point at it; 1 if none does.
func ownerLine(lines map[string]int, owner, origin string) int {
	rel := strings.TrimSuffix(strings.TrimSuffix(owner, origin), ".")
	words := []string{strings.ToLower(owner)}
	if rel == "" {
		words = append(words, "@")
	} else {
		words = append(words, strings.ToLower(rel))
	}
	best := 0
	for _, w := range words {
		if l, ok := lines[w]; ok && (best == 0 || l < best) {
			best = l
		}
	}
	return max(best, 1)
}
