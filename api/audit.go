package api

import (
	"bytes"
	"encoding/json"
	"fmt"
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
}

// AuditLog appends records as JSON lines to a file, synced before a write
// is acknowledged.
type AuditLog struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

// OpenAuditLog opens (or creates) the audit log for appending.
func OpenAuditLog(path string) (*AuditLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &AuditLog{path: path, f: f}, nil
}

// Append writes one record. A nil log records nothing.
func (a *AuditLog) Append(r AuditRecord) error {
	if a == nil {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return a.f.Sync()
}

// Read returns every record, oldest first.
func (a *AuditLog) Read() ([]AuditRecord, error) {
	if a == nil {
		return nil, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := os.ReadFile(a.path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	var out []AuditRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	for dec.More() {
		var r AuditRecord
		if err := dec.Decode(&r); err != nil {
			return out, fmt.Errorf("audit log: %s: %w", a.path, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Close closes the file.
func (a *AuditLog) Close() error {
	if a == nil {
		return nil
	}
	return a.f.Close()
}
