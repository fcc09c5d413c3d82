package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// AuditRecord is one line of the audit log: a write and what it changed.
type AuditRecord struct {
	Time     time.Time `json:"time"`
	Identity string    `json:"identity"`
	Action   string    `json:"action"` // put-override, delete-override
	ID       string    `json:"id"`
	Before   *Override `json:"before"`
	After    *Override `json:"after"`
	// Error, when set, says that the write recorded just before (same
	// action and ID) did not happen: the record is written before the
	// store is, and the store then failed.
	Error string `json:"error,omitempty"`
}

// DamagedLine is a line of the audit log that holds no record, such as
// the torn last line of a crash or disk full.
type DamagedLine struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// AuditLog appends records as JSON lines to a file, synced before a write
// is acknowledged.
type AuditLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
	// torn is set when a write failed: part of its record may be in the
	// file, so the next record starts on a new line.
	torn bool
}

// OpenAuditLog opens (or creates) the audit log for appending. A file
// whose last line is torn gets a newline first, so that the next record
// starts on a line of its own instead of being glued to the damage.
func OpenAuditLog(path string) (*AuditLog, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if err := endLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log: %s: %w", path, err)
	}
	return &AuditLog{path: path, f: f}, nil
}

// endLine writes a newline at the end of f unless it is empty or ends in one.
func endLine(f *os.File) error {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	last := make([]byte, 1)
	if _, err := f.ReadAt(last, st.Size()-1); err != nil && err != io.EOF {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return err
	}
	return f.Sync()
}

// Append writes one record and syncs it to disk; only then may the write
// it records be acknowledged. A nil log records nothing.
func (a *AuditLog) Append(r AuditRecord) error {
	if a == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.torn {
		b = append([]byte{'\n'}, b...)
	}
	if _, err := a.f.Write(b); err != nil {
		a.torn = true
		return fmt.Errorf("audit log: %w", err)
	}
	a.torn = false
	if err := a.f.Sync(); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Read returns every record, oldest first, and the lines that hold no
// record: a damaged line is skipped, never a reason to lose the others.
func (a *AuditLog) Read() ([]AuditRecord, []DamagedLine, error) {
	if a == nil {
		return nil, nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := os.ReadFile(a.path)
	if err != nil {
		return nil, nil, fmt.Errorf("audit log: %w", err)
	}
	var out []AuditRecord
	var damaged []DamagedLine
	for i, line := range bytes.Split(b, []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var r AuditRecord
		dec := json.NewDecoder(bytes.NewReader(line))
		err := dec.Decode(&r)
		if err == nil && dec.More() {
			err = fmt.Errorf("more than one record on the line")
		}
		if err != nil {
			damaged = append(damaged, DamagedLine{Line: i + 1, Error: err.Error()})
			continue
		}
		out = append(out, r)
	}
	return out, damaged, nil
}

// Close closes the file.
func (a *AuditLog) Close() error {
	if a == nil {
		return nil
	}
	return a.f.Close()
}
