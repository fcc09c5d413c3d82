package api

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// Store keeps the operators' overrides durably. Put and Delete return
// only once the change is stored: an acknowledged override survives a
// crash.
type Store interface {
	// List returns every stored override, sorted by ID.
	List() []model.Override
	// Put stores o under o.ID, replacing any override of that ID, which
	// it returns (nil if there was none).
	Put(o model.Override) (before *model.Override, err error)
	// Delete removes the override id and returns it (nil if there was none).
	Delete(id string) (before *model.Override, err error)
}

// FileStore keeps overrides in one JSON file, rewritten atomically on
// every change: a temporary file in the same directory, written and
// synced, renamed over the old one, and the directory synced. A process
// killed at any moment leaves either the old file or the new one.
//
// Every write also drops the overrides that have expired: the audit log
// keeps them, the store need not.
type FileStore struct {
	path  string
	now   func() time.Time // when expired overrides are pruned
	mu    sync.Mutex
	items map[string]model.Override
}

// storeFile is the file's content.
type storeFile struct {
	Overrides []Override `json:"overrides"`
}

// OpenFileStore reads the overrides at path; a missing file is an empty
// store. A file that does not parse is an error, never silently emptied.
func OpenFileStore(path string) (*FileStore, error) {
	s := &FileStore{path: path, now: time.Now, items: map[string]model.Override{}}
	removeStaleTemps(path)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overrides: %w", err)
	}
	var f storeFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("overrides: %s: %w", path, err)
	}
	for _, o := range f.Overrides {
		m, err := o.Model()
		if err != nil {
			return nil, fmt.Errorf("overrides: %s: %w", path, err)
		}
		s.items[m.ID] = m
	}
	return s, nil
}

// List returns every override, sorted by ID.
func (s *FileStore) List() []model.Override {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sortedOverrides(s.items)
}

func sortedOverrides(items map[string]model.Override) []model.Override {
	out := slices.Collect(maps.Values(items))
	slices.SortFunc(out, func(a, b model.Override) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Put stores o and returns the override it replaced.
func (s *FileStore) Put(o model.Override) (*model.Override, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, had := s.items[o.ID]
	next := PruneExpired(maps.Clone(s.items), s.now())
	next[o.ID] = o
	if err := s.write(next); err != nil {
		return nil, err
	}
	s.items = next
	if !had {
		return nil, nil
	}
	return &before, nil
}

// Delete removes an override and returns it.
func (s *FileStore) Delete(id string) (*model.Override, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	before, had := s.items[id]
	if !had {
		return nil, nil
	}
	next := PruneExpired(maps.Clone(s.items), s.now())
	delete(next, id)
	if err := s.write(next); err != nil {
		return nil, err
	}
	s.items = next
	return &before, nil
}

// PruneExpired deletes from items the overrides that no longer apply at
// now, and returns items.
func PruneExpired(items map[string]model.Override, now time.Time) map[string]model.Override {
	maps.DeleteFunc(items, func(_ string, o model.Override) bool { return !o.ActiveAt(now) })
	return items
}

// write replaces the file with items, atomically and durably.
func (s *FileStore) write(items map[string]model.Override) error {
	var f storeFile
	f.Overrides = []Override{}
	for _, o := range sortedOverrides(items) {
		f.Overrides = append(f.Overrides, OverrideOf(o))
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path, append(b, '\n')); err != nil {
		return fmt.Errorf("overrides: %w", err)
	}
	return nil
}

// writeAtomic replaces the file at path with data, atomically and
// durably: a temporary file in the same directory (named .BASE.*),
// written and synced, renamed over the old one, and the directory synced.
// A process killed at any moment leaves either the old file or the new
// one, and perhaps a temporary file, which removeStaleTemps clears.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// removeStaleTemps removes the temporary files of writes to path that a
// crash cut short: they hold nothing acknowledged, as the rename
// acknowledges.
func removeStaleTemps(path string) {
	stale, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".*"))
	for _, f := range stale {
		os.Remove(f)
	}
}
