package api

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// crashSerialsEnv, when set to a serials file's path, makes this test
// binary the child of TestSerialsSurviveSIGKILL: it records ever larger
// serials, printing "acked N" as each write returns.
const crashSerialsEnv = "MERIDIAN_CRASH_SERIALS"

func writeSerialsForever(path string) error {
	s, err := OpenFileSerials(path)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	for n := uint32(1); ; n++ {
		err := s.UpdateSerial(context.Background(), "example.org", func(model.ZoneSerial, bool) (model.ZoneSerial, bool) {
			return model.ZoneSerial{Serial: n, Hash: strings.Repeat("h", int(n%500)+1)}, true
		})
		if err != nil {
			return err
		}
		fmt.Printf("acked %d\n", n)
	}
}

// recordSerial records serial n with hash h for zone, unconditionally.
func recordSerial(t *testing.T, s *FileSerials, zone string, n uint32, h string) {
	t.Helper()
	err := s.UpdateSerial(context.Background(), zone, func(model.ZoneSerial, bool) (model.ZoneSerial, bool) {
		return model.ZoneSerial{Serial: n, Hash: h}, true
	})
	if err != nil {
		t.Fatal(err)
	}
}

// readSerial returns what decide sees for zone.
func readSerial(t *testing.T, s *FileSerials, zone string) (model.ZoneSerial, bool) {
	t.Helper()
	var rec model.ZoneSerial
	var found bool
	err := s.UpdateSerial(context.Background(), zone, func(cur model.ZoneSerial, ok bool) (model.ZoneSerial, bool) {
		rec, found = cur, ok
		return cur, false
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec, found
}

// TestFileSerials: records are kept per zone across opens, in a file an
// operator can read; decide sees none for a new zone; a decision not to
// write leaves the file as it was.
func TestFileSerials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serials.json")
	s, err := OpenFileSerials(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, found := readSerial(t, s, "example.org"); found {
		t.Error("a record in a store that does not exist yet")
	}
	recordSerial(t, s, "example.org", 1700000000, "abc")
	recordSerial(t, s, "example.net", 7, "def")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenFileSerials(path)
	if err != nil {
		t.Fatal(err)
	}
	if rec, found := readSerial(t, again, "example.org"); !found || rec != (model.ZoneSerial{Serial: 1700000000, Hash: "abc"}) {
		t.Errorf("after reopening: %+v %v", rec, found)
	}
	if after, _ := os.Stat(path); !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("a read without a write replaced the file")
	}
	var f struct {
		Zones map[string]struct {
			Serial uint32
			Hash   string
		}
	}
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &f); err != nil || f.Zones["example.net"].Serial != 7 || f.Zones["example.net"].Hash != "def" {
		t.Errorf("file %s: %v", b, err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".serials.json.*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// Every write replaces the file by a rename: the old file is never
	// written in place.
	recordSerial(t, again, "example.org", 1700000001, "abd")
	if after, _ := os.Stat(path); os.SameFile(before, after) {
		t.Error("the file was rewritten in place, not replaced")
	}
}

// TestFileSerialsSharedByProcesses updates one file through many
// FileSerials at once, each with its own open lock file as another process
// would have: every update reads the record the one before wrote, none is
// lost.
func TestFileSerialsSharedByProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serials.json")
	const writers, rounds = 8, 10
	var wg sync.WaitGroup
	for range writers {
		s, err := OpenFileSerials(path)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for range rounds {
				err := s.UpdateSerial(context.Background(), "example.org", func(cur model.ZoneSerial, _ bool) (model.ZoneSerial, bool) {
					return model.ZoneSerial{Serial: cur.Serial + 1, Hash: fmt.Sprint(cur.Serial + 1)}, true
				})
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	s, _ := OpenFileSerials(path)
	s.UpdateSerial(context.Background(), "example.org", func(cur model.ZoneSerial, _ bool) (model.ZoneSerial, bool) {
		if cur.Serial != writers*rounds {
			t.Errorf("serial %d after %d updates: some were lost", cur.Serial, writers*rounds)
		}
		return cur, false
	})
}

// TestFileSerialsRefuseACorruptFile: a file that does not parse is an
// error at open and at every update, and is left as it is, never emptied.
func TestFileSerialsRefuseACorruptFile(t *testing.T) {
	for name, content := range map[string]string{
		"not JSON":          `{"zones": {"example.org": {"serial": 17`,
		"a serial of -1":    `{"zones": {"example.org": {"serial": -1, "hash": "x"}}}`,
		"a record, no hash": `{"zones": {"example.org": {"serial": 17}}}`,
		"null":              `null`,
		"no zones":          `{}`,
		"zones null":        `{"zones": null}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "serials.json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := OpenFileSerials(path); err == nil || !strings.Contains(err.Error(), path) {
				t.Errorf("open: %v, want an error naming the file", err)
			}
			s := &FileSerials{path: path} // as if it broke after the start
			called := false
			err := s.UpdateSerial(context.Background(), "example.org", func(model.ZoneSerial, bool) (model.ZoneSerial, bool) {
				called = true
				return model.ZoneSerial{Serial: 1, Hash: "y"}, true
			})
			if err == nil || called {
				t.Errorf("update: err %v, decide called %v; want an error before deciding", err, called)
			}
			if b, _ := os.ReadFile(path); string(b) != content {
				t.Errorf("the corrupt file was changed to %q", b)
			}
		})
	}
}

// TestSerialsSurviveSIGKILL kills a process recording serials at random
// moments: the file always opens, and holds the last acknowledged serial
// or the one being written after it.
func TestSerialsSurviveSIGKILL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "serials.json")
	acked := 0
	for round := range 50 {
		os.Remove(path) // each child counts from 1
		last := 0
		for _, line := range killAtRandom(t, crashSerialsEnv, path, 20*time.Millisecond) {
			if n, ok := strings.CutPrefix(line, "acked "); ok {
				last, _ = strconv.Atoi(n)
			}
		}
		s, err := OpenFileSerials(path)
		if err != nil {
			t.Fatalf("round %d: the file does not open after a kill: %v", round, err)
		}
		rec, found := readSerial(t, s, "example.org")
		if last > 0 && (!found || int(rec.Serial) < last || int(rec.Serial) > last+1) {
			t.Fatalf("round %d: serial %d acknowledged, the file holds %+v", round, last, rec)
		}
		acked += last
	}
	if acked < 50 {
		t.Errorf("only %d serials acknowledged over 50 kills; the kills came too early to test much", acked)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".serials.json.*")); len(left) > 1 {
		t.Errorf("%d temporary files left behind: %v", len(left), left)
	}
}
