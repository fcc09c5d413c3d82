package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// The Go runtime sizes its heap by GOGC alone: with a live heap of L it
// lets the heap grow to about 2L before collecting, whatever the
// container's memory limit, so a process near its limit is killed by the
// kernel instead of collecting sooner. Meridian therefore gives the
// runtime a soft limit (debug.SetMemoryLimit) of memoryLimitShare of its
// cgroup's limit, unless GOMEMLIMIT says otherwise, as automemlimit does
// for other Go servers. The rest is left for what the limit does not
// count: goroutine stacks beyond the heap's, the binary, the kernel's
// socket buffers charged to the cgroup.
//
// At 10,000 xDS clients (bench/RESULTS.md) the server's RSS after a
// cluster's drain was 1.2-1.3 GB without a limit and 0.95 GB with one of
// 950 MiB, for twice the CPU of the garbage collector.
const memoryLimitShare = 0.9

// memoryLimit is the soft limit set at start, and where it came from.
type memoryLimit struct {
	bytes  int64  // 0: none
	source string // "GOMEMLIMIT", the cgroup file it was read from, or "none"
}

// applyMemoryLimit sets the runtime's soft memory limit from the process's
// cgroup, unless GOMEMLIMIT is set (the runtime has then applied it).
func applyMemoryLimit() memoryLimit {
	if os.Getenv("GOMEMLIMIT") != "" {
		return memoryLimit{bytes: debug.SetMemoryLimit(-1), source: "GOMEMLIMIT"}
	}
	limit, file, ok := cgroupMemoryLimit(os.DirFS("/"))
	if !ok {
		return memoryLimit{source: "none"}
	}
	soft := int64(float64(limit) * memoryLimitShare)
	debug.SetMemoryLimit(soft)
	return memoryLimit{bytes: soft, source: "/" + file}
}

// cgroupMemoryLimit returns the memory limit that applies to the process
// (the smallest of its cgroup's and its ancestors'), read through fsys
// rooted at /: cgroup v2's memory.max, or v1's memory.limit_in_bytes.
// ok is false when no limit is set or none can be read.
func cgroupMemoryLimit(fsys fs.FS) (limit int64, file string, ok bool) {
	self, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0, "", false
	}
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, name string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, name = "sys/fs/cgroup", "memory.max"
		case hasController(parts[1], "memory"):
			dir, name = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		if l, f, found := smallestLimit(fsys, dir, parts[2], name); found && (!ok || l < limit) {
			limit, file, ok = l, f, true
		}
	}
	return limit, file, ok
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// smallestLimit reads name in the cgroup at rel under dir and in each of
// its ancestors. In a container with its own cgroup namespace, rel is
// "/" and the container's own limit is at the root of dir.
func smallestLimit(fsys fs.FS, dir, rel, name string) (limit int64, file string, ok bool) {
	for p := path.Clean("/" + rel); ; p = path.Dir(p) {
		f := path.Join(dir, p, name)
		if l, found := readLimit(fsys, f); found && (!ok || l < limit) {
			limit, file, ok = l, f, true
		}
		if p == "/" {
			return limit, file, ok
		}
	}
}

// unlimitedV1 is the least memory.limit_in_bytes that cgroup v1 writes for
// "no limit" (the largest page-aligned int64, rounded down).
const unlimitedV1 = 1 << 62

// readLimit reads a limit file: a number of bytes, or "max" for none.
func readLimit(fsys fs.FS, file string) (int64, bool) {
	b, err := fs.ReadFile(fsys, file)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || v <= 0 || v >= unlimitedV1 {
		return 0, false // "max", or v1's way of saying none
	}
	return v, true
}
