package main

import (
	"bytes"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/model"
)

// TestCtlReplicas runs `meridian ctl replicas` in process against the
// real API handler with three replicas, one of them expired, that
// disagree on one target.
func TestCtlReplicas(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	addr := netip.MustParseAddr("192.0.2.10")
	since := now.Add(-time.Minute)
	down := model.TargetHealth{Service: "app.gslb.example.com", Cluster: "eu-west", Address: addr, State: model.Down, Since: since, Reason: "connection refused"}
	reports := []model.ReplicaReport{
		{ProbeReport: model.NewProbeReport("r2", since, []model.TargetHealth{down}, nil), Heartbeat: now.Add(-2 * time.Second), Expires: now.Add(10 * time.Second)},
		{ProbeReport: model.NewProbeReport("r1", since, nil, []string{"app.gslb.example.com"}), Self: true, Heartbeat: now.Add(-time.Second), Expires: now.Add(10 * time.Second)},
		{ProbeReport: model.NewProbeReport("r3", since, []model.TargetHealth{down}, nil), Heartbeat: now.Add(-time.Minute), Expires: now.Add(-time.Second)},
	}
	dir := t.TempDir()
	writeTokens(t, filepath.Join(dir, "tokens"))
	tokens, err := api.LoadTokens(filepath.Join(dir, "tokens"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := api.OpenFileStore(filepath.Join(dir, "overrides.json"))
	if err != nil {
		t.Fatal(err)
	}
	decided := model.NewHealth([]model.TargetHealth{{Service: down.Service, Cluster: down.Cluster, Address: addr, State: model.Up,
		Reason: "1 of 2 live replicas see it down"}})
	srv := httptest.NewServer(api.Handler(api.Config{Gatherer: prometheus.NewRegistry(), Ready: func() error { return nil }, V1: &api.V1Config{
		Tokens: tokens, Store: store, Replica: "r1",
		Plan:            func() *model.Plan { return nil },
		Inventory:       func() model.Inventory { return model.Inventory{} },
		Health:          func() model.Health { return decided },
		ConfigOverrides: func() []model.Override { return nil },
		Replicas:        func() []model.ReplicaReport { return reports },
		Quorum:          func() string { return "82%" },
		Now:             func() time.Time { return now },
	}}))
	t.Cleanup(srv.Close)

	var out, errOut bytes.Buffer
	if code := ctlCommand([]string{"-server", srv.URL, "-token", "read-secret", "replicas"}, &out, &errOut); code != exitOK {
		t.Fatalf("ctl replicas: exit %d: %s", code, errOut.String())
	}
	want := `replica r1, health quorum 82%

REPLICA    STATE                         HEARTBEAT             REPORT                DOWN  UNKNOWN
r1 (self)  live                          2026-03-04T05:06:06Z  2026-03-04T05:05:07Z  0     0
r2         live                          2026-03-04T05:06:05Z  2026-03-04T05:05:07Z  1     0
r3         expired 2026-03-04T05:06:06Z  2026-03-04T05:05:07Z  2026-03-04T05:05:07Z  1     0

SERVICE               CLUSTER  ADDRESS     VERDICTS                             DECISION
app.gslb.example.com  eu-west  192.0.2.10  r1 up, r2 down (connection refused)  up (1 of 2 live replicas see it down)
`
	if got := out.String(); got != want {
		t.Errorf("ctl replicas printed\n%s\nwant\n%s", got, want)
	}

	// The same with the table of a replica alone: no disagreements.
	reports = reports[1:2]
	out.Reset()
	if code := ctlCommand([]string{"-server", srv.URL, "-token", "read-secret", "replicas"}, &out, &errOut); code != exitOK {
		t.Fatalf("ctl replicas: exit %d: %s", code, errOut.String())
	}
	if got := out.String(); !strings.Contains(got, "r1 (self)  live") || !strings.Contains(got, "no disagreements") {
		t.Errorf("ctl replicas with one replica printed\n%s", got)
	}
}

func TestCtlPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"r1":                   "r1",
		"café":                 "café",
		"ev\x1b]0;pwned\x07il": `ev\x1b]0;pwned\ail`,
		"a\tb\nc":              `a\tb\nc`,
		"\x1b[31mred\x1b[0m":   `\x1b[31mred\x1b[0m`,
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %s, want %s", in, got, want)
		}
	}
}
