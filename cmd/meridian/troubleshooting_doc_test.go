package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// troubleshootingConf serves two services from two clusters on loopback:
// app, without health checks, and pay, which fails closed and whose probes
// fail (nothing listens on port 9).
func troubleshootingConf(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf(`
meridian {
    dns        127.0.0.1:0
    http       127.0.0.1:0
    api_tokens %s
    overrides  file %s
}
cluster eu-west {
    region   eu-west
    location 53.35 -6.26
    static {
        ingress 127.0.0.21
        pods app 3
        pods pay 3
    }
}
cluster us-east {
    region   us-east
    location 39.04 -77.49
    static {
        ingress 127.0.0.22
        pods app 3
        pods pay 3
    }
}
zone gslb.example.com {
    ns ns1.gslb.example.com 127.0.0.1
    service app {
        ttl 30
    }
    service pay {
        fail closed
        health {
            kind     tcp
            port     9
            interval 1s
            timeout  1s
            fall     1
        }
    }
}
`, must(filepath.Abs("../../deploy/demo/tokens")), filepath.Join(t.TempDir(), "overrides.json"))
}

// TestTroubleshootingShowsCtlServices: the `meridian ctl services` sample of
// docs/troubleshooting.md is what the command prints, cell for cell, for
// the situation the doc describes (troubleshootingConf).
func TestTroubleshootingShowsCtlServices(t *testing.T) {
	doc, err := os.ReadFile("../../docs/troubleshooting.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)``` *\n *\\$ meridian ctl services\n(.*?)\n *```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/troubleshooting.md has no ```-block starting with `$ meridian ctl services`")
	}
	want := cells(string(m[1]))

	p := startMeridian(t, troubleshootingConf(t))
	server := "http://" + p.httpAddr
	var got [][]string
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, errOut, code := runCtl(t, server, demoRead, "services")
		if code != 0 {
			t.Fatalf("ctl services: exit %d: %s", code, errOut)
		}
		got = cells(out)
		if fmt.Sprint(got) == fmt.Sprint(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("meridian ctl services prints\n%s\ndocs/troubleshooting.md shows\n%s", rows(got), rows(want))
	}
}

// cells splits a table as tabwriter prints it: rows of cells separated by
// two spaces or more.
func cells(table string) [][]string {
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		out = append(out, regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1))
	}
	return out
}

func rows(t [][]string) string {
	var b strings.Builder
	for _, r := range t {
		b.WriteString("  " + strings.Join(r, " | ") + "\n")
	}
	return b.String()
}
