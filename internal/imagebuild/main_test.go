package main

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage builds the image from a static binary, reads the tarball back
// as a registry client would, and runs the binary it holds.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "meridian")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/meridian")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "image.tar")
	if err := buildImage(bin, out, "meridian:test"); err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag("meridian:test")
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/meridian"}) || c.User != "65532:65532" || c.Cmd[0] != "serve" || cfg.OS != "linux" {
		t.Errorf("image config: entrypoint %v user %q cmd %v os %s", c.Entrypoint, c.User, c.Cmd, cfg.OS)
	}

	// Unpack the filesystem and run the binary the entrypoint names.
	files := map[string]*tar.Header{}
	rd := mutate.Extract(img)
	defer rd.Close()
	tr := tar.NewReader(rd)
	inImage := filepath.Join(dir, "in-image")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(h.Name, "/")] = h
		if h.Name == "usr/local/bin/meridian" {
			f, err := os.OpenFile(inImage, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(f, tr)
			f.Close()
		}
		if h.Name == "etc/passwd" {
			b, _ := io.ReadAll(tr)
			if !strings.Contains(string(b), "nonroot:x:65532:65532:") {
				t.Errorf("/etc/passwd has no nonroot user:\n%s", b)
			}
		}
	}
	for _, want := range []string{"etc/ssl/certs/ca-certificates.crt", "etc/meridian", "tmp"} {
		if files[want] == nil {
			t.Errorf("the image lacks %s", want)
		}
	}
	if h := files["usr/local/bin/meridian"]; h == nil || h.Mode&0o111 == 0 {
		t.Fatalf("the binary is missing or not executable: %+v", h)
	}
	got, err := exec.Command(inImage, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(got), "meridian ") {
		t.Errorf("meridian version in the image: %v %q", err, got)
	}
	// Static: no dynamic loader needed on an empty base.
	if ldd, _ := exec.Command("file", inImage).Output(); len(ldd) > 0 && strings.Contains(string(ldd), "dynamically linked") {
		t.Errorf("the binary is dynamically linked: %s", ldd)
	}
}
