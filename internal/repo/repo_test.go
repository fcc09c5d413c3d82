// Package repo checks promises the repository makes about itself: no build
// outputs are tracked, build outputs are ignored, and the project's licence
// is there.
package repo

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// root returns the top of the work tree.
func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse: %v (the repository tests need git and a work tree)", err)
	}
	return strings.TrimSpace(string(out))
}

// TestNoBuildOutputsTracked fails when git tracks an executable or archive:
// a 119 MB binary once slipped in that way.
func TestNoBuildOutputsTracked(t *testing.T) {
	top := root(t)
	out, err := exec.Command("git", "-C", top, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	magics := map[string][]byte{
		"ELF executable": []byte("\x7fELF"),
		"ar archive":     []byte("!<arch>\n"),
		"gzip archive":   {0x1f, 0x8b},
		"Mach-O binary":  {0xcf, 0xfa, 0xed, 0xfe},
	}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if name == "" || strings.HasPrefix(name, "geo/builtin/") {
			continue // the bundled GeoIP data is data, not a build output
		}
		f, err := os.Open(filepath.Join(top, name))
		if err != nil {
			continue // deleted in the work tree
		}
		head := make([]byte, 8)
		n, _ := f.Read(head)
		f.Close()
		for kind, magic := range magics {
			if bytes.HasPrefix(head[:n], magic) {
				t.Errorf("git tracks %s, a %s: git rm --cached it and ignore it", name, kind)
			}
		}
	}
}

// TestBuildOutputsIgnored checks that what `make build`, `go build` and the
// image builder write is ignored by git and kept out of the Docker context.
func TestBuildOutputsIgnored(t *testing.T) {
	top := root(t)
	for _, p := range []string{"meridian", "imagebuild", "bin/meridian", "bin/meridian-image.tar"} {
		cmd := exec.Command("git", "-C", top, "check-ignore", "-q", "--no-index", p)
		if err := cmd.Run(); err != nil {
			t.Errorf("git does not ignore the build output %s: add it to .gitignore", p)
		}
	}
	docker, err := os.ReadFile(filepath.Join(top, ".dockerignore"))
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	for _, p := range []string{".git", "bin/", "/meridian"} {
		if !strings.Contains("\n"+string(docker)+"\n", "\n"+p+"\n") {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
}

// TestLicense checks that the project's own code carries its licence.
func TestLicense(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root(t), "LICENSE"))
	if err != nil {
		t.Fatalf("LICENSE: %v", err)
	}
	if !bytes.Contains(b, []byte("Apache License")) || !bytes.Contains(b, []byte("Version 2.0, January 2004")) {
		t.Error("LICENSE is not the Apache License 2.0")
	}
}
