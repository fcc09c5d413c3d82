package api

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestStatusPageHeaders: the page forbids framing, sniffing and referrers,
// and its Content-Security-Policy allows exactly the inline styles and
// scripts served, by hash: editing one without its hash fails here.
func TestStatusPageHeaders(t *testing.T) {
	f := newFixture(t)
	f.do("PUT", "/api/v1/overrides/drain-eu", adminToken, `{"kind":"drain","cluster":"eu-west","reason":"maintenance"}`, nil)
	req, _ := http.NewRequest("GET", f.srv.URL+"/", nil)
	req.SetBasicAuth("ops", readToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	for name, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	csp := map[string][]string{}
	for _, d := range strings.Split(resp.Header.Get("Content-Security-Policy"), ";") {
		if fields := strings.Fields(d); len(fields) > 0 {
			csp[fields[0]] = fields[1:]
		}
	}
	for _, d := range []string{"default-src", "frame-ancestors", "base-uri", "form-action"} {
		if !slices.Equal(csp[d], []string{"'none'"}) {
			t.Errorf("CSP %s %v, want 'none'", d, csp[d])
		}
	}
	for d, srcs := range csp {
		for _, s := range srcs {
			if strings.HasPrefix(s, "'unsafe-") || s == "*" || strings.HasSuffix(s, ":") {
				t.Errorf("CSP %s allows %s", d, s)
			}
		}
	}
	// Every inline element served is allowed by its hash, and every hash
	// allows an element served.
	page := string(body)
	used := map[string]bool{}
	elements := regexp.MustCompile(`(?is)<(style|script)\b[^>]*>(.*?)</(?:style|script)>`).FindAllStringSubmatch(page, -1)
	if len(elements) == 0 {
		t.Fatal("the page has no inline style: this test checks nothing")
	}
	for _, m := range elements {
		sum := sha256.Sum256([]byte(m[2]))
		h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		d := strings.ToLower(m[1]) + "-src"
		if !slices.Contains(csp[d], h) {
			t.Errorf("the page's inline <%s> hashes to %s, which CSP %s %v does not allow", m[1], h, d, csp[d])
		}
		used[d+" "+h] = true
	}
	for _, d := range []string{"style-src", "script-src"} {
		for _, h := range csp[d] {
			if !used[d+" "+h] {
				t.Errorf("CSP %s allows %s, which no inline element served has", d, h)
			}
		}
	}
	// Attributes a hash cannot allow would be blocked: the page must not need them.
	if m := regexp.MustCompile(`(?i)<[^>]*\s(style|on[a-z]+)=`).FindString(page); m != "" {
		t.Errorf("the page uses an inline attribute the CSP blocks: %s", m)
	}
}

// TestAuthChallenges: a request without a valid token gets the Basic and
// the Bearer challenges in two header fields, Basic first, which browsers
// answer with the credentials of the URL or a prompt
// (TestStatusPageBrowserAuth in cmd/meridian checks Chromium does).
func TestAuthChallenges(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/", "/api/v1/status"} {
		for _, token := range []string{"", "wrong"} {
			req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
			if token != "" {
				req.SetBasicAuth("ops", token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := resp.Header.Values("WWW-Authenticate")
			if resp.StatusCode != 401 || !slices.Equal(got, []string{`Basic realm="meridian", charset="UTF-8"`, `Bearer realm="meridian"`}) {
				t.Errorf("GET %s with token %q: %d, WWW-Authenticate %q", path, token, resp.StatusCode, got)
			}
		}
	}
}
