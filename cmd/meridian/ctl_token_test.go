package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/meridian-gtm/meridian/api"
)

// TestCtlTokenNew: `meridian ctl token new NAME ROLE` prints a fresh
// 256-bit secret and a tokens file line that LoadTokens accepts and that
// holds the secret's hash.
func TestCtlTokenNew(t *testing.T) {
	var lines []byte
	secrets := map[string]bool{}
	for _, who := range []struct{ name, role string }{{"ci", "admin"}, {"grafana", "read"}} {
		var out, errOut bytes.Buffer
		if code := ctlCommand([]string{"-server", "http://127.0.0.1:1", "token", "new", who.name, who.role}, &out, &errOut); code != exitOK {
			t.Fatalf("token new %s %s: exit %d: %s", who.name, who.role, code, errOut.String())
		}
		m := regexp.MustCompile(`(?m)^secret: +([0-9a-f]+)\ntokens file: (\S+) (\S+) ([0-9a-f]+)\n$`).FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("token new printed %q", out.String())
		}
		secret, name, role, hash := m[1], m[2], m[3], m[4]
		sum := sha256.Sum256([]byte(secret))
		if len(secret) != 64 || name != who.name || role != who.role || hash != hex.EncodeToString(sum[:]) || secrets[secret] {
			t.Errorf("token new printed %q: want a new 64-digit secret and its SHA-256", out.String())
		}
		secrets[secret] = true
		lines = append(lines, out.Bytes()[bytes.IndexByte(out.Bytes(), '\n')+1+len("tokens file: "):]...)
	}
	path := filepath.Join(t.TempDir(), "tokens")
	os.WriteFile(path, lines, 0o600)
	if tk, err := api.LoadTokens(path); err != nil || tk.Len() != 2 {
		t.Errorf("the printed lines do not make a tokens file: %v\n%s", err, lines)
	}

	var out, errOut bytes.Buffer
	if code := ctlCommand([]string{"-o", "json", "token", "new", "ci", "read"}, &out, &errOut); code != exitOK {
		t.Fatalf("-o json token new: exit %d: %s", code, errOut.String())
	}
	var j struct{ Name, Role, Secret, Line string }
	if err := json.Unmarshal(out.Bytes(), &j); err != nil || j.Name != "ci" || j.Role != "read" || len(j.Secret) != 64 || j.Line == "" {
		t.Errorf("-o json token new printed %s (%v)", out.String(), err)
	}
	for _, args := range [][]string{{"token", "new", "ci", "root"}, {"token", "new", "a#b", "read"}, {"token", "old", "ci", "read"}, {"token", "new", "ci"}} {
		if code := ctlCommand(args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, exitUsage)
		}
	}
}
