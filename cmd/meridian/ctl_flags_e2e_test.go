package main

import (
	"encoding/json"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The demo's public tokens (deploy/demo/tokens).
const (
	demoAdmin = "demo-admin-token"
	demoRead  = "demo-read-token"
)

// TestCtlFlagsAfterArguments: every flag, the global ones included, may
// come after the command and its arguments; "--" ends the flags; a service
// is found relative to its zone; a drain of the config cannot be undone by
// ctl undrain, which says why; -for reads the config's durations.
func TestCtlFlagsAfterArguments(t *testing.T) {
	p := startMeridian(t, demoConf(t, true)) // eu-west drained by the config
	server := "http://" + p.httpAddr
	nowhere := "http://127.0.0.1:1" // $MERIDIAN_SERVER: the flags must win
	ctl := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCtl(t, nowhere, "wrong-token", args...)
		if code != 0 {
			t.Fatalf("meridian ctl %q: exit %d: %s%s", args, code, out, errOut)
		}
		return out
	}

	// Global flags after the command's argument and its own flags, and a
	// name relative to its zone.
	out := ctl("explain", "app", "-client", "81.2.69.1", "-o", "json", "-server", server, "-token", demoRead)
	var e struct {
		Name    string
		Targets []struct{ Cluster string }
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("explain app -client IP -o json did not print JSON: %v\n%s", err, out)
	}
	if e.Name != "app.gslb.example.com" || len(e.Targets) == 0 {
		t.Errorf("explain app: name %q, %d targets; want app.gslb.example.com with targets", e.Name, len(e.Targets))
	}
	out = ctl("-server", server, "explain", "app", "-client", "81.2.69.1", "-token", demoRead)
	if !strings.HasPrefix(out, "app.gslb.example.com for 81.2.69.1 (nearest eu-west): clients nearest eu-west: 100% to priority 0 (us-east") {
		t.Errorf("explain app (eu-west drained), table:\n%s", out)
	}
	// "--" ends the flags: what follows is an argument even if it looks
	// like a flag; a "--" that is a flag's value is only that.
	if out := ctl("explain", "-client", "81.2.69.1", "-server", server, "-token", demoRead, "--", "app"); !strings.Contains(out, "app.gslb.example.com for 81.2.69.1") {
		t.Errorf("explain -client IP -- app:\n%s", out)
	}
	if _, errOut, code := runCtl(t, server, demoAdmin, "drain", "us-east", "--", "-reason", "x"); code != 2 || !strings.Contains(errOut, "expected 1 argument(s), got 3") {
		t.Errorf("drain us-east -- -reason x: exit %d, %s; want exit 2, three arguments", code, errOut)
	}
	if out := ctl("drain", "us-east", "-reason", "--", "-dry-run", "-server", server, "-token", demoAdmin); !strings.Contains(out, "dry run: PUT drain-us-east") {
		t.Errorf("drain us-east -reason -- -dry-run:\n%s", out)
	}
	if out := ctl("overrides", "-server", server, "-token", demoRead); strings.Contains(out, "drain-us-east") {
		t.Errorf("a dry run made an override:\n%s", out)
	}

	// The confirmation of a write escapes what a terminal would act on, as
	// every listing does.
	if out := ctl("drain", "us-east", "-reason", "a\x1b[31mred\u202eevil", "-for", "1m", "-server", server, "-token", demoAdmin); strings.ContainsAny(out, "\x1b\u202e") || !strings.Contains(out, `a\x1b[31mred\u202eevil`) {
		t.Errorf("drain's confirmation of a reason with control characters: %q", out)
	}
	ctl("undrain", "us-east", "-server", server, "-token", demoAdmin)

	// -for takes the config's durations: 1d is a day, 1d12h a day and a half.
	before := time.Now()
	ctl("drain", "ap-southeast", "-reason", "kernel upgrade", "-for", "1d", "-server", server, "-token", demoAdmin)
	ctl("weight", "app", "us-east", "5", "-reason", "migration", "-for", "1d12h", "-server", server, "-token", demoAdmin)
	var list []struct {
		ID      string
		Service string
		Expires *time.Time
	}
	if err := json.Unmarshal([]byte(ctl("overrides", "-o", "json", "-server", server, "-token", demoRead)), &list); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"drain-ap-southeast": 24 * time.Hour, "weight-us-east-app.gslb.example.com": 36 * time.Hour}
	for _, o := range list {
		d, ok := want[o.ID]
		if !ok {
			continue
		}
		delete(want, o.ID)
		if o.Expires == nil || o.Expires.Before(before.Add(d-time.Minute)) || o.Expires.After(time.Now().Add(d+time.Minute)) {
			t.Errorf("override %s expires %v; want about %v from now", o.ID, o.Expires, d)
		}
	}
	if len(want) > 0 {
		t.Errorf("no overrides %v in %+v", want, list)
	}
	if _, errOut, code := runCtl(t, server, demoAdmin, "drain", "us-east", "-reason", "x", "-for", "2 days"); code != 2 || !strings.Contains(errOut, `-for "2 days": expected seconds or a duration such as`) {
		t.Errorf("-for '2 days': exit %d, %s; want exit 2 naming -for", code, errOut)
	}

	// A drain of the config: undrain says where it comes from.
	for _, args := range [][]string{{"undrain", "eu-west"}, {"undrain", "eu-west", "-dry-run"}} {
		_, errOut, code := runCtl(t, server, demoAdmin, args...)
		if code != 1 || !strings.Contains(errOut, "409 Conflict: override config.drain.eu-west comes from the config file; remove it there") {
			t.Errorf("ctl %q: exit %d, %s; want exit 1 saying the drain comes from the config", args, code, errOut)
		}
	}
	if _, errOut, code := runCtl(t, server, demoAdmin, "undrain", "us-east"); code != 1 || !strings.Contains(errOut, "404 Not Found: no override drain-us-east") {
		t.Errorf("undrain of a cluster not drained: exit %d, %s", code, errOut)
	}
	if out := ctl("undrain", "ap-southeast", "-server", server, "-token", demoAdmin); !strings.Contains(out, "removed override drain-ap-southeast") {
		t.Errorf("undrain ap-southeast:\n%s", out)
	}

	// A missing -reason names the flag and the command's usage, not every command's.
	for _, args := range [][]string{{"drain", "us-east"}, {"weight", "app", "us-east", "5"}} {
		_, errOut, code := runCtl(t, server, demoAdmin, args...)
		if code != 2 || !strings.Contains(errOut, "-reason is required") || !strings.Contains(errOut, "meridian ctl "+args[0]+" ") ||
			strings.Contains(errOut, "Commands:") || strings.Contains(errOut, "dnssec") {
			t.Errorf("ctl %q: exit %d, stderr:\n%s\nwant exit 2 naming -reason and only the usage of %s", args, code, errOut, args[0])
		}
	}
}

// TestCtlRelativeNameAmbiguous: a name relative to more than one zone is
// refused with the candidates; the full name still works.
func TestCtlRelativeNameAmbiguous(t *testing.T) {
	conf := strings.ReplaceAll(demoConf(t, false), "pods app ", "pods app.gslb.example.com ") + `
cluster other {
    region   us-east
    location 39.04 -77.49
    static {
        ingress 198.51.100.20
        pods app.other.example 2
    }
}
zone other.example {
    ns ns1.other.example 127.0.0.1
    service app {
        ttl 1d
    }
}
`
	p := startMeridian(t, conf)
	server := "http://" + p.httpAddr
	_, errOut, code := runCtl(t, server, demoRead, "explain", "app", "-client", "81.2.69.1")
	if code != 2 || !strings.Contains(errOut, "app is a service in more than one zone: app.gslb.example.com, app.other.example; give the full name") {
		t.Errorf("explain app in two zones: exit %d, %s", code, errOut)
	}
	if out, errOut, code := runCtl(t, server, demoRead, "explain", "app.other.example", "-client", "81.2.69.1"); code != 0 || !strings.HasPrefix(out, "app.other.example for 81.2.69.1") {
		t.Errorf("explain app.other.example: exit %d, %s%s", code, out, errOut)
	}
	if out, errOut, code := runCtl(t, server, demoRead, "explain", "nope", "-client", "81.2.69.1"); code != 1 || !strings.Contains(errOut, "nope") {
		t.Errorf("explain nope: exit %d, %s%s; want the server's refusal", code, out, errOut)
	}
}

// TestHelpExitsZero: -h, -help and --help print the usage on stdout and
// exit 0 for meridian, serve, ctl and every ctl command; ctl's commands
// print their own usage only.
func TestHelpExitsZero(t *testing.T) {
	run := func(args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(meridianBin, args...)
		cmd.Env = append(cmd.Environ(), "MERIDIAN_SERVER=http://127.0.0.1:1")
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errOut.String(), code
	}
	helps := []string{"-h", "-help", "--help"}
	for _, h := range helps {
		for _, args := range [][]string{{h}, {"serve", h}, {"ctl", h}, {"serve", "-config", "x", h}} {
			if out, errOut, code := run(args...); code != 0 || !strings.Contains(out, "Usage") {
				t.Errorf("meridian %q: exit %d, stdout %q, stderr %q; want exit 0 with the usage", args, code, out, errOut)
			}
		}
	}
	// Every command of ctl's usage, with its arguments or without, each
	// spelling of help in turn (a run of the race-built binary takes a
	// second here).
	commands := regexp.MustCompile(`(?m)^  ([a-z-]+) `).FindAllStringSubmatch(ctlUsage, -1)
	if len(commands) < 13 {
		t.Fatalf("found %d commands in ctl's usage", len(commands))
	}
	for i, m := range append(commands, []string{"", "dnssec keygen"}) {
		h := helps[i%len(helps)]
		args := append([]string{"ctl"}, strings.Fields(m[1])...)
		if i%2 == 0 {
			args = append(args, "x", "y") // after the arguments
		}
		out, errOut, code := run(append(args, h)...)
		// A continuation line is aligned, not a second "meridian ctl".
		if code != 0 || !strings.Contains(out, "meridian ctl "+strings.Fields(m[1])[0]+" ") || strings.Contains(out, "Commands:") || strings.Contains(out, "meridian ctl  ") {
			t.Errorf("meridian %q: exit %d, stdout %q, stderr %q; want exit 0 with the command's usage", append(args, h), code, out, errOut)
		}
	}
	if out, _, code := run("ctl", "help", "drain"); code != 0 || !strings.Contains(out, "meridian ctl drain CLUSTER") || strings.Contains(out, "weight") {
		t.Errorf("ctl help drain: exit %d:\n%s", code, out)
	}
	for _, w := range []string{"99999999999", "1000001", "x"} { // -1 is taken for a flag
		if _, errOut, code := run("ctl", "weight", "app", "us-east", w, "-reason", "r", "-server", "http://127.0.0.1:1"); code != 2 ||
			!strings.Contains(errOut, "expected a whole number from 0 (drain) to 1000000") {
			t.Errorf("ctl weight %s: exit %d, %s; want 2 with the range", w, code, errOut)
		}
	}
	if out, errOut, code := run("ctl", "help", "nosuch"); code != 2 || !strings.Contains(errOut, `no command "nosuch"`) || out != "" {
		t.Errorf("ctl help nosuch: exit %d, stdout %q, stderr %q; want exit 2 naming it", code, out, errOut)
	}
	if _, errOut, code := run("serve", "-bogus"); code != 2 || !strings.Contains(errOut, "-bogus") {
		t.Errorf("serve -bogus: exit %d, %s; want 2", code, errOut)
	}
}
