package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// withOverridesFile returns the demo config keeping its overrides in file.
func withOverridesFile(t *testing.T, file string) string {
	t.Helper()
	conf := demoConf(t, false)
	re := regexp.MustCompile(`(?m)^(\s*overrides\s+file\s+)\S+$`)
	if !re.MatchString(conf) {
		t.Fatal("the demo config has no overrides file line")
	}
	return re.ReplaceAllString(conf, "${1}"+file)
}

// overridesLine is the line of the overrides directive in conf.
func overridesLine(t *testing.T, conf string) int {
	for i, l := range strings.Split(conf, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "overrides ") {
			return i + 1
		}
	}
	t.Fatal("no overrides line")
	return 0
}

// serveFails runs meridian serve on conf, which must exit with status 2
// before serving; it returns the config's path and what it printed.
func serveFails(t *testing.T, conf string) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meridian.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// The bound is for a regression that starts serving instead.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, meridianBin, "serve", "-config", path).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2; output:\n%s", err, out)
	}
	return path, string(out)
}

// TestServeCreatesStateDirectory starts with an overrides file in a
// directory that does not exist yet, as the demo's .state/ on a fresh
// clone: it is created, for Meridian's user alone, and the API works.
func TestServeCreatesStateDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "meridian")
	p := startMeridian(t, withOverridesFile(t, filepath.Join(dir, "overrides.json")))
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatalf("the overrides directory was not created: %v", err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("the overrides directory has mode %v, want 0700", fi.Mode().Perm())
	}
	if out, errOut, code := runCtl(t, "http://"+p.httpAddr, "demo-admin-token", "drain", "eu-west", "-reason", "state dir test", "-for", "10m"); code != 0 {
		t.Fatalf("drain: exit %d: %s%s", code, out, errOut)
	}
	for _, f := range []string{"overrides.json", "audit.log"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("after a drain: %v", err)
		}
	}
}

// TestServeStateDirectoryCannotBeCreated gives an overrides file below a
// regular file: a configuration error naming the directive's line.
func TestServeStateDirectoryCannotBeCreated(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "not-a-directory")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := withOverridesFile(t, filepath.Join(blocker, "overrides.json"))
	path, out := serveFails(t, conf)
	want := path + ":" + itoa(overridesLine(t, conf)) + ": overrides: cannot create the directory " + blocker
	if !strings.HasPrefix(out, want) {
		t.Errorf("output:\n%s\nwant it to start with:\n%s", out, want)
	}
}

// TestServeRefusesCorruptOverrides: a damaged overrides file is never
// taken for an empty one; the error says where it is and what to do.
func TestServeRefusesCorruptOverrides(t *testing.T) {
	file := filepath.Join(t.TempDir(), "overrides.json")
	if err := os.WriteFile(file, []byte(`{"overrides": [{"id": "a", "kind": "dra`), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := withOverridesFile(t, file)
	path, out := serveFails(t, conf)
	for _, want := range []string{path + ":" + itoa(overridesLine(t, conf)) + ": ", file, "restore the file from a backup, or remove it"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
