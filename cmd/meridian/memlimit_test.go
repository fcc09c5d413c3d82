package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCgroupMemoryLimit(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name     string
		fs       fstest.MapFS
		want     int64
		wantFile string
	}{
		{"v2, own namespace", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("1073741824\n"),
		}, 1 << 30, "sys/fs/cgroup/memory.max"},
		{"v2, no limit", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, 0, ""},
		{"v2, nested: the parent's smaller limit applies", fstest.MapFS{
			"proc/self/cgroup":                           file("0::/kubepods/pod1/ctr\n"),
			"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": file("max\n"),
			"sys/fs/cgroup/kubepods/pod1/memory.max":     file("536870912\n"),
			"sys/fs/cgroup/kubepods/memory.max":          file("8589934592\n"),
		}, 1 << 29, "sys/fs/cgroup/kubepods/pod1/memory.max"},
		{"v1", fstest.MapFS{
			"proc/self/cgroup": file("12:pids:/\n4:memory:/docker/abc\n0::/\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("268435456\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes":            file("9223372036854771712\n"),
		}, 1 << 28, "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes"},
		{"v1, memory among other controllers", fstest.MapFS{
			"proc/self/cgroup":                           file("4:cpu,memory:/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("268435456"),
		}, 1 << 28, "sys/fs/cgroup/memory/memory.limit_in_bytes"},
		{"v1, unlimited", fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/x\n"),
			"sys/fs/cgroup/memory/x/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, 0, ""},
		{"no memory controller", fstest.MapFS{
			"proc/self/cgroup": file("12:pids:/\n"),
		}, 0, ""},
		{"no /proc", fstest.MapFS{}, 0, ""},
		{"garbage", fstest.MapFS{
			"proc/self/cgroup":         file("0::/\nnonsense\n"),
			"sys/fs/cgroup/memory.max": file("lots\n"),
		}, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, f, ok := cgroupMemoryLimit(tc.fs)
			if ok != (tc.want != 0) || got != tc.want || f != tc.wantFile {
				t.Errorf("cgroupMemoryLimit = %d, %q, %v; want %d, %q", got, f, ok, tc.want, tc.wantFile)
			}
		})
	}
}

// TestMemoryLimitFromGOMEMLIMIT: an operator's GOMEMLIMIT is kept, and said.
func TestMemoryLimitFromGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "700MiB")
	p := startMeridian(t, demoConf(t, false))
	checkMemoryLimit(t, p, 700<<20, "GOMEMLIMIT")
}

// TestMemoryLimitFromCgroup runs the binary in a cgroup of its own with a
// memory limit of 512 MiB: the runtime's soft limit is 90% of it.
func TestMemoryLimitFromCgroup(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("making a cgroup needs root (make test runs as root)")
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	// The test's own cgroup: v1's memory hierarchy, or v2's.
	var dir, limitFile string
	for _, line := range strings.Split(strings.TrimSpace(string(self)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		switch {
		case len(parts) == 3 && hasController(parts[1], "memory"):
			dir, limitFile = filepath.Join("/sys/fs/cgroup/memory", parts[2]), "memory.limit_in_bytes"
		case len(parts) == 3 && parts[0] == "0" && parts[1] == "" && dir == "":
			dir, limitFile = filepath.Join("/sys/fs/cgroup", parts[2]), "memory.max"
		}
	}
	if dir == "" {
		t.Fatalf("no memory cgroup in /proc/self/cgroup:\n%s", self)
	}
	cg := filepath.Join(dir, fmt.Sprintf("meridian-test-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatalf("making a cgroup for the test: %v", err)
	}
	t.Cleanup(func() { os.Remove(cg) }) // after the process ends (cleanups run last first)
	if err := os.WriteFile(filepath.Join(cg, limitFile), []byte("536870912"), 0o644); err != nil {
		t.Fatalf("setting the cgroup's memory limit: %v", err)
	}
	// A wrapper moves itself into the cgroup, then becomes meridian.
	wrapper := filepath.Join(t.TempDir(), "in-cgroup")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s/cgroup.procs || exit 1\nexec %s \"$@\"\n", cg, meridianBin)
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	real := meridianBin
	meridianBin = wrapper
	t.Cleanup(func() { meridianBin = real })
	t.Setenv("GOMEMLIMIT", "")
	os.Unsetenv("GOMEMLIMIT")
	p := startMeridian(t, demoConf(t, false))
	checkMemoryLimit(t, p, 536870912*9/10, filepath.Join(cg, limitFile))
}

// checkMemoryLimit checks what p says of its memory limit at start, and
// that the runtime has it (go_gc_gomemlimit_bytes).
func checkMemoryLimit(t *testing.T, p *process, want int64, from string) {
	t.Helper()
	said := false
	for _, rec := range p.startup {
		if rec["msg"] != "starting" {
			continue
		}
		said = true
		if got, _ := rec["memory_limit"].(float64); int64(got) != want || rec["memory_limit_from"] != from {
			t.Errorf("starting: memory_limit %v from %v, want %d from %s", rec["memory_limit"], rec["memory_limit_from"], want, from)
		}
	}
	if !said {
		t.Error("no 'starting' line at start-up")
	}
	m := regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`).FindStringSubmatch(scrapeMetrics(t, p.httpAddr))
	if m == nil {
		t.Fatal("no go_gc_gomemlimit_bytes in /metrics")
	}
	if m[1] != fmt.Sprint(want) && m[1] != fmt.Sprintf("%g", float64(want)) && m[1] != fmt.Sprintf("%.9e", float64(want)) {
		t.Errorf("go_gc_gomemlimit_bytes %s, want %d", m[1], want)
	}
}
