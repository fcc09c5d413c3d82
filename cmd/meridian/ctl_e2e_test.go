package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeTokens writes an api_tokens file: alice is an admin with the token
// admin-secret, grafana a reader with read-secret.
func writeTokens(t *testing.T, path string) {
	t.Helper()
	var tokens strings.Builder
	for _, tk := range []struct{ name, role, secret string }{{"alice", "admin", "admin-secret"}, {"grafana", "read", "read-secret"}} {
		h := sha256.Sum256([]byte(tk.secret))
		fmt.Fprintf(&tokens, "%s %s %s\n", tk.name, tk.role, hex.EncodeToString(h[:]))
	}
	if err := os.WriteFile(path, []byte(tokens.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ctlConf serves app.gslb.example.com from two clusters with the API on,
// its tokens, overrides and audit log in dir.
func ctlConf(t *testing.T, dir string) string {
	t.Helper()
	writeTokens(t, filepath.Join(dir, "tokens"))
	return fmt.Sprintf(`
meridian {
    dns        127.0.0.1:0
    http       127.0.0.1:0
    api_tokens %[1]s/tokens
    overrides  file %[1]s/overrides.json
}
cluster primary {
    region   eu-west
    location 53.35 -6.26
    static {
        ingress %[2]s
        pods app 3
    }
}
cluster secondary {
    region   us-east
    location 38.9 -77.4
    static {
        ingress %[3]s
        pods app 3
    }
}
zone gslb.example.com {
    ns ns1.gslb.example.com 127.0.0.1
    service app {
        ttl 5
    }
}
`, dir, primaryAddr, secondaryAddr)
}

// runCtl runs `meridian ctl` against server with token and returns its
// output and exit code.
func runCtl(t *testing.T, server, token string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(meridianBin, append([]string{"ctl"}, args...)...)
	cmd.Env = append(os.Environ(), "MERIDIAN_SERVER="+server, "MERIDIAN_TOKEN="+token)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func TestCtl(t *testing.T) {
	dir := t.TempDir()
	p := startMeridian(t, ctlConf(t, dir))
	server := "http://" + p.httpAddr
	ukClient := "+subnet=81.2.69.0/24" // the UK: nearest the primary
	waitAnswer(t, p.dnsPort, primaryAddr, 5*time.Second, "app.gslb.example.com", ukClient)

	ctl := func(token string, args ...string) string {
		t.Helper()
		out, errOut, code := runCtl(t, server, token, args...)
		if code != 0 {
			t.Fatalf("meridian ctl %v: exit %d: %s%s", args, code, out, errOut)
		}
		return out
	}
	if out := ctl("read-secret", "status"); !strings.Contains(out, "PLAN") || !strings.Contains(out, "SERVICES") {
		t.Errorf("status:\n%s", out)
	}
	if out := ctl("read-secret", "clusters"); !strings.Contains(out, "primary") || !strings.Contains(out, "reachable") {
		t.Errorf("clusters:\n%s", out)
	}
	if out := ctl("read-secret", "services"); !strings.Contains(out, "app.gslb.example.com") || !strings.Contains(out, "primary 100%") {
		t.Errorf("services:\n%s", out)
	}
	if out := ctl("read-secret", "explain", "app.gslb.example.com", "-client", "81.2.69.1"); !strings.Contains(out, "nearest primary") || !strings.Contains(out, primaryAddr) {
		t.Errorf("explain:\n%s", out)
	}
	if out := ctl("read-secret", "explain", "app.gslb.example.com", "-region", "us-east"); !strings.Contains(out, "xDS nodes in us-east (locality of secondary)") || !strings.Contains(out, secondaryAddr) {
		t.Errorf("explain -region:\n%s", out)
	}
	if out := ctl("read-secret", "explain", "app.gslb.example.com", "-region", "us-east", "-zone", "us-east-9z"); !strings.Contains(out, "note: no located cluster is in zone us-east-9z of region us-east: the nodes are placed by their region") {
		t.Errorf("explain -zone of no cluster:\n%s", out)
	}

	// A dry run changes nothing.
	if out := ctl("admin-secret", "drain", "primary", "-reason", "kernel upgrade", "-dry-run"); !strings.Contains(out, "dry run") || !strings.Contains(out, "100.0%") {
		t.Errorf("drain -dry-run:\n%s", out)
	}
	if got := answerOf(t, p.dnsPort, "app.gslb.example.com", ukClient); got != primaryAddr {
		t.Fatalf("after a dry run the answer is %s", got)
	}

	// A drain moves the answer; its flags may come after the argument.
	if out := ctl("admin-secret", "drain", "primary", "-reason", "kernel upgrade", "-for", "2h"); !strings.Contains(out, "drain cluster primary (kernel upgrade, by alice, until") {
		t.Errorf("drain:\n%s", out)
	}
	waitAnswer(t, p.dnsPort, secondaryAddr, 5*time.Second, "app.gslb.example.com", ukClient)
	if out := ctl("read-secret", "overrides"); !strings.Contains(out, "drain-primary") || !strings.Contains(out, "alice") {
		t.Errorf("overrides:\n%s", out)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(ctl("read-secret", "-o", "json", "overrides")), &list); err != nil || len(list) != 1 || list[0]["id"] != "drain-primary" {
		t.Errorf("overrides -o json: %v %v", err, list)
	}
	if out := ctl("admin-secret", "weight", "app.gslb.example.com", "secondary", "7", "-reason", "migration"); !strings.Contains(out, "weight 7") {
		t.Errorf("weight:\n%s", out)
	}
	ctl("admin-secret", "undrain", "primary")
	waitAnswer(t, p.dnsPort, primaryAddr, 5*time.Second, "app.gslb.example.com", ukClient)
	audit := ctl("read-secret", "audit")
	for _, want := range []string{`alice +put-override +drain-primary`, `alice +delete-override +drain-primary`, `put-override +weight-secondary-app.gslb.example.com`} {
		if !regexp.MustCompile(want).MatchString(audit) {
			t.Errorf("audit lacks %q:\n%s", want, audit)
		}
	}

	// Exit codes scripts can trust.
	for _, tc := range []struct {
		server, token string
		args          []string
		code          int
		stderr        string
	}{
		{server, "read-secret", []string{"drain", "primary", "-reason", "x"}, 1, "403"},
		{server, "wrong", []string{"status"}, 1, "401"},
		{server, "admin-secret", []string{"drain", "nowhere", "-reason", "x"}, 1, `cluster: "nowhere" is not a cluster`},
		{server, "admin-secret", []string{"drain", "primary"}, 2, "-reason is required"},
		{server, "read-secret", []string{"frobnicate"}, 2, "unknown command"},
		{"http://127.0.0.1:1", "read-secret", []string{"status"}, 3, "cannot reach"},
	} {
		_, errOut, code := runCtl(t, tc.server, tc.token, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) {
			t.Errorf("ctl %v: exit %d, stderr %q; want exit %d with %q", tc.args, code, errOut, tc.code, tc.stderr)
		}
	}

	// A token made by ctl token new is let in once the tokens file has it
	// and the server got a SIGHUP.
	m := regexp.MustCompile(`(?m)^secret: +(\S+)\ntokens file: (.+)$`).FindStringSubmatch(ctl("", "token", "new", "ci", "read"))
	if m == nil {
		t.Fatal("token new printed no secret and line")
	}
	if _, errOut, code := runCtl(t, server, m[1], "status"); code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("a new token before it is in the tokens file: exit %d, %s", code, errOut)
	}
	tokens, _ := os.ReadFile(filepath.Join(dir, "tokens"))
	os.WriteFile(filepath.Join(dir, "tokens"), append(tokens, m[2]+"\n"...), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p, "api tokens reloaded")
	if out, errOut, code := runCtl(t, server, m[1], "status"); code != 0 {
		t.Errorf("the new token after a SIGHUP: exit %d: %s%s", code, out, errOut)
	}

	// Overrides survive a restart of the server.
	p.cmd.Process.Kill()
	p.exited <- <-p.exited // its cleanup waits for the exit too
	p2 := startMeridian(t, ctlConf(t, dir))
	if out := ctl2(t, "http://"+p2.httpAddr, "read-secret", "overrides"); !strings.Contains(out, "weight-secondary") {
		t.Errorf("after a restart the overrides are:\n%s", out)
	}
}

func ctl2(t *testing.T, server, token string, args ...string) string {
	t.Helper()
	out, errOut, code := runCtl(t, server, token, args...)
	if code != 0 {
		t.Fatalf("meridian ctl %v: exit %d: %s", args, code, errOut)
	}
	return out
}
