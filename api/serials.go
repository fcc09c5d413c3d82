package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/meridian-gtm/meridian/model"
)

// FileSerials keeps the SOA serial of each zone with the hash of the
// content it was given to (dns.SerialBook) in one JSON file, for a
// replica whose overrides live in a file: cmd/meridian puts it beside the
// overrides, as serials.json. It is rewritten atomically like FileStore's
// file, and one that does not parse is an error, never silently emptied:
// the serials would start again from the current time.
type FileSerials struct {
	path string
	mu   sync.Mutex // one update at a time: read, decide, write
}

// serialsFile is the file's content: zone (origin without the final dot)
// to its record.
type serialsFile struct {
	Zones map[string]zoneSerial `json:"zones"`
}

type zoneSerial struct {
	Serial uint32 `json:"serial"`
	Hash   string `json:"hash"`
}

// OpenFileSerials checks the serials file at path, which need not exist
// yet, and clears the temporary files of writes a crash cut short.
func OpenFileSerials(path string) (*FileSerials, error) {
	// Under the lock: a temporary file is stale only when no other
	// process sharing the directory is between its write and its rename.
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fmt.Errorf("serials: %w", err)
	}
	defer unlock()
	removeStaleTemps(path)
	s := &FileSerials{path: path}
	if _, err := s.read(); err != nil {
		return nil, err
	}
	return s, nil
}

// Path returns the file's path.
func (s *FileSerials) Path() string { return s.path }

// read returns the records of the file; none when it does not exist.
func (s *FileSerials) read() (map[string]zoneSerial, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]zoneSerial{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("serials: %w", err)
	}
	var f serialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("serials: %s: %w", s.path, err)
	}
	if f.Zones == nil { // null, {} or {"zones": null}: not a file this wrote
		return nil, fmt.Errorf("serials: %s: no \"zones\" object", s.path)
	}
	for zone, rec := range f.Zones {
		if rec.Hash == "" {
			return nil, fmt.Errorf("serials: %s: zone %s has no hash", s.path, zone)
		}
	}
	return f.Zones, nil
}

// UpdateSerial reads the record of zone from the file, calls decide with
// it, and writes the file back when decide asks to. The file is read on
// every call, so that it is the file that counts, not a copy in memory,
// and holding a lock from the read to the write is its compare-and-swap:
// a mutex for this process, and an flock on PATH.lock for others that
// share the directory, so that none writes over a record it did not read.
func (s *FileSerials) UpdateSerial(_ context.Context, zone string, decide func(model.ZoneSerial, bool) (model.ZoneSerial, bool)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(s.path + ".lock")
	if err != nil {
		return fmt.Errorf("serials: %w", err)
	}
	defer unlock()
	recs, err := s.read()
	if err != nil {
		return err
	}
	cur, found := recs[zone]
	next, write := decide(model.ZoneSerial{Serial: cur.Serial, Hash: cur.Hash}, found)
	if !write {
		return nil
	}
	recs[zone] = zoneSerial{Serial: next.Serial, Hash: next.Hash}
	b, err := json.MarshalIndent(serialsFile{Zones: recs}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path, append(b, '\n')); err != nil {
		return fmt.Errorf("serials: %w", err)
	}
	return nil
}
