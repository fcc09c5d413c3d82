package dns

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// zoneKey is one DNSSEC key of a zone: its DNSKEY record and private key,
// and when its .private file says (BIND's timing metadata), when it is
// published and when it starts signing; zero: since ever.
type zoneKey struct {
	dnskey            *mdns.DNSKEY
	priv              crypto.Signer
	tag               uint16
	publish, activate time.Time
	file              string // K<zone>+<alg>+<tag>, the files' name without .key or .private
}

// sep reports whether the key is a key-signing key (the SEP flag, 257),
// which signs the DNSKEY RRset and is what the parent's DS names.
func (k zoneKey) sep() bool { return k.dnskey.Flags&mdns.SEP != 0 }

// zoneKeys are the keys a zone uses at one time: the key-signing keys,
// each of which signs the DNSKEY RRset, and one zone-signing key per
// algorithm, which signs the rest (a key-signing key too, when it is a
// combined signing key); and the keys it publishes: those, a ZSK
// published ahead of its turn, and one retired but still published while
// signatures it made may be cached.
type zoneKeys struct {
	ksks, zsks []zoneKey
	published  []zoneKey
}

// KeyInfo describes one key of a signed zone, for the API and the CLI.
type KeyInfo struct {
	Tag       uint16
	Algorithm uint8
	Flags     uint16
	// Role is "csk" (combined), "ksk" or "zsk"; "standby" for a ZSK
	// published ahead of its turn or after it (a rollover).
	Role string
	// DNSKEY is the record in zone-file form; DS, for a key-signing key,
	// the DS record (SHA-256 digest) to give the parent zone.
	DNSKEY, DS string
}

// Keys returns the keys of the signed zone origin (no final dot), false
// when the zone is not served or not signed.
func (zs *Zones) Keys(origin string) ([]KeyInfo, bool) {
	z := zs.zone(fqdn(origin))
	if z == nil || z.signer == nil {
		return nil, false
	}
	k := z.signer.keys
	info := func(key zoneKey, role string) KeyInfo {
		ki := KeyInfo{Tag: key.tag, Algorithm: key.dnskey.Algorithm, Flags: key.dnskey.Flags, Role: role, DNSKEY: oneLine(key.dnskey)}
		if role == "ksk" || role == "csk" { // a key-signing key not yet signing gets no DS: the parent must not name it yet
			ki.DS = oneLine(key.dnskey.ToDS(mdns.SHA256))
		}
		return ki
	}
	has := func(ks []zoneKey, key zoneKey) bool {
		return slices.ContainsFunc(ks, func(o zoneKey) bool { return o.tag == key.tag && o.dnskey.Algorithm == key.dnskey.Algorithm })
	}
	var out []KeyInfo
	for _, p := range k.published {
		switch {
		case has(k.ksks, p) && has(k.zsks, p):
			out = append(out, info(p, "csk"))
		case has(k.ksks, p):
			out = append(out, info(p, "ksk"))
		case has(k.zsks, p):
			out = append(out, info(p, "zsk"))
		default:
			out = append(out, info(p, "standby")) // published before or after its turn
		}
	}
	return out, true
}

// oneLine is a record in zone-file form with single spaces, as people
// paste it into a registrar's form or a zone file.
func oneLine(rr mdns.RR) string { return strings.Join(strings.Fields(rr.String()), " ") }

// same reports whether k and o are the same keys, used and published.
func (k zoneKeys) same(o zoneKeys) bool {
	tags := func(ks []zoneKey) []uint16 {
		var out []uint16
		for _, z := range ks {
			out = append(out, z.tag)
		}
		return out
	}
	return slices.Equal(tags(k.ksks), tags(o.ksks)) && slices.Equal(tags(k.zsks), tags(o.zsks)) &&
		slices.Equal(tags(k.published), tags(o.published))
}

// KeyStore keeps the key files of signed zones whose dnssec block names
// no keys directory: the store the replicas share (a Kubernetes Secret),
// so that they sign with the same keys. Files returns the files of
// origin (lower case, final dot) by name (K<origin>+<alg>+<tag>.key and
// .private) after the changes that ensure, given the files there, asks
// for: files to add (the zone's first key, or the next ZSK of a rollover),
// and files to remove, given with nil content (a ZSK retired for good); of
// replicas that change them at once, one wins and the others, given the
// files again, find nothing to do.
type KeyStore interface {
	Files(origin string, ensure func(map[string][]byte) (map[string][]byte, error)) (map[string][]byte, error)
}

// loadKeys reads the keys of origin (lower case, final dot) in BIND's
// format: K<origin>+<alg>+<tag>.key holds the DNSKEY record and .private
// the private key, as dnssec-keygen, keymgr (Knot) and pdnsutil export
// them; from the keys directory, or without one from store. It adds what
// is missing (ensureKeys) and returns the keys in use at now (keyTimeline),
// maxTTL being the longest TTL of the zone's signed RRsets. Without
// create, finding no key at all is an error rather than a reason to make
// the zone's first: keys that vanish from under a running zone must not
// be replaced by keys that no resolver trusts.
func loadKeys(origin string, c *DNSSECConfig, store KeyStore, now time.Time, maxTTL uint32, create bool) (zoneKeys, error) {
	tl := keyTimeline{lifetime: c.ZSKLifetime, ipub: c.Propagation + time.Duration(maxTTL)*time.Second,
		iret: c.Propagation + time.Duration(maxTTL)*time.Second}
	ensure := func(files map[string][]byte) (map[string][]byte, error) {
		if len(files) == 0 && !create {
			return nil, fmt.Errorf("no key of %s is there any more; the keys in use stay", origin)
		}
		return ensureKeys(origin, c.Algorithm, files, tl, now)
	}
	where := c.Keys
	var files map[string][]byte
	var err error
	switch {
	case c.Keys != "":
		files, err = readKeyDir(origin, c.Keys)
		if err == nil {
			var change map[string][]byte
			if change, err = ensure(files); err == nil && len(change) > 0 {
				err = changeKeyFiles(c.Keys, change)
				applyKeyChange(files, change)
			}
		}
	case store != nil:
		where = "the shared store"
		files, err = store.Files(origin, ensure)
	default:
		err = fmt.Errorf("no keys directory, and no shared store to keep keys in")
	}
	if err != nil {
		return zoneKeys{}, fmt.Errorf("%s: dnssec: %s: %w", c.Pos, where, err)
	}
	all, err := parseKeys(origin, files)
	if err == nil {
		var keys zoneKeys
		if keys, err = tl.at(origin, all, now); err == nil {
			return keys, nil
		}
	}
	return zoneKeys{}, fmt.Errorf("%s: dnssec: %s: %w", c.Pos, where, err)
}

// parseKeys reads every key of files.
func parseKeys(origin string, files map[string][]byte) ([]zoneKey, error) {
	var keys []zoneKey
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasSuffix(name, ".key") {
			continue
		}
		priv, ok := files[strings.TrimSuffix(name, ".key")+".private"]
		if !ok {
			return nil, fmt.Errorf("%s has no .private file beside it", name)
		}
		k, err := parseKey(origin, name, files[name], priv)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// readKeyDir reads the key files of origin in dir, by base name.
func readKeyDir(origin, dir string) (map[string][]byte, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "K"+escapeGlob(origin)+"+*+*.key"))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, p := range paths {
		for _, f := range []string{p, strings.TrimSuffix(p, ".key") + ".private"} {
			data, err := readSmallFile(f, maxKeyFile)
			if err != nil {
				return nil, err
			}
			files[filepath.Base(f)] = data
		}
	}
	return files, nil
}

// keyFileTagRe finds the key tag in a key file's name.
var keyFileTagRe = regexp.MustCompile(`\+\d{3}\+(\d{5})\.key$`)

// parseKey reads one key from its .key file (named name) and its .private
// file. Lines may end in CRLF, as files edited on Windows do.
func parseKey(origin, name string, keyText, privText []byte) (zoneKey, error) {
	keyText, privText = bytes.ReplaceAll(keyText, []byte("\r\n"), []byte("\n")), bytes.ReplaceAll(privText, []byte("\r\n"), []byte("\n"))
	var dnskey *mdns.DNSKEY
	zp := mdns.NewZoneParser(strings.NewReader(string(keyText)), origin, name)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if k, isKey := rr.(*mdns.DNSKEY); isKey && dnskey == nil {
			dnskey = k
		}
	}
	if err := zp.Err(); err != nil {
		return zoneKey{}, fmt.Errorf("%s: %w", name, err)
	}
	if dnskey == nil {
		return zoneKey{}, fmt.Errorf("%s: no DNSKEY record", name)
	}
	if !strings.EqualFold(dnskey.Hdr.Name, origin) {
		return zoneKey{}, fmt.Errorf("%s: the key is for %s, not %s", name, dnskey.Hdr.Name, origin)
	}
	if dnskey.Flags&mdns.ZONE == 0 || dnskey.Protocol != 3 {
		return zoneKey{}, fmt.Errorf("%s: not a zone key (flags %d, protocol %d)", name, dnskey.Flags, dnskey.Protocol)
	}
	if dnskey.Flags&mdns.REVOKE != 0 {
		return zoneKey{}, fmt.Errorf("%s: the key is revoked (flags %d, RFC 5011): validators use it for nothing; remove its files", name, dnskey.Flags)
	}
	if m := keyFileTagRe.FindStringSubmatch(name); m != nil && m[1] != fmt.Sprintf("%05d", dnskey.KeyTag()) {
		return zoneKey{}, fmt.Errorf("%s: the file name says key tag %s, the key's tag is %d", name, m[1], dnskey.KeyTag())
	}
	switch dnskey.Algorithm {
	case mdns.ECDSAP256SHA256, mdns.ED25519:
	default:
		return zoneKey{}, fmt.Errorf("%s: algorithm %s (%d) is not supported; use ECDSAP256SHA256 (13) or ED25519 (15)",
			name, mdns.AlgorithmToString[dnskey.Algorithm], dnskey.Algorithm)
	}
	privName := strings.TrimSuffix(name, ".key") + ".private"
	priv, err := dnskey.ReadPrivateKey(strings.NewReader(string(privText)), privName)
	if err != nil {
		return zoneKey{}, fmt.Errorf("%s: %w", privName, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok || !wholeKey(priv) {
		return zoneKey{}, fmt.Errorf("%s: no private key in the file (a PrivateKey: line), or not a whole one", privName)
	}
	if !publicMatches(dnskey, signer) {
		return zoneKey{}, fmt.Errorf("%s: the private key does not belong to the DNSKEY of %s", privName, name)
	}
	k := zoneKey{dnskey: dnskey, priv: signer, tag: dnskey.KeyTag(), file: strings.TrimSuffix(name, ".key")}
	for _, line := range strings.Split(string(privText), "\n") {
		field, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *time.Time
		switch strings.ToLower(strings.TrimSpace(field)) {
		case "publish":
			dst = &k.publish
		case "activate":
			dst = &k.activate
		default:
			continue
		}
		t, err := time.Parse(keyTimeFormat, strings.TrimSpace(value))
		if err != nil {
			return zoneKey{}, fmt.Errorf("%s: %s: %q is not a time such as 20261201153000", privName, strings.TrimSpace(field), strings.TrimSpace(value))
		}
		*dst = t
	}
	return k, nil
}

// keyTimeFormat is how BIND's .private files write times: UTC, to the second.
const keyTimeFormat = "20060102150405"

// wholeKey reports whether a private key read from a file has its key
// material: miekg/dns returns an empty Ed25519 key, or an ECDSA one
// without D, for a file that lacks the PrivateKey line, and signing with
// either panics.
func wholeKey(priv crypto.PrivateKey) bool {
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		return len(k) == ed25519.PrivateKeySize
	case *ecdsa.PrivateKey:
		return k.D != nil && k.D.Sign() > 0
	}
	return false
}

// publicMatches reports whether priv is the private half of dnskey: a
// probe signed with it verifies with the DNSKEY.
func publicMatches(dnskey *mdns.DNSKEY, priv crypto.Signer) bool {
	probe := []mdns.RR{&mdns.TXT{Hdr: mdns.RR_Header{Name: dnskey.Hdr.Name, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 1}, Txt: []string{"probe"}}}
	sig := &mdns.RRSIG{Algorithm: dnskey.Algorithm, KeyTag: dnskey.KeyTag(), SignerName: dnskey.Hdr.Name, Inception: 1, Expiration: 1 << 31}
	return sig.Sign(priv, probe) == nil && sig.Verify(dnskey, probe) == nil
}

// newKeyFiles makes a key of algorithm alg with flags (257 for a
// combined signing key, 256 for a ZSK), published and active from the
// times given, as dnssec-keygen would write it: the .key and .private
// files by name, the times in the .private file as BIND keeps them.
func newKeyFiles(origin string, alg uint8, flags uint16, publish, activate time.Time) (map[string][]byte, error) {
	dnskey := &mdns.DNSKEY{Hdr: mdns.RR_Header{Name: origin, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: 3600},
		Flags: flags, Protocol: 3, Algorithm: alg}
	priv, err := dnskey.Generate(256) // the size of both curves' keys
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("K%s+%03d+%05d", origin, dnskey.Algorithm, dnskey.KeyTag())
	kind := "a combined signing key (key-signing and zone-signing)"
	if flags&mdns.SEP == 0 {
		kind = "a zone-signing key"
	}
	pub := fmt.Sprintf("; This is %s, keyid %d, for %s\n; generated by Meridian\n%s\n", kind, dnskey.KeyTag(), origin, dnskey)
	private := dnskey.PrivateKeyString(priv) + fmt.Sprintf("Created: %s\nPublish: %s\nActivate: %s\n",
		publish.UTC().Format(keyTimeFormat), publish.UTC().Format(keyTimeFormat), activate.UTC().Format(keyTimeFormat))
	return map[string][]byte{base + ".key": []byte(pub), base + ".private": []byte(private)}, nil
}

// WriteNewKey generates a key of zone (no final dot needed) in BIND's
// format into dir: a key-signing key (flags 257, which a zone of one key
// uses as its combined key) or with zsk a zone-signing key, of algorithm
// 13 or 15, published and active from the times given. It returns the
// files' common path, DIR/K<zone>.+<alg>+<tag>.
func WriteNewKey(zone string, alg uint8, zsk bool, publish, activate time.Time, dir string) (string, error) {
	if alg != mdns.ECDSAP256SHA256 && alg != mdns.ED25519 {
		return "", fmt.Errorf("algorithm %d: use 13 (ECDSAP256SHA256) or 15 (ED25519)", alg)
	}
	if _, ok := mdns.IsDomainName(zone); !ok || strings.ContainsAny(zone, `/\`) || strings.Trim(zone, ".") == "" || strings.Contains(zone, "..") {
		return "", fmt.Errorf("zone %q: give a zone's name, such as gslb.example.com", zone)
	}
	if publish.After(activate) {
		return "", fmt.Errorf("publish %s is after activate %s: a key must be published before it signs", publish.UTC().Format(time.RFC3339), activate.UTC().Format(time.RFC3339))
	}
	flags := uint16(mdns.ZONE | mdns.SEP)
	if zsk {
		flags = mdns.ZONE
	}
	files, err := newKeyFiles(mdns.Fqdn(strings.ToLower(zone)), alg, flags, publish, activate)
	if err != nil {
		return "", err
	}
	if err := writeKeyFiles(dir, files); err != nil {
		return "", err
	}
	for name := range files {
		return filepath.Join(dir, strings.TrimSuffix(strings.TrimSuffix(name, ".key"), ".private")), nil
	}
	return "", nil
}

// applyKeyChange applies a change of ensureKeys to files: new contents
// added, nil ones removed.
func applyKeyChange(files, change map[string][]byte) {
	for name, data := range change {
		if data == nil {
			delete(files, name)
		} else {
			files[name] = data
		}
	}
}

// changeKeyFiles writes the new files of a change to the keys directory,
// and removes those it gives with nil content (each .key before its
// .private, so that no public key is ever left without its private half).
func changeKeyFiles(dir string, change map[string][]byte) error {
	add := map[string][]byte{}
	for _, name := range slices.Sorted(maps.Keys(change)) {
		if change[name] != nil {
			add[name] = change[name]
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeKeyFiles(dir, add)
}

// writeKeyFiles writes new key files to the keys directory, each .private
// before its .key, so that a crash leaves no public key without it.
func writeKeyFiles(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, ".private") {
			if err := writeNew(filepath.Join(dir, name), files[name], 0o600); err != nil {
				return err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if strings.HasSuffix(name, ".key") {
			if err := writeNew(filepath.Join(dir, name), files[name], 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeNew writes a file that must not exist yet, through a temporary
// file, so that a reader never sees half a key.
func writeNew(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(tmp)
}

// maxKeyFile bounds a key file, which holds a few hundred bytes.
const maxKeyFile = 64 << 10

// escapeGlob escapes the characters filepath.Match treats specially.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
