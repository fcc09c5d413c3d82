package dns

import (
	"crypto"
	"fmt"
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

// loadKeys reads the keys of origin (lower case, final dot) from dir, in
// BIND's format: K<origin>+<alg>+<tag>.key holds the DNSKEY record and
// .private the private key, as dnssec-keygen, keymgr (Knot) and pdnsutil
// export them. When dir holds none, it generates a combined signing key
// of the configured algorithm and writes it there, the private key
// readable by its owner only.
func loadKeys(origin string, c *config.DNSSEC) (zoneKeys, error) {
	pattern := filepath.Join(c.Keys, "K"+escapeGlob(origin)+"+*+*.key")
	files, err := filepath.Glob(pattern)
	if err != nil {
		return zoneKeys{}, fmt.Errorf("%s: dnssec: %w", c.Pos, err)
	}
	slices.Sort(files)
	var keys []zoneKey
	for _, f := range files {
		k, err := readKey(origin, f)
		if err != nil {
			return zoneKeys{}, fmt.Errorf("%s: dnssec: %w", c.Pos, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		k, err := generateKey(origin, c)
		if err != nil {
			return zoneKeys{}, fmt.Errorf("%s: dnssec: %w", c.Pos, err)
		}
		return zoneKeys{ksk: k, zsk: k}, nil
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
		return zoneKeys{}, fmt.Errorf("%s: dnssec: %s holds no key-signing key (flags 257) for %s, only zone-signing keys", c.Pos, c.Keys, origin)
	default:
		return zoneKeys{}, fmt.Errorf("%s: dnssec: %s holds %d key-signing and %d zone-signing keys for %s; "+
			"give one combined signing key, or one KSK and one ZSK", c.Pos, c.Keys, len(ksks), len(zsks), origin)
	}
}

// readKey reads the key of a .key file and its .private file.
func readKey(origin, keyFile string) (zoneKey, error) {
	text, err := readSmallFile(keyFile, maxKeyFile)
	if err != nil {
		return zoneKey{}, err
	}
	var dnskey *mdns.DNSKEY
	zp := mdns.NewZoneParser(strings.NewReader(string(text)), origin, keyFile)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		if k, isKey := rr.(*mdns.DNSKEY); isKey && dnskey == nil {
			dnskey = k
		}
	}
	if err := zp.Err(); err != nil {
		return zoneKey{}, fmt.Errorf("%s: %w", keyFile, err)
	}
	if dnskey == nil {
		return zoneKey{}, fmt.Errorf("%s: no DNSKEY record", keyFile)
	}
	if !strings.EqualFold(dnskey.Hdr.Name, origin) {
		return zoneKey{}, fmt.Errorf("%s: the key is for %s, not %s", keyFile, dnskey.Hdr.Name, origin)
	}
	if dnskey.Flags&mdns.ZONE == 0 || dnskey.Protocol != 3 {
		return zoneKey{}, fmt.Errorf("%s: not a zone key (flags %d, protocol %d)", keyFile, dnskey.Flags, dnskey.Protocol)
	}
	switch dnskey.Algorithm {
	case mdns.ECDSAP256SHA256, mdns.ED25519:
	default:
		return zoneKey{}, fmt.Errorf("%s: algorithm %s (%d) is not supported; use ECDSAP256SHA256 (13) or ED25519 (15)",
			keyFile, mdns.AlgorithmToString[dnskey.Algorithm], dnskey.Algorithm)
	}
	privFile := strings.TrimSuffix(keyFile, ".key") + ".private"
	privText, err := readSmallFile(privFile, maxKeyFile)
	if err != nil {
		return zoneKey{}, err
	}
	priv, err := dnskey.ReadPrivateKey(strings.NewReader(string(privText)), privFile)
	if err != nil {
		return zoneKey{}, fmt.Errorf("%s: %w", privFile, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return zoneKey{}, fmt.Errorf("%s: the private key cannot sign", privFile)
	}
	if !publicMatches(dnskey, signer) {
		return zoneKey{}, fmt.Errorf("%s: the private key does not belong to the DNSKEY of %s", privFile, keyFile)
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

// generateKey makes a combined signing key (flags 257) and writes it to
// the keys directory, as dnssec-keygen would.
func generateKey(origin string, c *config.DNSSEC) (zoneKey, error) {
	dnskey := &mdns.DNSKEY{Hdr: mdns.RR_Header{Name: origin, Rrtype: mdns.TypeDNSKEY, Class: mdns.ClassINET, Ttl: 3600},
		Flags: mdns.ZONE | mdns.SEP, Protocol: 3, Algorithm: c.Algorithm}
	priv, err := dnskey.Generate(256) // the size of both curves' keys
	if err != nil {
		return zoneKey{}, err
	}
	signer := priv.(crypto.Signer)
	if err := os.MkdirAll(c.Keys, 0o700); err != nil {
		return zoneKey{}, err
	}
	base := filepath.Join(c.Keys, fmt.Sprintf("K%s+%03d+%05d", origin, dnskey.Algorithm, dnskey.KeyTag()))
	// The private key first, so that a crash leaves no public key without it.
	if err := writeNew(base+".private", dnskey.PrivateKeyString(priv), 0o600); err != nil {
		return zoneKey{}, err
	}
	pub := fmt.Sprintf("; This is a combined signing key (key-signing and zone-signing), keyid %d, for %s\n; generated by Meridian\n%s\n",
		dnskey.KeyTag(), origin, dnskey)
	if err := writeNew(base+".key", pub, 0o644); err != nil {
		return zoneKey{}, err
	}
	return zoneKey{dnskey: dnskey, priv: signer, tag: dnskey.KeyTag()}, nil
}

// writeNew writes a file that must not exist yet, through a temporary
// file, so that a reader never sees half a key.
func writeNew(path, text string, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), mode); err != nil {
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
