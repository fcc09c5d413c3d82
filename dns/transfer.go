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
// their answers depend on the client. They go through miekg/dns: they are
// rare, and correctness matters more than speed there.

// transfer answers AXFR and IXFR questions. Over UDP an allowed client is
// told to retry over TCP (TC); over TCP the outcome asks the caller to stream
// the zone. Clients outside the zone's allow_transfer list get REFUSED.
func (h *Handler) transfer(zt *zoneTable, out []byte, q *query, client netip.Addr, tcp bool, o *outcome) []byte {
	if !allowed(zt.static.cfg.AllowTransfer, client) {
		o.rcode = refused
		return finish(out, q, nil, refused, 0)
	}
	if !tcp {
		o.truncated = true
		return truncated(out, q, rcodeOK)
	}
	o.transfer = true
	return nil
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
		return fmt.Errorf("dns: transfer request: %v", err)
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
	// IXFR from the current serial: one SOA says the client is up to date.
	if m.Question[0].Qtype == mdns.TypeIXFR && len(m.Ns) == 1 {
		if soa, ok := m.Ns[0].(*mdns.SOA); ok && soa.Serial == z.soa.Serial {
			return writeMsg(w, transferMsg(&m, []mdns.RR{z.soa}))
		}
	}
	// Otherwise the whole zone, AXFR-style (RFC 1995 allows it for IXFR).
	all := append(append([]mdns.RR{z.soa}, z.rrs...), z.soa)
	for len(all) > 0 {
		n := transferSplit(all)
		if err := writeMsg(w, transferMsg(&m, all[:n])); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
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

func transferMsg(req *mdns.Msg, rrs []mdns.RR) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Compress = true
	m.Answer = rrs
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
// for the zones whose serial differs in old (nil: every zone). It tells
// them all at once, retries a few times, logs what failed, and returns when
// every secondary answered or gave up, or ctx ends: callers run it in a
// goroutine of their own, which they can wait for.
func Notify(ctx context.Context, zs, old *Zones, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, z := range zs.zones {
		if len(z.cfg.Notify) == 0 {
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
