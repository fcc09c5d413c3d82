package config

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// This file decodes a zone block, its soa and dnssec blocks and its static
// records; its services are decoded in decode_service.go.

func (z *Zone) decode(n *node, errs *errorList) {
	body("zone block", n, map[string]directive{
		"ttl":     seconds(&z.TTL, &z.ttlSet, "TTL"),
		"soa":     z.SOA.decode,
		"ns":      z.decodeNS,
		"map":     func(d *node, errs *errorList) { z.Map, z.mapPos, z.entryPos = decodeMap(d, z.mapPos, errs) },
		"service": z.decodeService,
		"record":  z.decodeRecord,
		"file": func(d *node, errs *errorList) {
			if a, ok := oneArg(d, "PATH", errs); ok {
				z.Files = append(z.Files, ZoneFile{Pos: d.Pos, Path: a.Text})
			}
		},
		"allow_transfer":                  z.decodeAllowTransfer,
		"notify":                          z.decodeNotify,
		"dnssec":                          z.decodeDNSSEC,
		"allow_transfer_without_services": either(&z.AllowTransferWithoutServices, "yes", "no", true),
	}, []string{"ttl", "soa", "allow_transfer_without_services", "dnssec", "map"}, errs)
}

// decode reads `soa MNAME RNAME [{ refresh retry expire minimum serial }]`.
func (soa *SOA) decode(d *node, errs *errorList) {
	if len(d.Args) != 2 {
		errs.add(errorf(d.Pos, "soa: expected soa MNAME RNAME [{ refresh retry expire minimum }], got %d argument%s",
			len(d.Args), plural(len(d.Args))))
		return
	}
	soa.Pos = d.Pos
	soa.MName = canonicalName(d.Args[0].Text)
	soa.RName = canonicalName(strings.Replace(d.Args[1].Text, "@", ".", 1))
	body("soa block", d, map[string]directive{
		"refresh": seconds(&soa.Refresh, nil, "DURATION"),
		"retry":   seconds(&soa.Retry, nil, "DURATION"),
		"expire":  seconds(&soa.Expire, nil, "DURATION"),
		"minimum": seconds(&soa.Minimum, nil, "DURATION"),
		"serial":  soa.decodeSerial,
	}, []string{"refresh", "retry", "expire", "minimum", "serial"}, errs)
}

func (soa *SOA) decodeSerial(d *node, errs *errorList) {
	a, ok := oneArg(d, "NUMBER", errs)
	if !ok {
		return
	}
	v, err := strconv.ParseUint(a.Text, 10, 32)
	if err != nil {
		errs.add(errorf(a.Pos, "serial: expected a number from 0 to %d, got %q", uint32(math.MaxUint32), a.Text))
		return
	}
	soa.Serial, soa.HasSerial = uint32(v), true
}

func (z *Zone) decodeNS(d *node, errs *errorList) {
	if err := args(d, 1, -1, "NAME [GLUE-ADDRESS...]"); err != nil {
		errs.add(err)
		return
	}
	z.NS = append(z.NS, NameServer{Pos: d.Pos, Name: canonicalName(d.Args[0].Text), Glue: parseAddrs(d.Name(), d.Args[1:], errs)})
}

func (z *Zone) decodeService(d *node, errs *errorList) {
	if err := block(d, 1, "NAME"); err != nil {
		errs.add(err)
		return
	}
	s := Service{Pos: d.Pos, Name: canonicalName(d.Args[0].Text)}
	s.decode(d, errs)
	z.Services = append(z.Services, s)
}

func (z *Zone) decodeRecord(d *node, errs *errorList) {
	if err := args(d, 2, -1, "NAME [TTL] TYPE RDATA..."); err != nil {
		errs.add(err)
		return
	}
	z.Records = append(z.Records, Record{Pos: d.Pos, Text: recordText(d.Args)})
}

// recordText joins a record directive's words back into one zone-file
// line, quoting words that need it, for the DNS server's zone parser.
func recordText(args []token) string {
	words := make([]string, len(args))
	for i, a := range args {
		w := a.Text
		if w == "" || strings.ContainsAny(w, " \t;\"") {
			w = strconv.Quote(w)
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

func (z *Zone) decodeAllowTransfer(d *node, errs *errorList) {
	if err := args(d, 1, -1, "PREFIX..."); err != nil {
		errs.add(err)
		return
	}
	for _, a := range d.Args {
		p, err := parsePrefix(a.Text)
		if err != nil {
			errs.add(errorf(a.Pos, "allow_transfer: %q is not an address or prefix such as 192.0.2.0/24", a.Text))
			continue
		}
		z.AllowTransfer = append(z.AllowTransfer, p)
	}
	if z.allowTransferPos.Line == 0 {
		z.allowTransferPos = d.Pos
	}
}

// parsePrefix accepts a prefix or a single address (as a full-length prefix).
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (z *Zone) decodeNotify(d *node, errs *errorList) {
	if err := args(d, 1, -1, "ADDRESS[:PORT]..."); err != nil {
		errs.add(err)
		return
	}
	for _, a := range d.Args {
		ap, err := parseAddrPort(a.Text, 53)
		if err != nil {
			errs.add(errorf(a.Pos, "notify: %q is not ADDRESS or ADDRESS:PORT", a.Text))
			continue
		}
		z.Notify = append(z.Notify, ap)
	}
	if z.notifyPos.Line == 0 {
		z.notifyPos = d.Pos
	}
}

// decodeDNSSEC reads a zone's dnssec block.
func (z *Zone) decodeDNSSEC(d *node, errs *errorList) {
	if err := block(d, 0, ""); err != nil {
		errs.add(err)
		return
	}
	k := &DNSSEC{Pos: d.Pos, Algorithm: AlgorithmECDSAP256}
	z.DNSSEC = k
	body("dnssec block", d, map[string]directive{
		"keys":         word(&k.Keys, "DIRECTORY"),
		"algorithm":    k.decodeAlgorithm,
		"zsk_lifetime": durationIn(&k.ZSKLifetime),
		"propagation":  durationIn(&k.Propagation),
	}, []string{"keys", "algorithm", "zsk_lifetime", "propagation"}, errs)
}

func (k *DNSSEC) decodeAlgorithm(d *node, errs *errorList) {
	a, ok := oneArg(d, "ecdsap256sha256|ed25519", errs)
	if !ok {
		return
	}
	switch strings.ToLower(a.Text) {
	case "ecdsap256sha256", "13":
		k.Algorithm = AlgorithmECDSAP256
	case "ed25519", "15":
		k.Algorithm = AlgorithmEd25519
	default:
		errs.add(errorf(a.Pos, "algorithm: expected ecdsap256sha256 (13) or ed25519 (15), got %q", a.Text))
	}
}
