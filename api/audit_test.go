package api

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// TestAuditLogSurvivesATornLine: a torn last line (a crash mid-write) is
// skipped and reported; it neither hides the good records nor swallows
// the next one.
func TestAuditLogSurvivesATornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	good := `{"time":"2026-01-02T03:04:05Z","identity":"alice","action":"put-override","id":"a","before":null,"after":null}`
	if err := os.WriteFile(path, []byte(good+"\n"+"not json\n"+`{"time":"2026-01-02T03:0`), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Append(AuditRecord{Time: time.Now().UTC(), Identity: "bob", Action: "delete-override", ID: "b"}); err != nil {
		t.Fatal(err)
	}
	recs, damaged, err := a.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].ID != "a" || recs[1].ID != "b" || recs[1].Identity != "bob" {
		t.Errorf("records %+v, want a and b", recs)
	}
	if len(damaged) != 2 || damaged[0].Line != 2 || damaged[1].Line != 3 || damaged[0].Error == "" {
		t.Errorf("damaged lines %+v, want lines 2 and 3", damaged)
	}
}

// TestAuditLogFailedWriteStartsANewLine: after a write that failed (disk
// full) and may have left part of its record, the next record starts on a
// line of its own.
func TestAuditLogFailedWriteStartsANewLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	a, err := OpenAuditLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Append(AuditRecord{Identity: "alice", Action: "put-override", ID: "a"}); err != nil {
		t.Fatal(err)
	}
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	real := a.f
	a.f = full // every write fails with ENOSPC
	if err := a.Append(AuditRecord{Identity: "bob", Action: "put-override", ID: "lost"}); err == nil {
		t.Fatal("an append to a full disk succeeded")
	}
	full.Close()
	a.f = real
	// What a write cut short by a full disk leaves behind.
	if _, err := a.f.Write([]byte(`{"time":"2026-01-02T03:0`)); err != nil {
		t.Fatal(err)
	}
	if err := a.Append(AuditRecord{Identity: "carol", Action: "delete-override", ID: "c"}); err != nil {
		t.Fatal(err)
	}
	recs, damaged, err := a.Read()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].ID != "a" || recs[1].ID != "c" || len(damaged) != 1 || damaged[0].Line != 2 {
		t.Errorf("records %+v, damaged %+v; want a and c, and line 2 damaged", recs, damaged)
	}
}

// TestAuditEndpointReportsDamage: GET /api/v1/audit answers the good
// records and names the damaged lines.
func TestAuditEndpointReportsDamage(t *testing.T) {
	f := newFixture(t)
	f.do("PUT", "/api/v1/overrides/x", adminToken, `{"kind":"drain","cluster":"us-east","reason":"r"}`, nil)
	// A torn line, as a crash in the middle of a write leaves it.
	fh, err := os.OpenFile(filepath.Join(f.dir, "audit.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"time":"2026-`)
	fh.Close()
	// A restart reopens the log; the fixture's API keeps its *AuditLog, so
	// the reopened file is swapped in under it.
	reopened, err := OpenAuditLog(filepath.Join(f.dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	f.audit.f.Close()
	f.audit.f = reopened.f
	f.do("DELETE", "/api/v1/overrides/x", adminToken, "", nil)

	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/audit", nil)
	req.Header.Set("Authorization", "Bearer "+readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(auditDamagedHeader) != "2" {
		t.Errorf("GET /api/v1/audit: %d, %s: %q, want 200 naming line 2", resp.StatusCode, auditDamagedHeader, resp.Header.Get(auditDamagedHeader))
	}
	var recs []AuditRecord
	if code, text := f.do("GET", "/api/v1/audit", readToken, "", &recs); code != 200 || len(recs) != 2 || recs[1].Action != "delete-override" {
		t.Errorf("GET /api/v1/audit: %d %s, want both records", code, text)
	}
}

// TestUnauditedWritesAreNotKept: when the audit record cannot be written,
// the API answers 500 and neither the store nor the Plan changes.
func TestUnauditedWritesAreNotKept(t *testing.T) {
	f := newFixture(t)
	if code, text := f.do("PUT", "/api/v1/overrides/keep", adminToken, `{"kind":"drain","cluster":"us-east","reason":"r"}`, nil); code != 201 {
		t.Fatalf("PUT: %d %s", code, text)
	}
	check := f.unchanged()
	f.audit.f.Close() // every append fails from now on
	code, text := f.do("PUT", "/api/v1/overrides/x", adminToken, `{"kind":"drain","cluster":"eu-west","reason":"r"}`, nil)
	wantError(t, "PUT with a broken audit log", code, text, 500, "")
	code, text = f.do("DELETE", "/api/v1/overrides/keep", adminToken, "", nil)
	wantError(t, "DELETE with a broken audit log", code, text, 500, "")
	check("writes that could not be audited")
	if f.share("eu-west", "eu-west") != 1 {
		t.Error("the unaudited drain of eu-west is in force")
	}
}

// TestWritesPruneExpiredOverrides: the next write drops overrides that
// have expired.
func TestWritesPruneExpiredOverrides(t *testing.T) {
	path := filepath.Join(t.TempDir(), "overrides.json")
	s, err := OpenFileStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return t0 }
	s.Put(model.Override{ID: "short", Kind: model.Drain, Cluster: "eu-west", Reason: "r", Created: t0, Expires: t0.Add(time.Hour)})
	s.Put(model.Override{ID: "long", Kind: model.Drain, Cluster: "us-east", Reason: "r", Created: t0, Expires: t0.Add(48 * time.Hour)})
	s.Put(model.Override{ID: "ever", Kind: model.Drain, Cluster: "ap-southeast", Reason: "r", Created: t0})
	s.now = func() time.Time { return t0.Add(2 * time.Hour) }
	if _, err := s.Delete("ever"); err != nil {
		t.Fatal(err)
	}
	if l := s.List(); len(l) != 1 || l[0].ID != "long" {
		t.Errorf("after a write past one expiry the store holds %+v, want only long", l)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), `"short"`) {
		t.Errorf("the file still holds the expired override:\n%s", b)
	}
}
