package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ednsResult is what kdig printed of an answer's OPT record.
type ednsResult struct {
	status string
	nsid   string // the NSID as text
	cookie string // client and server cookie, hex, as kdig prints it
}

var (
	nsidRe   = regexp.MustCompile(`;; NSID: [0-9A-Fa-f]+ "([^"]*)"`)
	cookieRe = regexp.MustCompile(`;; COOKIE: ([0-9A-Fa-f]+)`)
)

// kdigEDNS runs kdig and reads the status, NSID and cookie of its answer.
func kdigEDNS(t *testing.T, port string, args ...string) ednsResult {
	t.Helper()
	text := runTool(t, "kdig", append([]string{"@127.0.0.1", "-p", port, "+time=5", "+retry=1"}, args...)...)
	var r ednsResult
	if m := statusRe.FindStringSubmatch(text); m != nil {
		r.status = m[1]
	}
	if m := nsidRe.FindStringSubmatch(text); m != nil {
		r.nsid = m[1]
	}
	if m := cookieRe.FindStringSubmatch(text); m != nil {
		r.cookie = strings.ToLower(m[1])
	}
	if r.status == "" || strings.Contains(text, "WARNING") {
		t.Fatalf("kdig %v:\n%s", args, text)
	}
	return r
}

// cookieTime is the time a server cookie (RFC 9018) names.
func cookieTime(t *testing.T, cookie string) time.Time {
	t.Helper()
	if len(cookie) != 48 || cookie[16:24] != "01000000" {
		t.Fatalf("cookie %q is not a client cookie and an RFC 9018 server cookie", cookie)
	}
	secs, err := strconv.ParseUint(cookie[24:32], 16, 32)
	if err != nil {
		t.Fatal(err)
	}
	return time.Unix(int64(secs), 0)
}

// TestReplicasShareCookies starts two replicas from one config file with
// one cookie secret file, as a chart would from a Kubernetes Secret: each
// answers kdig +nsid with its own name, and each accepts the server
// cookies the other makes, so a resolver's cookie is good at both. A
// secret rolled over in the file takes effect with SIGHUP, the previous
// one still accepted.
func TestReplicasShareCookies(t *testing.T) {
	const secret, rolled = "e5e973e5a6b2a43f48e7dc849e37bfcf", "445536bcd2513298075a5d379663c962"
	secretFile := filepath.Join(t.TempDir(), "cookie-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`
meridian {
    dns 127.0.0.1:0
    http 127.0.0.1:0
    replica {$MERIDIAN_TEST_REPLICA}
    nsid
    cookies %s
}
cluster a {
    static {
        ingress 192.0.2.10
        pods app 3
    }
}
zone example.org {
    ns ns.example.net
    record www A 192.0.2.80
    service app {
    }
}
`, secretFile)
	t.Setenv("MERIDIAN_TEST_REPLICA", "replica-a")
	a := startMeridian(t, conf)
	t.Setenv("MERIDIAN_TEST_REPLICA", "replica-b")
	b := startMeridian(t, conf)

	// A client cookie alone: replica a makes a server cookie.
	ra := kdigEDNS(t, a.dnsPort, "www.example.org", "+nsid", "+cookie")
	if ra.status != "NOERROR" || ra.nsid != "replica-a" {
		t.Errorf("replica a: %s, NSID %q; want NOERROR from replica-a", ra.status, ra.nsid)
	}
	if made := cookieTime(t, ra.cookie); time.Since(made).Abs() > time.Minute {
		t.Errorf("replica a's cookie names %v, not now", made)
	}
	// A second later, replica b is given it. Had b found it invalid, it
	// would answer a fresh cookie naming a later second; it sends a's back.
	time.Sleep(1100 * time.Millisecond)
	rb := kdigEDNS(t, b.dnsPort, "www.example.org", "+nsid", "+cookie="+ra.cookie)
	if rb.status != "NOERROR" || rb.nsid != "replica-b" || rb.cookie != ra.cookie {
		t.Errorf("replica b given a's cookie %s: %s, NSID %q, cookie %s; want NOERROR from replica-b with a's cookie back",
			ra.cookie, rb.status, rb.nsid, rb.cookie)
	}
	// The control: the same cookie with its hash altered is not valid, and
	// is answered with a fresh cookie, over TCP too.
	forged := ra.cookie[:40] + strings.Repeat("0", 8)
	for _, tcp := range []string{"+notcp", "+tcp"} {
		rf := kdigEDNS(t, b.dnsPort, "www.example.org", tcp, "+cookie="+forged)
		if rf.status != "NOERROR" || rf.cookie == forged || rf.cookie[:16] != ra.cookie[:16] || !cookieTime(t, rf.cookie).After(cookieTime(t, ra.cookie)) {
			t.Errorf("%s, a forged cookie: %s with cookie %s; want a normal answer with a fresh cookie", tcp, rf.status, rf.cookie)
		}
	}

	// Roll replica b over to a new secret, the old one second.
	if err := os.WriteFile(secretFile, []byte(rolled+"\n"+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLog(t, b, "configuration reloaded")
	// b still accepts a's cookie, made with the previous secret, and
	// renews it with the new one, which a, not yet rolled, does not know.
	rr := kdigEDNS(t, b.dnsPort, "www.example.org", "+cookie="+ra.cookie)
	if rr.status != "NOERROR" || rr.cookie == ra.cookie || rr.cookie[:16] != ra.cookie[:16] {
		t.Errorf("rolled replica b given a's cookie: %s with cookie %s; want a cookie renewed with the new secret", rr.status, rr.cookie)
	}
	if r := kdigEDNS(t, a.dnsPort, "www.example.org", "+cookie="+rr.cookie); r.cookie == rr.cookie {
		t.Errorf("replica a accepted a cookie made with a secret it does not have")
	}
	if r := kdigEDNS(t, b.dnsPort, "www.example.org", "+cookie="+rr.cookie); r.cookie != rr.cookie {
		t.Errorf("rolled replica b does not accept its own new cookie: %s back for %s", r.cookie, rr.cookie)
	}

	// A broken secret file: the reload fails, naming the config line and
	// the file's, and the running secrets stay.
	if err := os.WriteFile(secretFile, []byte(rolled[:31]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rec := waitLog(t, b, "reload failed; the running configuration stays")
	if e, _ := rec["err"].(string); e != fmt.Sprintf("%s:7: cookies: %s:1: expected a secret of 32 hex digits (16 bytes), got 31 characters", b.conf, secretFile) {
		t.Errorf("reload error %q", e)
	}
	if r := kdigEDNS(t, b.dnsPort, "www.example.org", "+cookie="+rr.cookie); r.cookie != rr.cookie {
		t.Errorf("after the failed reload replica b turns away its cookie: %s back for %s", r.cookie, rr.cookie)
	}
}

// TestServeRejectsBadCookieSecret: at start, a broken secret file is a
// configuration error: exit status 2, naming the config line and the
// file's line, never quoting the secret.
func TestServeRejectsBadCookieSecret(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "cookie-secret")
	if err := os.WriteFile(secretFile, []byte("# the current secret\ne5e973e5a6b2a43f48e7dc849e37bfcZ\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path, out := serveFails(t, "meridian {\n    dns 127.0.0.1:0\n    http 127.0.0.1:0\n    cookies "+secretFile+"\n}\nzone example.org {\n    ns ns.example.net\n}\n")
	want := fmt.Sprintf("%s:4: cookies: %s:2: expected a secret of 32 hex digits (16 bytes), got other characters\n", path, secretFile)
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
}

// TestServeWarnsOfReadableCookieSecret: a cookie secret every user may
// read lets any of them forge cookies that lift rate limiting: the start
// says so, naming the file; a private one is not warned about.
func TestServeWarnsOfReadableCookieSecret(t *testing.T) {
	for mode, warned := range map[os.FileMode]bool{0o644: true, 0o600: false} {
		secretFile := filepath.Join(t.TempDir(), "cookie-secret")
		if err := os.WriteFile(secretFile, []byte("e5e973e5a6b2a43f48e7dc849e37bfcf\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(secretFile, mode) // whatever the umask
		p := startMeridian(t, "meridian {\n    dns 127.0.0.1:0\n    http 127.0.0.1:0\n    cookies "+secretFile+"\n}\n")
		found := false
		for _, rec := range p.startup {
			if msg, _ := rec["msg"].(string); strings.Contains(msg, "cookie secret file") && rec["file"] == secretFile {
				found = true
			}
		}
		if found != warned {
			t.Errorf("mode %04o: warned %v, want %v", mode, found, warned)
		}
	}
}
