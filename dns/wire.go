package dns

import (
	"encoding/binary"
	"net/netip"
)

// The fast path reads queries and writes answers itself, without unpacking
// into miekg/dns messages: a query is parsed into a fixed-size struct, and an
// answer is appended to a reused buffer from precompiled record bytes. Only
// zone transfers go through miekg/dns.

// DNS header flag bits, in the 16-bit flags word.
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagCD = 1 << 4
)

// Opcodes and response codes used here.
const (
	opQuery   = 0
	rcodeOK   = 0
	formErr   = 1
	servFail  = 2
	nxDomain  = 3
	notImp    = 4
	refused   = 5
	badVers   = 16 // extended: needs EDNS
	badCookie = 23 // extended: RFC 7873
)

// Record types and classes the fast path knows by number.
const (
	typeA        = 1
	typeNS       = 2
	typeCNAME    = 5
	typeSOA      = 6
	typeTXT      = 16
	typeAAAA     = 28
	typeDS       = 43
	typeRRSIG    = 46
	typeNSEC     = 47
	typeNXNAME   = 128 // RFC 9824
	typeOPT      = 41
	typeIXFR     = 251
	typeAXFR     = 252
	typeANY      = 255
	classIN      = 1
	classCH      = 3
	classANY     = 255
	optionNSID   = 3  // RFC 5001
	optionECS    = 8  // RFC 7871
	optionCookie = 10 // RFC 7873
	headerLen    = 12
	// maxUDP is the largest UDP response we send and advertise, as DNS
	// Flag Day 2020 recommends, so that answers are not fragmented.
	maxUDP = 1232
	minUDP = 512
)

// query is a request parsed for the fast path. Its fields point into the
// request buffer; nothing is allocated.
type query struct {
	id    uint16
	flags uint16
	// name is the question name in lower case, wire format; nameLen its
	// length, root label included.
	name    [255]byte
	nameLen int
	// labels holds the offset in name of each label, from the first.
	labels  [128]uint8
	nLabels int
	qtype   uint16
	qclass  uint16
	// question is the question section as received, echoed in the answer
	// so that the client's case is preserved.
	question []byte
	// ancount and nscount are the request's; only IXFR may carry an SOA.
	ancount, nscount uint16
	// msg is the whole request, for the rare paths that unpack it.
	msg []byte

	edns    bool
	version uint8
	do      bool
	co      bool // Compact Answers OK (RFC 9824): NXDOMAIN rather than NOERROR with NXNAME
	// sign says how the handler may sign online for this query.
	sign    signMode
	udpSize uint16
	// limit is the largest response the client takes: 512 bytes, its
	// EDNS payload size up to maxUDP, 65535 over TCP. Set by Answer.
	limit int

	ecs        bool
	ecsFamily  uint16
	ecsSource  uint8
	ecsAddrLen int
	ecsAddr    [16]byte // address bytes as received (source prefix length)

	// options says which of NSID and COOKIE the query carries; cookie is
	// the data of its first COOKIE option (RFC 7873), in the request.
	options uint8
	cookie  []byte

	// What the handler puts in the response's OPT record besides the
	// client subnet: the NSID of nsid, when set, and with respCookie the
	// client cookie and a server cookie, the query's own (cookieEcho) or
	// one made at respTime with the hash respMAC (cookieFresh). The query
	// struct is kept small: every query zeroes one.
	nsid       *ednsOptions
	respCookie uint8
	respTime   uint32
	respMAC    uint64
}

// Options of a query, in query.options.
const (
	hasNSID   = 1 << iota // the query asks for the name server identifier
	hasCookie             // the query has a COOKIE option
)

// The server cookie of a response.
const (
	cookieNone  = iota
	cookieEcho  // the query's, still good
	cookieFresh // made now
)

// parseResult says what to do with a packet.
type parseResult uint8

const (
	parsed    parseResult = iota
	drop                  // too short to answer, or a response: send nothing
	malformed             // answer FORMERR
	badOpcode             // answer NOTIMP
)

// parse reads a query. On malformed and badOpcode, q.id and q.flags are set
// so that an error can be answered; on drop nothing is.
func (q *query) parse(p []byte) parseResult {
	if len(p) < headerLen {
		return drop
	}
	q.id = binary.BigEndian.Uint16(p[0:])
	q.flags = binary.BigEndian.Uint16(p[2:])
	q.msg = p
	if q.flags&flagQR != 0 {
		return drop // never answer a response: it could be a reflection loop
	}
	if (q.flags>>11)&0xF != opQuery {
		return badOpcode
	}
	qd := binary.BigEndian.Uint16(p[4:])
	q.ancount = binary.BigEndian.Uint16(p[6:])
	q.nscount = binary.BigEndian.Uint16(p[8:])
	ar := binary.BigEndian.Uint16(p[10:])
	if qd != 1 {
		return malformed
	}
	off, ok := q.parseName(p, headerLen)
	if !ok || off+4 > len(p) {
		return malformed
	}
	q.qtype = binary.BigEndian.Uint16(p[off:])
	q.qclass = binary.BigEndian.Uint16(p[off+2:])
	q.question = p[headerLen : off+4]
	off += 4
	q.edns, q.ecs, q.do, q.co, q.version, q.udpSize = false, false, false, false, 0, 0
	if q.ancount != 0 || q.nscount != 0 {
		if q.qtype != typeIXFR && q.qtype != typeAXFR {
			return malformed
		}
		// An IXFR's SOA is read by the transfer code; an AXFR's, which
		// some secondaries send too, is ignored there, as Knot does.
		return parsed
	}
	if ar > 1 {
		return malformed // only one OPT is allowed, and nothing else is served
	}
	if ar == 1 && !q.parseOPT(p, off) {
		return malformed
	}
	return parsed
}

// parseName reads the question name at off into q.name, lower-cased. A
// compression pointer, a label over 63 bytes or a name over 255 bytes is
// malformed.
func (q *query) parseName(p []byte, off int) (int, bool) {
	n := 0
	q.nLabels = 0
	for {
		if off >= len(p) {
			return 0, false
		}
		l := int(p[off])
		if l == 0 {
			if n+1 > len(q.name) {
				return 0, false
			}
			q.name[n] = 0
			q.nameLen = n + 1
			return off + 1, true
		}
		if l > 63 || off+1+l > len(p) || n+1+l+1 > len(q.name) || q.nLabels == len(q.labels) {
			return 0, false
		}
		q.labels[q.nLabels] = uint8(n)
		q.nLabels++
		q.name[n] = byte(l)
		for i, c := range p[off+1 : off+1+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.name[n+1+i] = c
		}
		n += 1 + l
		off += 1 + l
	}
}

// parseOPT reads the OPT record at off: payload size, version, DO bit,
// the EDNS Client Subnet option, checked as RFC 7871 section 7.1.1 asks,
// the NSID option and the first COOKIE option, whose length the handler
// checks (only when cookies are on). Other options are ignored.
func (q *query) parseOPT(p []byte, off int) bool {
	if off+11 > len(p) || p[off] != 0 || binary.BigEndian.Uint16(p[off+1:]) != typeOPT {
		return false
	}
	q.edns = true
	q.udpSize = binary.BigEndian.Uint16(p[off+3:])
	q.version = p[off+6]
	q.do = p[off+7]&0x80 != 0
	q.co = p[off+7]&0x40 != 0
	rdlen := int(binary.BigEndian.Uint16(p[off+9:]))
	off += 11
	if off+rdlen > len(p) {
		return false
	}
	opts := p[off : off+rdlen]
	for len(opts) > 0 {
		if len(opts) < 4 {
			return false
		}
		code, olen := binary.BigEndian.Uint16(opts), int(binary.BigEndian.Uint16(opts[2:]))
		if 4+olen > len(opts) {
			return false
		}
		switch code {
		case optionECS:
			if q.ecs || !q.parseECS(opts[4:4+olen]) {
				return false
			}
		case optionNSID:
			q.options |= hasNSID // a payload is ignored (RFC 5001 section 2.1)
		case optionCookie:
			if q.options&hasCookie == 0 { // later ones are ignored, as BIND and Knot do
				q.options |= hasCookie
				q.cookie = opts[4 : 4+olen]
			}
		}
		opts = opts[4+olen:]
	}
	return true
}

func (q *query) parseECS(o []byte) bool {
	if len(o) < 4 {
		return false
	}
	q.ecsFamily = binary.BigEndian.Uint16(o)
	q.ecsSource = o[2]
	scope := o[3]
	addr := o[4:]
	max := 0
	switch q.ecsFamily {
	case 1:
		max = 32
	case 2:
		max = 128
	default:
		return false
	}
	need := (int(q.ecsSource) + 7) / 8
	if int(q.ecsSource) > max || scope != 0 || len(addr) != need {
		return false
	}
	if need > 0 && q.ecsSource%8 != 0 && addr[need-1]&(0xFF>>(q.ecsSource%8)) != 0 {
		return false // bits beyond the source prefix must be zero
	}
	q.ecs = true
	q.ecsAddrLen = copy(q.ecsAddr[:], addr)
	return true
}

// ecsPrefix returns the client subnet of the ECS option as an address
// (zero-padded) and its prefix length.
func (q *query) ecsPrefix() (netip.Addr, int) {
	if q.ecsFamily == 1 {
		var a [4]byte
		copy(a[:], q.ecsAddr[:q.ecsAddrLen])
		return netip.AddrFrom4(a), int(q.ecsSource)
	}
	var a [16]byte
	copy(a[:], q.ecsAddr[:q.ecsAddrLen])
	return netip.AddrFrom16(a), int(q.ecsSource)
}

// wireName returns the lower-case wire name of the question, as a map key.
func (q *query) wireName() []byte { return q.name[:q.nameLen] }

// opcodeMask selects the opcode bits, which a response echoes.
const opcodeMask = 0xF << 11

// appendHeader writes a response header for q: the request's ID, opcode,
// RD and CD bits echoed.
func appendHeader(b []byte, q *query, flags uint16, rcode int, an, ns, ar uint16) []byte {
	flags |= flagQR | q.flags&(opcodeMask|flagRD|flagCD) | uint16(rcode&0xF)
	b = binary.BigEndian.AppendUint16(b, q.id)
	b = binary.BigEndian.AppendUint16(b, flags)
	qd := uint16(0)
	if q.question != nil {
		qd = 1
	}
	b = binary.BigEndian.AppendUint16(b, qd)
	b = binary.BigEndian.AppendUint16(b, an)
	b = binary.BigEndian.AppendUint16(b, ns)
	return binary.BigEndian.AppendUint16(b, ar)
}

// appendOPT writes the response's OPT record: our payload size, the
// extended rcode, the DO bit copied (RFC 3225), the client subnet echoed
// with the given scope when the query had one, and the NSID and cookie
// the handler put in q.
func appendOPT(b []byte, q *query, rcode int, scope uint8) []byte {
	b = append(b, 0, 0, typeOPT, byte(maxUDP>>8), byte(maxUDP&0xFF), byte(rcode>>4), 0)
	if q.do {
		b = append(b, 0x80, 0)
	} else {
		b = append(b, 0, 0)
	}
	if !q.ecs && q.nsid == nil && q.respCookie == cookieNone {
		return append(b, 0, 0)
	}
	rdlen := 0
	if q.ecs {
		rdlen = 8 + q.ecsAddrLen
	}
	if q.nsid != nil {
		rdlen += 4 + len(q.nsid.nsid)
	}
	if q.respCookie != cookieNone {
		rdlen += 4 + clientCookieLen + serverCookieLen
	}
	b = binary.BigEndian.AppendUint16(b, uint16(rdlen))
	if q.ecs {
		olen := 4 + q.ecsAddrLen
		b = binary.BigEndian.AppendUint16(b, optionECS)
		b = binary.BigEndian.AppendUint16(b, uint16(olen))
		b = binary.BigEndian.AppendUint16(b, q.ecsFamily)
		b = append(b, q.ecsSource, scope)
		b = append(b, q.ecsAddr[:q.ecsAddrLen]...)
	}
	if q.nsid != nil {
		b = binary.BigEndian.AppendUint16(b, optionNSID)
		b = binary.BigEndian.AppendUint16(b, uint16(len(q.nsid.nsid)))
		b = append(b, q.nsid.nsid...)
	}
	if q.respCookie != cookieNone {
		b = binary.BigEndian.AppendUint16(b, optionCookie)
		b = binary.BigEndian.AppendUint16(b, clientCookieLen+serverCookieLen)
		if q.respCookie == cookieEcho {
			b = append(b, q.cookie[:clientCookieLen+serverCookieLen]...)
		} else {
			b = append(b, q.cookie[:clientCookieLen]...)
			b = append(b, cookieVersion, 0, 0, 0)
			b = binary.BigEndian.AppendUint32(b, q.respTime)
			b = binary.LittleEndian.AppendUint64(b, q.respMAC)
		}
	}
	return b
}

// setCounts rewrites the section counts of a response already written.
func setCounts(b []byte, an, ns, ar uint16) {
	binary.BigEndian.PutUint16(b[6:], an)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], ar)
}
