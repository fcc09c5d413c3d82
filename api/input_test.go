package api

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// unchanged returns a check that the store, its file, the Plan and the
// audit log are as they were when unchanged was called.
func (f *fixture) unchanged() func(what string) {
	f.t.Helper()
	file := filepath.Join(f.dir, "overrides.json")
	before, _ := os.ReadFile(file)
	applied, records, stored := f.applied, len(f.auditRecords()), len(f.store.List())
	return func(what string) {
		f.t.Helper()
		after, _ := os.ReadFile(file)
		if !bytes.Equal(before, after) || f.applied != applied || len(f.auditRecords()) != records || len(f.store.List()) != stored {
			f.t.Errorf("%s changed something: store %d -> %d overrides, %d applies, audit %d -> %d records",
				what, stored, len(f.store.List()), f.applied-applied, records, len(f.auditRecords()))
		}
	}
}

// wantError checks a 4xx answer with a JSON error naming field.
func wantError(t *testing.T, what string, code int, text string, wantCode int, field string) {
	t.Helper()
	var e apiError
	json.Unmarshal([]byte(text), &e)
	if code != wantCode || e.Error == "" || e.Field != field {
		t.Errorf("%s: %d %s, want %d naming field %q", what, code, text, wantCode, field)
	}
}

// TestDryRunIsStrictlyBoolean: every spelling strconv.ParseBool reads as
// true is a dry run; anything it cannot read, a bare ?dry_run included,
// is a 400 that changes nothing.
func TestDryRunIsStrictlyBoolean(t *testing.T) {
	f := newFixture(t)
	drain := `{"kind":"drain","cluster":"eu-west","reason":"kernel upgrade"}`
	for _, v := range []string{"1", "t", "T", "true", "TRUE", "True"} {
		check := f.unchanged()
		var res writeResult
		code, text := f.do("PUT", "/api/v1/overrides/drain-eu?dry_run="+v, adminToken, drain, &res)
		if code != 200 || !res.DryRun {
			t.Errorf("PUT ?dry_run=%s: %d %s, want a dry run", v, code, text)
		}
		check("PUT ?dry_run=" + v)
		if f.share("eu-west", "eu-west") != 1 {
			t.Fatalf("PUT ?dry_run=%s drained eu-west", v)
		}
	}
	for _, q := range []string{"dry_run", "dry_run=", "dry_run=yes", "dry_run=2", "dry_run=on", "dry_run=true&dry_run=false", "dry_run=%20true"} {
		check := f.unchanged()
		code, text := f.do("PUT", "/api/v1/overrides/drain-eu?"+q, adminToken, drain, nil)
		wantError(t, "PUT ?"+q, code, text, 400, "dry_run")
		if !strings.Contains(text, "want true or false") {
			t.Errorf("PUT ?%s: %s does not say what is wanted", q, text)
		}
		check("PUT ?" + q)
	}
	// A misspelt dry run is refused, never taken for a real write.
	for _, q := range []string{"DRY_RUN=1", "dryrun=1", "dry-run=true", "dry_run=1&force=1"} {
		check := f.unchanged()
		code, text := f.do("PUT", "/api/v1/overrides/drain-eu?"+q, adminToken, drain, nil)
		if code != 400 || !strings.Contains(text, "unknown query parameter") {
			t.Errorf("PUT ?%s: %d %s, want 400 naming the unknown parameter", q, code, text)
		}
		check("PUT ?" + q)
		code, text = f.do("DELETE", "/api/v1/overrides/drain-eu?"+q, adminToken, "", nil)
		if code != 400 {
			t.Errorf("DELETE ?%s: %d %s, want 400", q, code, text)
		}
	}
	if code, text := f.do("PUT", "/api/v1/overrides/drain-eu?dry_run=false", adminToken, drain, nil); code != 201 {
		t.Fatalf("PUT ?dry_run=false: %d %s, want a real write", code, text)
	}
	for _, v := range []string{"1", "True"} {
		check := f.unchanged()
		var res writeResult
		if code, text := f.do("DELETE", "/api/v1/overrides/drain-eu?dry_run="+v, adminToken, "", &res); code != 200 || !res.DryRun {
			t.Errorf("DELETE ?dry_run=%s: %d %s, want a dry run", v, code, text)
		}
		check("DELETE ?dry_run=" + v)
	}
	for _, q := range []string{"dry_run", "dry_run=maybe"} {
		check := f.unchanged()
		code, text := f.do("DELETE", "/api/v1/overrides/drain-eu?"+q, adminToken, "", nil)
		wantError(t, "DELETE ?"+q, code, text, 400, "dry_run")
		check("DELETE ?" + q)
	}
	if code, text := f.do("DELETE", "/api/v1/overrides/drain-eu?dry_run=0", adminToken, "", nil); code != 200 || len(f.store.List()) != 0 {
		t.Errorf("DELETE ?dry_run=0: %d %s, want a real delete", code, text)
	}
}

// TestWeightBounded: a weight above MaxWeight, negative or beyond 32 bits
// is refused, not wrapped into a weight of 0 downstream.
func TestWeightBounded(t *testing.T) {
	f := newFixture(t)
	body := func(w string) string {
		return `{"kind":"weight","service":"app.gslb.example.com","cluster":"us-east","weight":` + w + `,"reason":"pin"}`
	}
	for _, w := range []string{"2147483648", "1000001", "4294967295", "4294967296", "-1", "1.5", `"5"`} {
		check := f.unchanged()
		code, text := f.do("PUT", "/api/v1/overrides/w", adminToken, body(w), nil)
		wantError(t, "weight "+w, code, text, 400, "weight")
		check("weight " + w)
	}
	for _, w := range []string{"0", "1000000"} {
		if code, text := f.do("PUT", "/api/v1/overrides/w", adminToken, body(w), nil); code/100 != 2 {
			t.Errorf("weight %s: %d %s, want it stored", w, code, text)
		}
	}
}

// TestBadInputRefused: input that today's code stored (or answered with
// 500) is refused with a 400 naming the field, or a 413, and changes
// nothing.
func TestBadInputRefused(t *testing.T) {
	f := newFixture(t)
	// In UTC, which the store and the audit log write, this is in the year
	// 10000, which JSON cannot hold.
	far := "9999-12-31T23:00:00-05:00"
	for _, tc := range []struct {
		name, body, field, mention string
		code                       int
	}{
		{"duplicate key", `{"kind":"drain","cluster":"eu-west","cluster":"us-east","reason":"r"}`, "cluster", "twice", 400},
		{"duplicate key in another case", `{"kind":"drain","cluster":"eu-west","Cluster":"us-east","reason":"r"}`, "Cluster", "twice", 400},
		{"duplicate kind", `{"kind":"drain","kind":"weight","cluster":"eu-west","reason":"r"}`, "kind", "twice", 400},
		{"order twice", `{"kind":"failover","service":"app.gslb.example.com","order":["eu-west","us-east","EU-West"],"reason":"r"}`, "order", "twice", 400},
		{"blank reason", `{"kind":"drain","cluster":"eu-west","reason":"   \t "}`, "reason", "", 400},
		{"order on a drain", `{"kind":"drain","cluster":"eu-west","order":["us-east"],"reason":"r"}`, "order", "", 400},
		{"address on a drain", `{"kind":"drain","cluster":"eu-west","address":"192.0.2.10","reason":"r"}`, "address", "", 400},
		{"cluster on a failover", `{"kind":"failover","service":"app.gslb.example.com","cluster":"eu-west","order":["us-east"],"reason":"r"}`, "cluster", "", 400},
		{"disable of no target", `{"kind":"disable","address":"192.0.2.11","reason":"r"}`, "address", "192.0.2.10", 400},
		{"enable of no target", `{"kind":"enable","address":"192.0.2.11","reason":"r"}`, "address", "198.51.100.10", 400},
		{"disable in the wrong cluster", `{"kind":"disable","cluster":"us-east","address":"192.0.2.10","reason":"r"}`, "address", "us-east 198.51.100.10", 400},
		{"expires in year 10000", `{"kind":"drain","cluster":"eu-west","reason":"r","expires":"` + far + `"}`, "expires", "", 400},
		{"for too long", `{"kind":"drain","cluster":"eu-west","reason":"r","for":"50000d"}`, "for", "", 400},
		{"body too large", `{"kind":"drain","cluster":"eu-west","reason":"` + strings.Repeat("x", maxBody) + `"}`, "", "", 413},
	} {
		check := f.unchanged()
		code, text := f.do("PUT", "/api/v1/overrides/x", adminToken, tc.body, nil)
		wantError(t, tc.name, code, text, tc.code, tc.field)
		if !strings.Contains(text, tc.mention) {
			t.Errorf("%s: %s does not mention %q", tc.name, text, tc.mention)
		}
		check(tc.name)
	}
}

// TestNamesAndDurationsAsTheConfigWritesThem: names in any case and with
// a final dot, and durations such as 1d, are accepted and stored
// canonically.
func TestNamesAndDurationsAsTheConfigWritesThem(t *testing.T) {
	f := newFixture(t)
	var res writeResult
	code, text := f.do("PUT", "/api/v1/overrides/w", adminToken,
		`{"kind":"weight","service":"App.GSLB.example.com.","cluster":"US-East","weight":5,"reason":"pin","for":"1d"}`, &res)
	if code != 201 {
		t.Fatalf("PUT: %d %s", code, text)
	}
	o := res.Override
	if o.Service != svcName || o.Cluster != "us-east" || o.Expires == nil {
		t.Fatalf("stored %+v, want canonical names and an expiry", o)
	}
	if d := o.Expires.Sub(o.Created); d != 24*time.Hour {
		t.Errorf("for 1d gave %v", d)
	}
	code, text = f.do("PUT", "/api/v1/overrides/f", adminToken,
		`{"kind":"failover","service":"app.gslb.example.com","order":["US-EAST.","eu-west"],"reason":"r","for":"1w"}`, &res)
	if code != 201 || strings.Join(res.Override.Order, ",") != "us-east,eu-west" {
		t.Errorf("failover: %d %s", code, text)
	}
	if code, text := f.do("PUT", "/api/v1/overrides/d", adminToken, `{"kind":"disable","address":"192.0.2.10","reason":"r"}`, nil); code != 201 {
		t.Errorf("disable of a target: %d %s", code, text)
	}
}
