package config

import (
	"encoding/hex"
	"net"
	"strconv"
	"strings"
)

// This file decodes the meridian block's directives that tune the DNS
// server: chaos, nsid, cookies, rrl, dnstap and tcp_max_conns_per_network.

func (m *Meridian) decodeChaos(d *node, errs *errorList) {
	if err := args(d, 2, 2, "version|id TEXT"); err != nil {
		errs.add(err)
		return
	}
	if len(d.Args[1].Text) > 255 {
		// One TXT string holds 255 bytes at most.
		errs.add(errorf(d.Args[1].Pos, "chaos %s: the text has %d bytes; at most 255", d.Args[0].Text, len(d.Args[1].Text)))
		return
	}
	switch d.Args[0].Text {
	case "version":
		m.ChaosVersion = d.Args[1].Text
	case "id":
		m.ChaosID = d.Args[1].Text
	default:
		errs.add(errorf(d.Args[0].Pos, "chaos: expected version or id, got %q", d.Args[0].Text))
	}
}

// decodeNSID reads `nsid [TEXT|0xHEX]`; without an argument, the
// replica's name, once validate knows it.
func (m *Meridian) decodeNSID(d *node, errs *errorList) {
	if err := args(d, 0, 1, "[TEXT|0xHEX]"); err != nil {
		errs.add(err)
		return
	}
	m.nsidPos = d.Pos
	if len(d.Args) == 0 {
		m.nsidReplica = true
		return
	}
	a := d.Args[0]
	nsid := []byte(a.Text)
	if h, ok := strings.CutPrefix(a.Text, "0x"); ok { // as Knot reads it
		var err error
		if nsid, err = hex.DecodeString(h); err != nil {
			errs.add(errorf(a.Pos, "nsid: %q is not hex digits after 0x", a.Text))
			return
		}
	}
	if len(nsid) == 0 || len(nsid) > MaxNSIDLen {
		errs.add(errorf(a.Pos, "nsid: the identifier has %d bytes; give 1 to %d", len(nsid), MaxNSIDLen))
		return
	}
	m.NSID = nsid
}

func (m *Meridian) decodeCookies(d *node, errs *errorList) {
	if err := args(d, 0, 1, "[SECRET_FILE]"); err != nil {
		errs.add(err)
		return
	}
	m.Cookies = &Cookies{Pos: d.Pos}
	if len(d.Args) == 1 {
		m.Cookies.SecretFile = d.Args[0].Text
	}
}

// decodeTCPPerNetwork reads `tcp_max_conns_per_network N [IPV4_PREFIX
// IPV6_PREFIX]`.
func (m *Meridian) decodeTCPPerNetwork(d *node, errs *errorList) {
	const usage = "N [IPV4_PREFIX IPV6_PREFIX]"
	if err := args(d, 1, 3, usage); err != nil {
		errs.add(err)
		return
	}
	if len(d.Args) == 2 {
		errs.add(errorf(d.Pos, "%s: expected %s %s: both prefix lengths or neither", d.Name(), d.Name(), usage))
		return
	}
	fields := []struct {
		dst    *int
		lo, hi int
		what   string
	}{
		{&m.TCPMaxConnsPerNetwork, 1, 1_000_000, "connections"},
		{&m.TCPIPv4Prefix, 8, 32, "IPv4 prefix length"},
		{&m.TCPIPv6Prefix, 16, 128, "IPv6 prefix length"},
	}
	for i, a := range d.Args {
		f := fields[i]
		v, err := strconv.Atoi(a.Text)
		if err != nil || v < f.lo || v > f.hi {
			errs.add(errorf(a.Pos, "%s: expected %s from %d to %d, got %q", d.Name(), f.what, f.lo, f.hi, a.Text))
			return
		}
		*f.dst = v
	}
}

func (m *Meridian) decodeRRL(d *node, errs *errorList) {
	m.RRL = &RRL{Pos: d.Pos}
	m.RRL.decode(d, errs)
}

// decode reads `rrl RATE [{ window D; slip N; ipv4_prefix N; ipv6_prefix N }]`.
func (r *RRL) decode(d *node, errs *errorList) {
	if len(d.Args) != 1 {
		errs.add(errorf(d.Pos, "rrl: expected rrl RESPONSES_PER_SECOND [{ window D; slip N; ipv4_prefix N; ipv6_prefix N }]"))
		return
	}
	v, err := strconv.ParseUint(d.Args[0].Text, 10, 32)
	if err != nil || v == 0 {
		errs.add(errorf(d.Args[0].Pos, "rrl: expected responses per second, a number above 0, got %q", d.Args[0].Text))
		return
	}
	r.ResponsesPerSecond = uint32(v)
	body("rrl block", d, map[string]directive{
		"window":      secondsDuration(&r.Window, nil),
		"slip":        uint32In(&r.Slip, nil, 0, 10, "N"),
		"ipv4_prefix": uint32In(&r.IPv4Prefix, nil, 8, 32, "N"),
		"ipv6_prefix": uint32In(&r.IPv6Prefix, nil, 16, 128, "N"),
	}, []string{"window", "slip", "ipv4_prefix", "ipv6_prefix"}, errs)
}

func (m *Meridian) decodeDnstap(d *node, errs *errorList) {
	m.Dnstap = &Dnstap{Pos: d.Pos, Sample: 1}
	m.Dnstap.decode(d, errs)
}

// decode reads `dnstap unix:PATH|tcp:HOST:PORT [{ sample N; queries;
// responses }]`.
func (t *Dnstap) decode(d *node, errs *errorList) {
	const usage = "unix:PATH|tcp:HOST:PORT [{ sample N; queries; responses }]"
	if len(d.Args) != 1 {
		errs.add(errorf(d.Pos, "dnstap: expected dnstap %s", usage))
		return
	}
	a := d.Args[0]
	network, addr, _ := strings.Cut(a.Text, ":")
	switch {
	case network == "unix" && addr != "":
	case network == "tcp":
		_, port, err := net.SplitHostPort(addr)
		if err == nil {
			_, err = parsePort(port)
		}
		if err != nil {
			errs.add(errorf(a.Pos, "dnstap: %q is not HOST:PORT after tcp: %v", addr, err))
			return
		}
	default:
		errs.add(errorf(a.Pos, "dnstap: expected unix:PATH or tcp:HOST:PORT, got %q", a.Text))
		return
	}
	t.Network, t.Addr = network, addr
	body("dnstap block", d, map[string]directive{
		"sample":    t.decodeSample,
		"queries":   messages(&t.Queries),
		"responses": messages(&t.Responses),
	}, []string{"sample", "queries", "responses"}, errs)
	if !t.Queries && !t.Responses {
		t.Queries, t.Responses = true, true
	}
}

func (t *Dnstap) decodeSample(d *node, errs *errorList) {
	a, ok := oneArg(d, "N", errs)
	if !ok {
		return
	}
	v, err := strconv.ParseUint(a.Text, 10, 32)
	if err != nil || v == 0 || v > 1_000_000 {
		errs.add(errorf(a.Pos, "sample: expected one query in N, N from 1 to 1000000, got %q", a.Text))
		return
	}
	t.Sample = uint32(v)
}

// messages decodes dnstap's queries and responses: a flag whose message
// says what it is for.
func messages(dst *bool) directive {
	return func(d *node, errs *errorList) {
		if len(d.Args) > 0 || d.HasBody {
			errs.add(errorf(d.Pos, "%s: takes no arguments: it names the messages to send", d.Name()))
			return
		}
		*dst = true
	}
}
