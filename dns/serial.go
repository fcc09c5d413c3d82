package dns

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/model"
)

// A zone's SOA serial must be the same on every replica and across
// restarts, and grow when, and only when, the static content changes:
// secondaries and monitoring compare serials, and two replicas answering
// the same content under two serials look like two versions of the zone.
// So a serial depends only on the content and its history, which the
// replicas share through the store they already share for overrides (a
// SerialBook): per zone, the serial last given and the hash of the content
// it was given to.

// SerialBook keeps one model.ZoneSerial per zone in a store every replica
// reads and writes. api.FileSerials and kubestore.Serials implement it.
type SerialBook interface {
	// UpdateSerial reads the record of zone (the origin without its final
	// dot) and calls decide with it (found false: there is none yet). When
	// decide asks to write, the book stores next only if the stored record
	// is still the one decide saw (a compare-and-swap); when another
	// writer got there first, it reads again and calls decide again. It
	// returns nil once decide asked for no write, or its write was stored.
	UpdateSerial(ctx context.Context, zone string, decide func(cur model.ZoneSerial, found bool) (next model.ZoneSerial, write bool)) error
}

// AssignSerials returns zs with each zone's serial taken from book, for
// the zones whose soa block has no serial of its own; zs is not changed.
// It is the step after LoadZones that does I/O, at start and on reload.
//
// A zone whose content hash is the one recorded gets the recorded serial;
// a changed one gets max(recorded + 1, now), written back (nextSerial).
// Should another replica record the same content first, its serial is
// taken: replicas that load the same new config end with one serial.
//
// Without a book (no store is configured) the serials LoadZones gave stay:
// the time the zone was first loaded, which differs between replicas and
// restarts; a warning names each such zone. A zone with its own serial
// whose content changed while the serial did not grow is warned about too.
func AssignSerials(ctx context.Context, zs *Zones, book SerialBook, now time.Time, logger *slog.Logger) (*Zones, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	out := &Zones{}
	var errs []error
	for _, z := range zs.zones {
		name := strings.TrimSuffix(z.origin, ".")
		switch {
		case z.cfg.SOA.HasSerial:
			if p := z.prev; p != nil && p.hash != z.hash && !serialGreater(z.soa.Serial, p.soa.Serial) {
				logger.Warn("the zone's static records changed but its serial did not grow: secondaries keep the old records; raise serial in its soa block",
					"zone", name, "serial", z.soa.Serial, "previous_serial", p.soa.Serial)
			}
		case book == nil:
			if z.prev == nil {
				logger.Warn("the zone's SOA serial is the time it was loaded: each replica and each restart serves its own; "+
					"set serial in its soa block, or an overrides store, where replicas share it",
					"zone", name, "serial", z.soa.Serial)
			}
		default:
			var rec model.ZoneSerial
			err := book.UpdateSerial(ctx, name, func(cur model.ZoneSerial, found bool) (model.ZoneSerial, bool) {
				var write bool
				rec, write = nextSerial(cur, found, z.hash, now)
				return rec, write
			})
			if err != nil {
				errs = append(errs, fmt.Errorf("dns: zone %s: SOA serial: %w", name, err))
				continue
			}
			z = z.withSerial(rec.Serial)
		}
		out.zones = append(out.zones, z)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// nextSerial decides the serial of content hash from the book's record:
// the recorded one when the content is the same; else the time now, or
// the recorded serial + 1 when now is not ahead of it in RFC 1982
// arithmetic (the clock is behind, or so far ahead that the jump would be
// 2^31 or more, which secondaries would read as going back).
func nextSerial(cur model.ZoneSerial, found bool, hash string, now time.Time) (model.ZoneSerial, bool) {
	if found && cur.Hash == hash {
		return cur, false
	}
	serial := uint32(now.Unix())
	if found && !serialGreater(serial, cur.Serial) {
		serial = cur.Serial + 1
	}
	return model.ZoneSerial{Serial: serial, Hash: hash}, true
}

// serialGreater reports whether serial a is greater than b in RFC 1982
// arithmetic; serials 2^31 apart are neither.
func serialGreater(a, b uint32) bool { return int32(a-b) > 0 }

// maxHistory bounds the versions of a zone kept for IXFR, as Knot's
// journal is bounded: 16 reloads that changed the zone.
const maxHistory = 16

// changeset is one step of a zone's history, as IXFR sends it: the SOA
// before and after, the records deleted and the records added.
type changeset struct {
	from, to       *mdns.SOA
	removed, added []mdns.RR
}

// priorVersion is what a new version of a zone needs of the one served
// before it to extend the history, without holding on to it.
type priorVersion struct {
	soa            *mdns.SOA
	hash           string
	history        []changeset
	removed, added []mdns.RR // from its records to the new version's
}

func priorOf(old, z *staticZone) *priorVersion {
	p := &priorVersion{soa: old.soa, hash: old.hash, history: old.history}
	if old.hash != z.hash {
		p.removed, p.added = diffRecords(old.rrs, z.rrs)
	}
	return p
}

// withSerial returns a copy of z that serves serial, its history that of
// the version before extended by one step when the serial grew, kept when
// neither serial nor content changed, and dropped otherwise (a serial that
// went back, or new content under the old serial: no secondary could
// follow those steps, so they get the whole zone).
func (z *staticZone) withSerial(serial uint32) *staticZone {
	n := *z
	soa := *z.soa
	soa.Serial = serial
	n.soa = &soa
	n.history = nil
	n.online = &onlineAnswers{}
	if p := z.prev; p != nil {
		switch {
		case serial == p.soa.Serial && p.hash == z.hash:
			n.history = p.history
		case serialGreater(serial, p.soa.Serial):
			h := append(slices.Clip(p.history), changeset{from: p.soa, to: n.soa, removed: p.removed, added: p.added})
			n.history = h[max(0, len(h)-maxHistory):]
		}
	}
	return &n
}

// changesFrom returns the steps of the history from serial to the current
// version, nil when serial is not where one of them starts.
func (z *staticZone) changesFrom(serial uint32) []changeset {
	for i, c := range z.history {
		if c.from.Serial == serial {
			return z.history[i:]
		}
	}
	return nil
}

// diffRecords returns the records of old that cur lacks and those of cur
// that old lacks, compared by their wire form (a TTL change is a deletion
// and an addition, as RFC 1995 sends it).
func diffRecords(old, cur []mdns.RR) (removed, added []mdns.RR) {
	buf := make([]byte, maxMsg)
	set := func(rrs []mdns.RR) ([]string, map[string]bool) {
		keys := make([]string, len(rrs))
		in := make(map[string]bool, len(rrs))
		for i, rr := range rrs {
			keys[i] = wireForm(rr, buf)
			in[keys[i]] = true
		}
		return keys, in
	}
	oldKeys, inOld := set(old)
	curKeys, inCur := set(cur)
	for i, rr := range old {
		if !inCur[oldKeys[i]] {
			removed = append(removed, rr)
		}
	}
	for i, rr := range cur {
		if !inOld[curKeys[i]] {
			added = append(added, rr)
		}
	}
	return removed, added
}

// contentHash identifies a zone's static content, serial aside: SHA-256
// over the sorted wire forms of the SOA (serial 0) and the records. The
// wire form is the DNS protocol's own, so the hash is the same in every
// process and every version of Meridian that loads the same records, and
// does not depend on how a library prints them.
func contentHash(soa *mdns.SOA, rrs []mdns.RR) string {
	s := *soa
	s.Serial = 0
	buf := make([]byte, maxMsg)
	forms := []string{wireForm(&s, buf)}
	for _, rr := range rrs {
		forms = append(forms, wireForm(rr, buf))
	}
	slices.Sort(forms)
	h := sha256.New()
	for _, f := range forms {
		h.Write(binary.BigEndian.AppendUint16(nil, uint16(len(f))))
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// wireForm is rr packed without compression, in buf (maxMsg bytes), as a
// string. LoadZones checked that every record packs.
func wireForm(rr mdns.RR, buf []byte) string {
	n, err := packRR(rr, buf)
	if err != nil {
		return rr.String()
	}
	return string(buf[:n])
}

// packRR packs rr without compression into buf, as mdns.PackRR does, but
// leaves rr alone: PackRR writes the record's Rdlength, and the records of
// the zone version being served are read by queries (online answers copy
// them) while the next version, which shares them, is hashed and compiled.
func packRR(rr mdns.RR, buf []byte) (int, error) {
	return mdns.PackRR(mdns.Copy(rr), buf, 0, nil, false)
}
