package api

import (
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/internal/testlog"
)

func TestTokensFileErrorsNameFileAndLine(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ name, text, want string }{
		{"empty", "", ":1: no tokens"},
		{"only comments", "# nobody yet\n\n# really\n", ":3: no tokens"},
		{"name twice", tokenLine("alice", "admin", "a") + "# x\n" + tokenLine("alice", "read", "b"), `:3: token name "alice" used twice (first on line 1)`},
		{"secret twice", tokenLine("alice", "admin", "same") + tokenLine("bob", "read", "same"), `:2: token "bob" has the same secret as the token on line 1`},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		os.WriteFile(path, []byte(tc.text), 0o600)
		_, err := LoadTokens(path)
		if err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, path+tc.want)
		}
	}
}

func TestTokensFileReadableByOthersWarns(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	os.WriteFile(path, []byte(tokenLine("alice", "admin", "a")), 0o600)
	const otherGroup = 65534 // nogroup: not the test's own
	if os.Getegid() == otherGroup {
		t.Fatal("the test needs a group other than its own; run it as another user")
	}
	for _, tc := range []struct {
		mode os.FileMode
		gid  int // -1: the process's own group
		warn bool
	}{
		{0o600, -1, false}, {0o400, -1, false},
		// Readable by the process's own group, as Kubernetes mounts a
		// Secret for the pod's fsGroup: that group is Meridian itself.
		{0o640, -1, false}, {0o440, -1, false},
		{0o640, otherGroup, true}, {0o604, -1, true}, {0o644, -1, true},
	} {
		gid := tc.gid
		if gid < 0 {
			gid = os.Getegid()
		}
		if err := os.Chown(path, -1, gid); err != nil {
			t.Fatalf("chown to group %d: %v (the test chowns its file to another group; run it as root)", gid, err)
		}
		if err := os.Chmod(path, tc.mode); err != nil {
			t.Fatal(err)
		}
		tk, err := LoadTokens(path)
		if err != nil {
			t.Fatal(err)
		}
		if w := tk.Warnings(); (len(w) > 0) != tc.warn || (tc.warn && !strings.Contains(w[0], path)) {
			t.Errorf("mode %#o, group %d: warnings %q, want a warning: %v", tc.mode, gid, w, tc.warn)
		}
	}
}

// TestTokensReload: a reload lets new tokens in and old ones out; a broken
// file leaves the tokens in force.
func TestTokensReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, []byte(tokenLine("alice", "admin", "old-secret")), 0o600)
	tk, err := LoadTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	who := func(secret string) string {
		r, _ := http.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		name, role, _ := tk.identify(r)
		return name + "/" + role.String()
	}
	os.WriteFile(path, []byte(tokenLine("bob", "read", "new-secret")), 0o600)
	if who("old-secret") != "alice/admin" || who("new-secret") != "/none" {
		t.Fatal("the tokens changed before a reload")
	}
	if err := tk.Reload(); err != nil {
		t.Fatal(err)
	}
	if who("old-secret") != "/none" || who("new-secret") != "bob/read" {
		t.Errorf("after a reload: old secret %s, new secret %s", who("old-secret"), who("new-secret"))
	}
	os.WriteFile(path, []byte("bob read nothex\n"), 0o600)
	if err := tk.Reload(); err == nil || !strings.Contains(err.Error(), path+":1:") {
		t.Errorf("reload of a broken file: %v", err)
	}
	if who("new-secret") != "bob/read" {
		t.Error("a broken file replaced the tokens in force")
	}
}

// TestAuthFailuresCountedAndLogged: refused requests are counted by
// reason, and logged at most once per authLogEvery with a count of the
// ones not logged.
func TestAuthFailuresCountedAndLogged(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs testlog.Buffer
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFixtureWith(t, func(c *V1Config) {
		c.Metrics = reg
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	for range 5 {
		f.do("GET", "/api/v1/status", "wrong-secret", "", nil)
	}
	f.do("GET", "/api/v1/status", "", "", nil)
	f.do("DELETE", "/api/v1/overrides/x", readToken, "", nil)
	mu.Lock()
	now = now.Add(authLogEvery)
	mu.Unlock()
	f.do("GET", "/api/v1/status", "wrong-secret", "", nil)

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "meridian_api_auth_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if want := map[string]float64{"invalid": 6, "missing": 1, "forbidden": 1}; !maps.Equal(got, want) {
		t.Errorf("meridian_api_auth_failures_total by reason: %v, want %v", got, want)
	}
	lines := regexp.MustCompile(`(?m)^.*api request refused.*$`).FindAllString(logs.String(), -1)
	if len(lines) != 2 || !strings.Contains(lines[0], "suppressed_since_last=0") || !strings.Contains(lines[1], "suppressed_since_last=6") {
		t.Errorf("log lines about refused requests:\n%s\nwant two, the second counting 6 suppressed", strings.Join(lines, "\n"))
	}
}

// TestExpiredOverridesNotListed: an override past its expiry, still in the
// store until the next write, is no longer listed, counted or shown.
func TestExpiredOverridesNotListed(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFixtureWith(t, func(c *V1Config) {
		c.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	})
	count := func() (listed, status int, page bool) {
		var list []Override
		f.do("GET", "/api/v1/overrides", readToken, "", &list)
		var st struct {
			Overrides int `json:"overrides"`
		}
		f.do("GET", "/api/v1/status", readToken, "", &st)
		_, html := f.do("GET", "/", readToken, "", nil)
		return len(list), st.Overrides, strings.Contains(html, "drain cluster us-east")
	}
	l0, s0, p0 := count()
	if code, body := f.do("PUT", "/api/v1/overrides/x", adminToken, `{"kind":"drain","cluster":"us-east","reason":"r","for":"30s"}`, nil); code != 200 && code != 201 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if l, s, p := count(); l != l0+1 || s != s0+1 || !p || p0 {
		t.Fatalf("in force: listed %d, counted %d, on the page %v (before: %d, %d, %v)", l, s, p, l0, s0, p0)
	}
	mu.Lock()
	now = now.Add(31 * time.Second)
	mu.Unlock()
	if l, s, p := count(); l != l0 || s != s0 || p {
		t.Errorf("expired: listed %d, counted %d, on the page %v, want %d, %d, false", l, s, p, l0, s0)
	}
	if code, _ := f.do("GET", "/api/v1/overrides/x", readToken, "", nil); code != 404 {
		t.Errorf("GET of the expired override: %d, want 404", code)
	}
}
