package dns

import (
	"crypto"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
)

// zoneKey is one DNSSEC key of a zone: its DNSKEY record and private key.
type zoneKey struct {
	dnskey *mdns.DNSKEY
	priv   crypto.Signer
	tag    uint16
}

// sep reports whether the key is a key-signing key (the SEP flag, 257),
// which signs the DNSKEY RRset and is what the parent's DS names.
func (k zoneKey) sep() bool { return k.dnskey.Flags&mdns.SEP != 0 }

// zoneKeys are a zone's keys: one combined signing key (ksk == zsk), or a
// key-signing key for the DNSKEY RRset and a zone-signing key for the rest.
type zoneKeys struct {
	ksk, zsk zoneKey
}

// KeyInfo describes one key of a signed zone, for the API and the CLI.
type KeyInfo struct {
	Tag       uint16
	Algorithm uint8
	Flags     uint16
	// Role is "csk" (combined), "ksk" or "zsk".
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
		if key.sep() {
			ki.DS = oneLine(key.dnskey.ToDS(mdns.SHA256))
		}
		return ki
	}
	if k.ksk.tag == k.zsk.tag {
		return []KeyInfo{info(k.ksk, "csk")}, true
	}
	return []KeyInfo{info(k.ksk, "ksk"), info(k.zsk, "zsk")}, true
}

// oneLine is a record in zone-file form with single spaces, as people
// paste it into a registrar's form or a zone file.
func oneLine(rr mdns.RR) string { return strings.Join(strings.Fields(rr.String()), " ") }

// same reports whether k and o are the same keys.
func (k zoneKeys) same(o zoneKeys) bool {
	return k.ksk.dnskey.String() == o.ksk.dnskey.String() && k.zsk.dnskey.String() == o.zsk.dnskey.String()
}

// KeyStore keeps the key files of signed zones whose dnssec block names
// no keys directory: the store the replicas share (a Kubernetes Secret),
// so that they sign with the same keys. Files returns the files of
// origin (lower case, final dot) by name (K<origin>+<alg>+<tag>.key and
// .private), storing those of generate when it holds none; of replicas
// that generate at once, one wins and all take its key.
type KeyStore interface {
	Files(origin string, generate func() (map[string][]byte, error)) (map[string][]byte, error)
}

// loadKeys reads the keys of origin (lower case, final dot) in BIND's
// format: K<origin>+<alg>+<tag>.key holds the DNSKEY record and .private
// the private key, as dnssec-keygen, keymgr (Knot) and pdnsutil export
// them; from the keys directory, or without one from store. When there
// are none, it generates a combined signing key of the configured
// algorithm and writes it there (a file readable by its owner only).
func loadKeys(origin string, c *config.DNSSEC, store KeyStore) (zoneKeys, error) {
	where := c.Keys
	var files map[string][]byte
	var err error
	switch {
	case c.Keys != "":
		files, err = readKeyDir(origin, c.Keys)
		if err == nil && len(files) == 0 {
			files, err = writeNewKey(origin, c)
		}
	case store != nil:
		where = "the shared store"
		files, err = store.Files(origin, func() (map[string][]byte, error) { return newKeyFiles(origin, c.Algorithm) })
	default:
		err = fmt.Errorf("no keys directory, and no shared store to keep keys in")
	}
	if err != nil {
		return zoneKeys{}, fmt.Errorf("%s: dnssec: %w", c.Pos, err)
	}
	keys, err := parseKeys(origin, files)
	if err != nil {
		return zoneKeys{}, fmt.Errorf("%s: dnssec: %s: %w", c.Pos, where, err)
	}
	return keys, nil
}

// parseKeys reads every key of files and checks that they make one
// combined key, or one KSK and one ZSK.
func parseKeys(origin string, files map[string][]byte) (zoneKeys, error) {
	var keys []zoneKey
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if !strings.HasSuffix(name, ".key") {
			continue
		}
		priv, ok := files[strings.TrimSuffix(name, ".key")+".private"]
		if !ok {
			return zoneKeys{}, fmt.Errorf("%s has no .private file beside it", name)
		}
		k, err := parseKey(origin, name, files[name], priv)
		if err != nil {
			return zoneKeys{}, err
		}
		keys = append(keys, k)
	}
	var ksks, zsks []zoneKey
	for _, k := range keys {
		if k.sep() {
			ksks = append(ksks, k)
		} else {
			zsks = append(zsks, k)
		}
	}
	switch {
	case len(ksks) == 1 && len(zsks) == 0:
		return zoneKeys{ksk: ksks[0], zsk: ksks[0]}, nil
	case len(ksks) == 1 && len(zsks) == 1:
		return zoneKeys{ksk: ksks[0], zsk: zsks[0]}, nil
	case len(ksks) == 0:
		return zoneKeys{}, fmt.Errorf("no key-signing key (flags 257) for %s, only zone-signing keys", origin)
	default:
		return zoneKeys{}, fmt.Errorf("%d key-signing and %d zone-signing keys for %s; "+
			"give one combined signing key, or one KSK and one ZSK", len(ksks), len(zsks), origin)
	}
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

// parseKey reads one key from its .key file (named name) and its .private file.
func parseKey(origin, name string, keyText, privText []byte) (zoneKey, error) {
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
	if !ok {
		return zoneKey{}, fmt.Errorf("%s: the private key cannot sign", privName)
	}
	if !publicMatches(dnskey, signer) {
		return zoneKey{}, fmt.Errorf("%s: the private key does not belong to the DNSKEY of %s", privName, name)
	}
	return zoneKey{dnskey: dnskey, priv: signer, tag: dnskey.KeyTag()}, nil
}

// publicMatches reports whether priv is the private half of dnskey: a
// probe signed with it verifies with the DNSKEY.
func publicMatches(dnskey *mdns.DNSKEY, priv crypto.Signer) bool {
	probe := []mdns.RR{&mdns.TXT{Hdr: mdns.RR_Header{Name: dnskey.Hdr.Name, Rrtype: mdns.TypeTXT, Class: mdns.ClassINET, Ttl: 1}, Txt: []string{"probe"}}}
	sig := &mdns.RRSIG{Algorithm: dnskey.Algorithm, KeyTag: dnskey.KeyTag(), SignerName: dnskey.Hdr.Name, Inception: 1, Expiration: 1 << 31}
	return sig.Sign(priv, probe) == nil && sig.Verify(dnskey, probe) == nil
}

// newKeyFiles makes a combined signing key (flags 257) of algorithm alg,
// as dnssec-keygen would write it: the .key and .private files by name.
func newKeyFiles(origin string, alg uint8) (map[string][]byte, error) {
	dnskey := &mdns.DNSKEY{Hdr: mdns.RR_Header{Name: origin, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: 3600},
		Flags: mdns.ZONE | mdns.SEP, Protocol: 3, Algorithm: alg}
	priv, err := dnskey.Generate(256) // the size of both curves' keys
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("K%s+%03d+%05d", origin, dnskey.Algorithm, dnskey.KeyTag())
	pub := fmt.Sprintf("; This is a combined signing key (key-signing and zone-signing), keyid %d, for %s\n; generated by Meridian\n%s\n",
		dnskey.KeyTag(), origin, dnskey)
	return map[string][]byte{base + ".key": []byte(pub), base + ".private": []byte(dnskey.PrivateKeyString(priv))}, nil
}

// writeNewKey generates a key and writes it to the keys directory, the
// private file first, so that a crash leaves no public key without it.
func writeNewKey(origin string, c *config.DNSSEC) (map[string][]byte, error) {
	files, err := newKeyFiles(origin, c.Algorithm)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Keys, 0o700); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(files)) { // .key after .private
		if !strings.HasSuffix(name, ".private") {
			continue
		}
		if err := writeNew(filepath.Join(c.Keys, name), files[name], 0o600); err != nil {
			return nil, err
		}
	}
	for name, data := range files {
		if strings.HasSuffix(name, ".key") {
			if err := writeNew(filepath.Join(c.Keys, name), data, 0o644); err != nil {
				return nil, err
			}
		}
	}
	return files, nil
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
