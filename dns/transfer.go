package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
)

// Zone transfers send the static part of a zone (the SOA, NS and glue,
// static records) to secondaries; global services are not transferred, as
// their answers depend on the client. So a zone with services is not
// transferred at all unless its config opts in
// (allow_transfer_without_services): a secondary would answer NXDOMAIN for
// every service. Transfers go through miekg/dns: they are rare, and
// correctness matters more than speed there.
//
// IXFR follows RFC 1995 as Knot does: a client whose serial is the zone's
// or newer gets the current SOA alone; one whose serial starts a step of
// the history this process keeps gets the differences; any other gets the
// whole zone, AXFR-style. Over UDP, IXFR gets the current SOA alone, which
// tells a client that is behind to ask over TCP.

// transfer answers AXFR and IXFR questions. A name below a zone's apex
// gets NOTAUTH, as in Knot: no zone of that name is served. Clients
// outside the zone's allow_transfer list, and every client of a zone that
// may not be transferred, get REFUSED. Over UDP an allowed client is told
// to retry AXFR over TCP (TC), and gets the current SOA for IXFR; over TCP
// the outcome asks the caller to stream the transfer (Transfer).
func (h *Handler) transfer(zt *zoneTable, out []byte, q *query, client netip.Addr, tcp bool, o *outcome) []byte {
	if string(q.wireName()) != string(zt.origin) {
		o.rcode = notAuth
		return finish(out, q, nil, notAuth, 0)
	}
	if !zt.static.transfers() || !allowed(zt.static.cfg.AllowTransfer, client) {
		o.rcode = refused
		return finish(out, q, nil, refused, 0)
	}
	if !tcp {
		if q.qtype == typeIXFR {
			return ixfrOverUDP(zt.static, out, q, o)
		}
		o.truncated = true
		return truncated(out, q, rcodeOK, flagAA)
	}
	o.transfer = true
	return nil
}

// notAuth is the NOTAUTH rcode: the server is not authoritative for the
// zone a transfer asks for.
const notAuth = 9

// transfers reports whether the zone may be transferred and notified at
// all: a zone with global services only when its config says so.
func (z *staticZone) transfers() bool {
	return len(z.services) == 0 || z.cfg.AllowTransferWithoutServices
}

// ixfrOverUDP answers an IXFR over UDP with the zone's current SOA (RFC
// 1995 section 2), whatever the client's serial: an up-to-date client is
// done, one that is behind asks again over TCP.
func ixfrOverUDP(z *staticZone, out []byte, q *query, o *outcome) []byte {
	var req mdns.Msg
	if err := req.Unpack(q.msg); err != nil {
		o.rcode = formErr
		return errorOnly(out, q, formErr)
	}
	m := new(mdns.Msg)
	if _, ok := clientSOA(&req); !ok {
		o.rcode = formErr
		m.SetRcode(&req, mdns.RcodeFormatError)
	} else {
		m = transferMsg(&req, []mdns.RR{z.soa})
	}
	m.Compress = true
	b, err := m.PackBuffer(out[:cap(out)])
	if err != nil {
		o.rcode = servFail
		return errorOnly(out, q, servFail)
	}
	return b
}

// clientSOA returns the SOA an IXFR request carries in its authority
// section, which must be the zone's (its owner the question's name).
func clientSOA(req *mdns.Msg) (*mdns.SOA, bool) {
	if len(req.Ns) < 1 || len(req.Question) != 1 {
		return nil, false
	}
	soa, ok := req.Ns[0].(*mdns.SOA)
	if !ok || mdns.CanonicalName(soa.Hdr.Name) != mdns.CanonicalName(req.Question[0].Name) {
		return nil, false
	}
	return soa, true
}

func allowed(acl []netip.Prefix, client netip.Addr) bool {
	client = client.Unmap()
	for _, p := range acl {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// transferChunk bounds the records in one transfer message, keeping each
// well below the 64 KiB a TCP message may hold.
const transferChunk = 200

// Transfer streams the zone req asks for to w as length-prefixed TCP
// messages. Answer has checked the client; req is the raw request.
func (h *Handler) Transfer(w io.Writer, req []byte) error {
	var m mdns.Msg
	if err := m.Unpack(req); err != nil || len(m.Question) != 1 {
		// The question parsed (Answer saw it), the rest not: a broken
		// SOA in an IXFR's authority section. FORMERR, as over UDP.
		if len(req) < headerLen {
			return fmt.Errorf("dns: transfer request: %v", err)
		}
		return writeMsg(w, &mdns.Msg{MsgHdr: mdns.MsgHdr{Id: binary.BigEndian.Uint16(req), Response: true,
			Opcode: int(req[2]>>3) & 0xF, RecursionDesired: req[2]&1 != 0, Rcode: mdns.RcodeFormatError}})
	}
	t := h.table.Load()
	if t == nil {
		return errors.New("dns: no table")
	}
	zt, _ := t.lookupName(m.Question[0].Name)
	if zt == nil || zt.static.origin != mdns.CanonicalName(m.Question[0].Name) {
		return writeMsg(w, new(mdns.Msg).SetRcode(&m, mdns.RcodeNotAuth))
	}
	z := zt.static
	all := append(append([]mdns.RR{z.soa}, z.rrs...), z.soa)
	if m.Question[0].Qtype == mdns.TypeIXFR {
		theirs, ok := clientSOA(&m)
		if !ok {
			return writeMsg(w, new(mdns.Msg).SetRcode(&m, mdns.RcodeFormatError))
		}
		all = ixfrRecords(z, theirs.Serial)
	}
	for len(all) > 0 {
		n := transferSplit(all)
		if err := writeMsg(w, transferMsg(&m, all[:n])); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

// ixfrRecords returns the records of the answer to an IXFR from serial
// theirs: the current SOA alone when theirs is the zone's serial or newer
// (RFC 1982); the steps of the history from theirs when it has them, each
// as the old SOA, the records deleted, the new SOA, the records added,
// between two copies of the current SOA (RFC 1995 section 4); else the
// whole zone, AXFR-style.
func ixfrRecords(z *staticZone, theirs uint32) []mdns.RR {
	if theirs == z.soa.Serial || serialGreater(theirs, z.soa.Serial) {
		return []mdns.RR{z.soa}
	}
	steps := z.changesFrom(theirs)
	if steps == nil {
		return append(append([]mdns.RR{z.soa}, z.rrs...), z.soa)
	}
	out := []mdns.RR{z.soa}
	for _, c := range steps {
		out = append(out, c.from)
		out = append(out, c.removed...)
		out = append(out, c.to)
		out = append(out, c.added...)
	}
	return append(out, z.soa)
}

// transferSplit returns how many of rrs (at least one) go in the next
// transfer message: at most transferChunk, and no more than fit in
// transferBytes uncompressed. LoadZones checked that each record alone fits
// a message.
func transferSplit(rrs []mdns.RR) int {
	size := 0
	for i, rr := range rrs {
		size += mdns.Len(rr)
		if i > 0 && (i == transferChunk || size > transferBytes) {
			return i
		}
	}
	return len(rrs)
}

// transferBytes bounds the records of a transfer message, leaving room
// for the header and question below the 65535 bytes a message may have.
const transferBytes = 65535 - 512

// transferMsg is one message of a transfer, with an OPT record when the
// request had one.
func transferMsg(req *mdns.Msg, rrs []mdns.RR) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Compress = true
	m.Answer = rrs
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(maxUDP, opt.Do())
	}
	return m
}

// writeMsg writes one length-prefixed DNS message.
func writeMsg(w io.Writer, m *mdns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return fmt.Errorf("dns: packing transfer: %w", err)
	}
	_, err = w.Write(binary.BigEndian.AppendUint16(nil, uint16(len(b))))
	if err == nil {
		_, err = w.Write(b)
	}
	return err
}

// Notify tells each zone's secondaries that the zone changed (RFC 1996),
// for the zones whose serial differs in old (nil: every zone) and that may
// be transferred. It tells them all at once, retries a few times, logs
// what failed, and returns when every secondary answered or gave up, or
// ctx ends: callers run it in a goroutine of their own, which they can
// wait for.
func Notify(ctx context.Context, zs, old *Zones, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, z := range zs.zones {
		if len(z.cfg.Notify) == 0 || !z.transfers() {
			continue
		}
		if prev := old.zone(z.origin); prev != nil && prev.soa.Serial == z.soa.Serial {
			continue
		}
		for _, target := range z.cfg.Notify {
			wg.Go(func() { notifyOne(ctx, z, target, logger) })
		}
	}
}

func notifyOne(ctx context.Context, z *staticZone, target netip.AddrPort, logger *slog.Logger) {
	m := new(mdns.Msg)
	m.SetNotify(z.origin)
	m.Authoritative = true
	m.Answer = []mdns.RR{z.soa}
	c := &mdns.Client{Net: "udp", Timeout: 2 * time.Second}
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(attempt) * time.Second):
			}
		}
		var resp *mdns.Msg
		resp, _, err = c.ExchangeContext(ctx, m, target.String())
		if err == nil && resp.Rcode == mdns.RcodeSuccess {
			logger.Info("notify acknowledged", "zone", z.origin, "secondary", target.String(), "serial", z.soa.Serial)
			return
		}
		if err == nil {
			err = fmt.Errorf("rcode %s", mdns.RcodeToString[resp.Rcode])
		}
	}
	logger.Warn("notify failed", "zone", z.origin, "secondary", target.String(), "err", err)
}
