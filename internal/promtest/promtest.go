// Package promtest gives tests Prometheus' promtool, to check and unit-test
// the alerting rules in deploy/prometheus.
//
// promtool is built from the github.com/prometheus/prometheus module pinned
// in ./promtool (its own module, so that Meridian's go.mod does not carry
// Prometheus' dependencies; ./... does not reach into it) and cached under
// the user's cache directory, named by a hash of that go.mod and go.sum:
// a new pin builds a new binary, the same pin is built once per machine.
// The first build takes minutes (without the cloud service discoveries,
// which rules do not need: build tag remove_all_sd).
package promtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

var buildMu sync.Mutex

// moduleDir is the directory of the promtool module.
func moduleDir() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "promtool")
}

// Version returns the version of the Prometheus module that promtool is
// built from, as ./promtool/go.mod pins it ("v0.316.0"), and the release
// it stands for ("3.16.0": Prometheus tags v3.X.Y as module v0.3XX.Y).
func Version() (module, release string, err error) {
	gomod, err := os.ReadFile(filepath.Join(moduleDir(), "go.mod"))
	if err != nil {
		return "", "", err
	}
	m := regexp.MustCompile(`(?m)^\s*github\.com/prometheus/prometheus (v0\.(\d+)\.(\d+))\b`).FindStringSubmatch(string(gomod))
	if m == nil {
		return "", "", fmt.Errorf("promtest: %s pins no github.com/prometheus/prometheus", filepath.Join(moduleDir(), "go.mod"))
	}
	var mm int
	fmt.Sscan(m[2], &mm)
	return m[1], fmt.Sprintf("%d.%d.%s", mm/100, mm%100, m[3]), nil
}

// Promtool returns the path of promtool, building it into the cache when
// it is not there yet. The error says what failed and shows go build's
// output.
func Promtool() (string, error) {
	dir := moduleDir()
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return "", fmt.Errorf("promtest: %w", err)
		}
		h.Write(b)
	}
	module, release, err := Version()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "meridian-promtest", "promtool-"+release+"-"+hex.EncodeToString(h.Sum(nil))[:12])
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// Test binaries of several packages may get here at once: one builds.
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", fmt.Errorf("promtest: %w", err)
	}
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("promtest: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("promtest: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process built it while we waited
	}
	tmp := bin + ".tmp"
	// promtool --version prints what prometheus/common/version holds,
	// which Prometheus' own release build sets the same way.
	ldflags := fmt.Sprintf("-X github.com/prometheus/common/version.Version=%s -X github.com/prometheus/common/version.Branch=module-%s",
		release, module)
	// remove_all_sd leaves out the cloud service discoveries (AWS, Azure,
	// GCE, ...; Prometheus' own build tag), which rules never use and
	// which are most of the build's time.
	cmd := exec.Command("go", "build", "-tags", "remove_all_sd", "-ldflags", ldflags, "-o", tmp, "github.com/prometheus/prometheus/cmd/promtool")
	cmd.Dir = dir
	// The versions are pinned in promtool/go.mod and go.sum; -mod=mod lets
	// the build fill in what the module cache lacks.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("promtest: building promtool from github.com/prometheus/prometheus %s (in %s) failed: %w\n%s",
			module, dir, err, strings.TrimSpace(string(out)))
	}
	return bin, os.Rename(tmp, bin)
}
