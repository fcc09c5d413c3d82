package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPprof: `serve -pprof ADDR` serves Go's profiles there, and only
// there: the API's address has none.
func TestPprof(t *testing.T) {
	p := startMeridianArgs(t, demoConf(t, false), "-pprof", "127.0.0.1:0")
	var addr string
	for _, rec := range p.startup {
		if rec["msg"] == "pprof listening" {
			addr, _ = rec["addr"].(string)
		}
	}
	if addr == "" {
		t.Fatal("no 'pprof listening' line at start-up")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://" + addr + "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/: %d\n%.300s", code, body)
	}
	// A CPU profile is gzipped protobuf: it starts with gzip's magic.
	if code, body := get("http://" + addr + "/debug/pprof/profile?seconds=1"); code != 200 || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("GET /debug/pprof/profile: %d, %d bytes, want a gzipped profile", code, len(body))
	}
	if code, _ := get("http://" + p.httpAddr + "/debug/pprof/"); code == 200 {
		t.Error("the API's address serves /debug/pprof/")
	}
}

// TestPprofAddressTaken: a -pprof address that cannot be bound stops
// serve with an error that names the flag.
func TestPprofAddressTaken(t *testing.T) {
	p := startMeridianArgs(t, demoConf(t, false), "-pprof", "127.0.0.1:0")
	var taken string
	for _, rec := range p.startup {
		if rec["msg"] == "pprof listening" {
			taken, _ = rec["addr"].(string)
		}
	}
	out, err := runServeFailing(t, demoConf(t, false), "-pprof", taken)
	if err == nil || !strings.Contains(out, "-pprof") || !strings.Contains(out, "address already in use") {
		t.Errorf("serve with a taken -pprof address: %v\n%s", err, out)
	}
}

// runServeFailing runs serve on conf with args, which must make it exit
// within 30 s, and returns its output.
func runServeFailing(t *testing.T, conf string, args ...string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "meridian.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, meridianBin, append([]string{"serve", "-config", path}, args...)...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("serve %v did not exit within 30 s:\n%s", args, out)
	}
	return string(out), err
}
