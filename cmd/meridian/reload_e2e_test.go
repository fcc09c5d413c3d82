package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unencodable are records whose RDATA parses but cannot be packed into a
// message; each once passed the config checks and then panicked the server.
var unencodable = []struct{ record, owner, typ string }{
	{"record fp SSHFP 1 1 ABC", "fp", "SSHFP"},
	{"record sub DS 60485 5 1 " + strings.Repeat("a", 65), "sub", "DS"},
	{"record _443._tcp.www TLSA 3 1 1 ABCDE", "_443._tcp.www", "TLSA"},
	// A target of four 63-octet labels: 256 octets, so no client could
	// read it; it once packed and then panicked the compiler.
	{"record long CNAME " + strings.Repeat(strings.Repeat("a", 63)+".", 4), "long", "CNAME"},
}

// withRecords inserts lines into conf before the demo's mail record and
// returns the new text and the line number of each inserted line.
func withRecords(t *testing.T, conf string, lines ...string) (string, []int) {
	t.Helper()
	const anchor = "    record mail A"
	i := strings.Index(conf, anchor)
	if i < 0 {
		t.Fatalf("the demo config has no %q line", anchor)
	}
	first := strings.Count(conf[:i], "\n") + 1
	var nums []int
	var b strings.Builder
	for k, l := range lines {
		b.WriteString("    " + l + "\n")
		nums = append(nums, first+k)
	}
	return conf[:i] + b.String() + conf[i:], nums
}

// TestServeReloadKeepsRunningOnUnencodableRecord: a reload whose config
// holds a record that cannot be packed fails with the record's file and
// line, and the server keeps answering from the configuration it had.
func TestServeReloadKeepsRunningOnUnencodableRecord(t *testing.T) {
	conf := demoConf(t, false)
	p := startMeridian(t, conf)
	www := []string{"www.gslb.example.com. 3600 IN A 192.0.2.80"}
	if r := kdig(t, p.dnsPort, "www.gslb.example.com"); r.status != "NOERROR" || !slices.Equal(r.answer, www) {
		t.Fatalf("www before the reload: %s %v", r.status, r.answer)
	}
	for _, bad := range unencodable {
		t.Run(bad.typ, func(t *testing.T) {
			// A good change and a bad record together: neither may take effect.
			text, lines := withRecords(t, conf, "record new A 192.0.2.99", bad.record)
			if err := os.WriteFile(p.conf, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			rec := waitLog(t, p, "reload failed; the running configuration stays")
			want := fmt.Sprintf("%s:%d: record %s.gslb.example.com %s: cannot be encoded: ", p.conf, lines[1], bad.owner, bad.typ)
			if e, _ := rec["err"].(string); !strings.HasPrefix(e, want) {
				t.Errorf("reload error %q, want %s...", e, want)
			}
			if r := kdig(t, p.dnsPort, "www.gslb.example.com"); r.status != "NOERROR" || !slices.Equal(r.answer, www) {
				t.Errorf("www after the failed reload: %s %v, want %v", r.status, r.answer, www)
			}
			if r := kdig(t, p.dnsPort, "new.gslb.example.com"); r.status != "NXDOMAIN" {
				t.Errorf("new.gslb.example.com after the failed reload: %s %v, want NXDOMAIN: the old config stays", r.status, r.answer)
			}
		})
	}
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		t.Fatalf("meridian exited: %v", err)
	default:
	}
}

// TestServeRejectsUnencodableRecords: at start, records that cannot be
// packed are configuration errors: exit status 2, each named by file and
// line, and no panic.
func TestServeRejectsUnencodableRecords(t *testing.T) {
	var records []string
	for _, bad := range unencodable {
		records = append(records, bad.record)
	}
	text, lines := withRecords(t, demoConf(t, false), records...)
	path := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// The bound is for the old failure, a server that starts and then dies.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, meridianBin, "serve", "-config", path).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2; output:\n%s", err, out)
	}
	if strings.Contains(string(out), "panic") {
		t.Fatalf("meridian panicked:\n%s", out)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(unencodable) {
		t.Fatalf("output:\n%s\nwant one line per bad record", out)
	}
	for i, bad := range unencodable {
		want := fmt.Sprintf("%s:%d: record %s.gslb.example.com %s: cannot be encoded: ", path, lines[i], bad.owner, bad.typ)
		if !strings.HasPrefix(got[i], want) {
			t.Errorf("line %d: %q\nwant %s...", i+1, got[i], want)
		}
	}
}
