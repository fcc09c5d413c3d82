package dns

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/model"
)

// fakeBook is a SerialBook in memory with the compare-and-swap of the
// real ones. race, when set, runs once between a read and the write that
// follows it, as another replica writing first would.
type fakeBook struct {
	recs   map[string]model.ZoneSerial
	writes int
	reads  int
	race   func(b *fakeBook)
	err    error
}

func newFakeBook() *fakeBook { return &fakeBook{recs: map[string]model.ZoneSerial{}} }

func (b *fakeBook) UpdateSerial(_ context.Context, zone string, decide func(model.ZoneSerial, bool) (model.ZoneSerial, bool)) error {
	if b.err != nil {
		return b.err
	}
	for {
		cur, found := b.recs[zone]
		b.reads++
		next, write := decide(cur, found)
		if !write {
			return nil
		}
		if race := b.race; race != nil {
			b.race = nil
			race(b)
		}
		if now, ok := b.recs[zone]; ok != found || now != cur {
			continue // another writer was first: read again
		}
		b.recs[zone] = next
		b.writes++
		return nil
	}
}

// loadZones parses conf and loads its zones after prev, as a start
// (prev nil) or a reload does.
func loadZones(t *testing.T, conf string, prev *Zones, now int64) *Zones {
	t.Helper()
	c, err := config.Parse("t.conf", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	zs, err := LoadZones(zonesOf(c.Zones), prev, time.Unix(now, 0))
	if err != nil {
		t.Fatal(err)
	}
	return zs
}

// assign loads conf after prev and gives it the book's serials at now.
func assign(t *testing.T, conf string, prev *Zones, book SerialBook, now int64) *Zones {
	t.Helper()
	zs, err := AssignSerials(context.Background(), loadZones(t, conf, prev, now), book, time.Unix(now, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	return zs
}

const (
	serialConfA = "zone example.org {\n    ns ns.example.net\n    record www A 192.0.2.1\n}\n"
	serialConfB = "zone example.org {\n    ns ns.example.net\n    record www A 192.0.2.2\n}\n"
)

// TestSerialSharedThroughBook: processes that load the same content get
// the serial the book recorded for it, whatever the time of their start;
// a change makes it grow to the time, or by one when the clock is behind
// the recorded serial or so far ahead that the jump would reach 2^31.
func TestSerialSharedThroughBook(t *testing.T) {
	book := newFakeBook()
	first := assign(t, serialConfA, nil, book, 1000)
	if got := first.Serial("example.org"); got != 1000 {
		t.Fatalf("first serial %d, want the time of the first load, 1000", got)
	}
	// Another replica, or a restart, much later: the same serial, no write.
	writes := book.writes
	if got := assign(t, serialConfA, nil, book, 5000).Serial("example.org"); got != 1000 {
		t.Errorf("a second process with the same content serves %d, want the recorded 1000", got)
	}
	// A reload with the same content keeps it.
	if got := assign(t, serialConfA, first, book, 6000).Serial("example.org"); got != 1000 {
		t.Errorf("a reload with the same content serves %d, want 1000", got)
	}
	if book.writes != writes {
		t.Errorf("unchanged content was written to the book %d times", book.writes-writes)
	}
	if rec := book.recs["example.org"]; rec.Serial != 1000 || len(rec.Hash) != 64 {
		t.Errorf("the book holds %+v, want serial 1000 and a SHA-256", rec)
	}

	for _, tc := range []struct {
		name     string
		recorded uint32
		now      int64
		want     uint32
	}{
		{"the clock ahead: the time", 1000, 7000, 7000},
		{"the clock behind: one more", 9000, 7000, 9001},
		{"the clock equal: one more", 7000, 7000, 7001},
		{"a jump of 2^31 or more: one more", 100, 100 + 1<<31, 101},
		{"a jump just under 2^31: the time", 100, 100 + 1<<31 - 1, 100 + 1<<31 - 1},
		{"across the wrap of 2^32: the time", 1<<32 - 10, 1<<32 + 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			book := newFakeBook()
			book.recs["example.org"] = model.ZoneSerial{Serial: tc.recorded, Hash: "other content"}
			got := assign(t, serialConfB, nil, book, tc.now).Serial("example.org")
			if got != tc.want {
				t.Errorf("changed content with %d recorded at %d: serial %d, want %d", tc.recorded, tc.now, got, tc.want)
			}
			if rec := book.recs["example.org"]; rec.Serial != tc.want {
				t.Errorf("the book holds %+v, want serial %d", rec, tc.want)
			}
		})
	}
}

// TestSerialConflict: when another replica writes between our read and
// our write, the book is read again. The same content there means the
// same serial is adopted, without a write of ours; other content means
// one more than what it wrote.
func TestSerialConflict(t *testing.T) {
	hashB := loadZones(t, serialConfB, nil, 1).zone("example.org.").hash
	t.Run("the same content: adopt", func(t *testing.T) {
		book := newFakeBook()
		book.recs["example.org"] = model.ZoneSerial{Serial: 1000, Hash: "a"}
		book.race = func(b *fakeBook) { b.recs["example.org"] = model.ZoneSerial{Serial: 1999, Hash: hashB}; b.writes++ }
		if got := assign(t, serialConfB, nil, book, 2000).Serial("example.org"); got != 1999 {
			t.Errorf("serial %d, want 1999, which the other replica recorded for the same content", got)
		}
		if book.writes != 1 || book.recs["example.org"].Serial != 1999 {
			t.Errorf("writes %d, book %+v: want only the other replica's", book.writes, book.recs)
		}
	})
	t.Run("other content: retry", func(t *testing.T) {
		book := newFakeBook()
		book.recs["example.org"] = model.ZoneSerial{Serial: 1000, Hash: "a"}
		book.race = func(b *fakeBook) { b.recs["example.org"] = model.ZoneSerial{Serial: 2000, Hash: "c"} }
		if got := assign(t, serialConfB, nil, book, 2000).Serial("example.org"); got != 2001 {
			t.Errorf("serial %d, want 2001, after the other replica's 2000", got)
		}
		if rec := book.recs["example.org"]; rec.Serial != 2001 || rec.Hash != hashB {
			t.Errorf("book %+v", rec)
		}
	})
}

// logTo returns a logger writing text lines into buf.
func logTo(buf *bytes.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }

// TestExplicitSerial: serial N in the soa block is served as it is, the
// book is neither read nor written, and a reload that changed the records
// without raising N logs a warning.
func TestExplicitSerial(t *testing.T) {
	withSerial := func(conf string, n string) string {
		return strings.Replace(conf, "    ns ns.example.net\n", "    ns ns.example.net\n    soa ns.example.net hostmaster@example.org {\n        serial "+n+"\n    }\n", 1)
	}
	book := newFakeBook()
	var logs bytes.Buffer
	load := func(conf string, prev *Zones, now int64) *Zones {
		zs, err := AssignSerials(context.Background(), loadZones(t, conf, prev, now), book, time.Unix(now, 0), logTo(&logs))
		if err != nil {
			t.Fatal(err)
		}
		return zs
	}
	z1 := load(withSerial(serialConfA, "42"), nil, 1000)
	if got := z1.Serial("example.org"); got != 42 {
		t.Errorf("serial %d, want the explicit 42", got)
	}
	if book.reads != 0 || book.writes != 0 {
		t.Errorf("the book was read %d and written %d times for an explicit serial", book.reads, book.writes)
	}
	z2 := load(withSerial(serialConfB, "42"), z1, 2000)
	if got := z2.Serial("example.org"); got != 42 {
		t.Errorf("serial %d, want the explicit 42 even when it did not grow", got)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "zone=example.org") || !strings.Contains(logs.String(), "did not grow") {
		t.Errorf("no warning for changed records under the same serial; logs:\n%s", logs.String())
	}
	logs.Reset()
	if got := load(withSerial(serialConfA, "43"), z2, 3000).Serial("example.org"); got != 43 {
		t.Errorf("serial %d, want 43", got)
	}
	if logs.Len() != 0 {
		t.Errorf("a raised serial was warned about:\n%s", logs.String())
	}
}

// TestSerialWithoutStore: with no book the serial is the time of the
// load, and a warning names the zone; a reload with the same content
// neither changes it nor warns again.
func TestSerialWithoutStore(t *testing.T) {
	var logs bytes.Buffer
	zs, err := AssignSerials(context.Background(), loadZones(t, serialConfA, nil, 1000), nil, time.Unix(1000, 0), logTo(&logs))
	if err != nil {
		t.Fatal(err)
	}
	if got := zs.Serial("example.org"); got != 1000 {
		t.Errorf("serial %d, want the time, 1000", got)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "zone=example.org") {
		t.Errorf("no warning naming the zone:\n%s", logs.String())
	}
	logs.Reset()
	again, err := AssignSerials(context.Background(), loadZones(t, serialConfA, zs, 2000), nil, time.Unix(2000, 0), logTo(&logs))
	if err != nil || again.Serial("example.org") != 1000 || logs.Len() != 0 {
		t.Errorf("reload: serial %d, err %v, logs %q", again.Serial("example.org"), err, logs.String())
	}
}

// TestSerialBookError: a book that cannot be read fails the assignment,
// naming the zone, so that a start stops and a reload keeps what runs.
func TestSerialBookError(t *testing.T) {
	book := newFakeBook()
	book.err = errors.New("the store is down")
	_, err := AssignSerials(context.Background(), loadZones(t, serialConfA, nil, 1000), book, time.Unix(1000, 0), nil)
	if err == nil || !strings.Contains(err.Error(), "example.org") || !strings.Contains(err.Error(), "the store is down") {
		t.Errorf("err = %v, want the zone and the cause", err)
	}
}

// TestContentHash: the hash depends on the records, not on the order they
// are written in, nor on the serial; it is fixed for given records, so
// that every version of Meridian finds the serial recorded by another.
func TestContentHash(t *testing.T) {
	const conf = "zone example.org {\n    ns ns.example.net\n    record www A 192.0.2.1\n    record @ MX 10 mail\n    record mail A 192.0.2.25\n}\n"
	const reordered = "zone example.org {\n    ns ns.example.net\n    record mail A 192.0.2.25\n    record @ MX 10 mail\n    record www A 192.0.2.1\n}\n"
	h := loadZones(t, conf, nil, 1000).zone("example.org.").hash
	if got := loadZones(t, reordered, nil, 2000).zone("example.org.").hash; got != h {
		t.Errorf("reordered records hash to %s, want %s", got, h)
	}
	// The value for these records; a change here makes every zone's serial grow once.
	const golden = "aac26e6c186e1fca57179c18e3841fb105c438fbf40d63485e854a3443e827a0"
	if h != golden {
		t.Errorf("hash %s, want %s: a new hash gives every zone a new serial on upgrade", h, golden)
	}
	for _, other := range []string{
		strings.Replace(conf, "192.0.2.25", "192.0.2.26", 1),
		strings.Replace(conf, "record www A", "record www 60 A", 1),
		strings.Replace(conf, "    ns ns.example.net\n", "    ns ns.example.net\n    soa ns.example.net hostmaster@example.org {\n        minimum 30\n    }\n", 1),
	} {
		if loadZones(t, other, nil, 1000).zone("example.org.").hash == h {
			t.Errorf("a change hashes the same:\n%s", other)
		}
	}
}

// TestRecordsNotWritten: hashing and compiling a zone leave its records
// as they are (mdns.PackRR would set each one's Rdlength), since the next
// version of a zone shares them with the one queries are reading; the race
// detector saw the write when the keys changed under a running server.
func TestRecordsNotWritten(t *testing.T) {
	h := newTestHandler(t, signedConf(t.TempDir()))
	for _, z := range h.Zones().zones {
		for _, rr := range append([]mdns.RR{z.soa}, z.rrs...) {
			if rr.Header().Rdlength != 0 {
				t.Errorf("%s: Rdlength %d written", rr, rr.Header().Rdlength)
			}
		}
	}
}
