package weights

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/testlog"
	"github.com/meridian-gtm/meridian/model"
)

// waitLog waits until the log holds every one of want, and returns it.
func waitLog(t *testing.T, log *testlog.Buffer, want ...string) string {
	t.Helper()
	return waitLogFrom(t, log, 0, want...)
}

// waitLogFrom waits until the log from byte from on holds every one of
// want, and returns that part.
func waitLogFrom(t *testing.T, log *testlog.Buffer, from int, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := log.String()[from:]
		missing := ""
		for _, w := range want {
			if !strings.Contains(s, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log lacks %q:\n%s", missing, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lineWith returns the one log line that holds every one of parts.
func lineWith(t *testing.T, log string, parts ...string) string {
	t.Helper()
	var found []string
	for _, line := range strings.Split(log, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			found = append(found, line)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d log lines hold %q, want 1:\n%s", len(found), parts, log)
	}
	return found[0]
}

// TestLoopLogsOverrideChanges: every override added, changed, expired or
// removed is logged once, at info, with its kind, service, cluster,
// reason and expiry, whatever its source.
func TestLoopLogsOverrideChanges(t *testing.T) {
	var buf testlog.Buffer
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&buf, nil))}, geoPolicy())
	got := make(chan *model.Plan, 10)
	l.Subscribe(func(p *model.Plan) { got <- p })
	startLoop(t, l)
	l.SetInventory(demo())
	recv(t, got)

	expires := time.Now().Add(400 * time.Millisecond).UTC().Truncate(time.Second).Add(time.Second)
	drain := model.Override{ID: "d1", Kind: model.Drain, Cluster: "eu-west", Service: app, Reason: "kernel upgrade",
		Author: "alice", Expires: expires}
	weight := model.Override{ID: "config.w", Kind: model.Weight, Cluster: "us-east", Weight: 7, Reason: "half capacity"}
	l.SetOverrides(model.NewOverrides([]model.Override{drain, weight}))
	log := waitLog(t, &buf, "override added", "override.id=d1", "override.id=config.w")
	line := lineWith(t, log, "override added", "override.id=d1")
	for _, want := range []string{"override.kind=drain", "override.service=" + app, "override.cluster=eu-west",
		`override.reason="kernel upgrade"`, "override.expires=" + expires.Format(time.RFC3339), "override.author=alice", "active=true"} {
		if !strings.Contains(line, want) {
			t.Errorf("the drain's line lacks %s:\n%s", want, line)
		}
	}
	line = lineWith(t, log, "override added", "override.id=config.w")
	for _, want := range []string{"override.kind=weight", `override.service=""`, "override.cluster=us-east", "override.weight=7",
		`override.reason="half capacity"`, "override.expires=never"} {
		if !strings.Contains(line, want) {
			t.Errorf("the weight's line lacks %s:\n%s", want, line)
		}
	}

	weight.Weight, weight.Reason = 3, "a third"
	l.SetOverrides(model.NewOverrides([]model.Override{drain, weight}))
	log = waitLog(t, &buf, "override changed")
	lineWith(t, log, "override changed", "override.id=config.w", "override.weight=3", `override.reason="a third"`)

	// The drain expires: the loop wakes, re-solves and says so.
	log = waitLog(t, &buf, "override expired")
	lineWith(t, log, "override expired", "override.id=d1", "override.kind=drain", "override.cluster=eu-west")

	l.SetOverrides(model.NewOverrides([]model.Override{drain}))
	log = waitLog(t, &buf, "override removed")
	lineWith(t, log, "override removed", "override.id=config.w", "override.kind=weight", "override.cluster=us-east")

	// Nothing is logged twice: one line per change.
	lineWith(t, log, "override added", "override.id=d1")
	if n := strings.Count(log, "override expired"); n != 1 {
		t.Errorf("%d expiry lines, want 1:\n%s", n, log)
	}
}

// TestLoopDebugLogsPlanChanges: at debug, each new Plan logs which
// shares moved and why; at info, nothing of the kind.
func TestLoopDebugLogsPlanChanges(t *testing.T) {
	var buf testlog.Buffer
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}, geoPolicy())
	got := make(chan *model.Plan, 10)
	l.Subscribe(func(p *model.Plan) { got <- p })
	startLoop(t, l)
	l.SetInventory(demo())
	first := recv(t, got)
	// The first Plan's routes are all new: each set of clients (one per
	// site, and clients of unknown location) is logged, after the hand-off.
	for deadline := time.Now().Add(10 * time.Second); strings.Count(buf.String(), "plan="+first.VersionText()+" ") < len(first.Sites)+1; {
		if time.Now().After(deadline) {
			t.Fatalf("the first Plan's changes are not logged:\n%s", buf.String())
		}
		time.Sleep(time.Millisecond)
	}
	from := len(buf.String())

	l.SetOverrides(model.NewOverrides([]model.Override{{ID: "d1", Kind: model.Drain, Cluster: "eu-west", Reason: "maintenance", Author: "alice"}}))
	p := recv(t, got)
	log := waitLogFrom(t, &buf, from, "plan change")
	line := lineWith(t, log, "plan change", "clients=\"clients nearest eu-west\"")
	for _, want := range []string{"plan=" + p.VersionText(), "service=" + app, "mode=normal",
		"eu-west 100% → 0% (drain of eu-west by alice: maintenance)", "us-east 0% → 100%", "why=\"clients nearest eu-west: 100% to priority"} {
		if !strings.Contains(line, want) {
			t.Errorf("the change line lacks %q:\n%s", want, line)
		}
	}
	// Clients nearest ap-southeast kept their cluster: no line for them.
	if strings.Contains(log, "clients nearest ap-southeast") {
		t.Errorf("a route that did not move is logged:\n%s", log)
	}

	// Failing every target changes the mode too.
	var h []model.TargetHealth
	for _, b := range demo().BackendsOf(app) {
		for _, a := range b.Ingress {
			h = append(h, model.TargetHealth{Service: app, Cluster: b.Cluster, Address: a, State: model.Down})
		}
	}
	l.SetHealth(model.NewHealth(h))
	recv(t, got)
	log = waitLogFrom(t, &buf, from, "mode=\"normal → failed open\"")
	lineWith(t, log, "plan change", "clients=\"clients nearest us-east\"", "failed open", "health check: down")

	// At info, the same change logs no plan change.
	var quiet testlog.Buffer
	l2 := NewLoop(LoopConfig{HoldOff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&quiet, nil))}, geoPolicy())
	got2 := make(chan *model.Plan, 10)
	l2.Subscribe(func(p *model.Plan) { got2 <- p })
	startLoop(t, l2)
	l2.SetInventory(demo())
	recv(t, got2)
	l2.SetHealth(model.NewHealth(h))
	recv(t, got2)
	if strings.Contains(quiet.String(), "plan change") {
		t.Errorf("plan changes logged at info:\n%s", quiet.String())
	}
}

// TestLoopTimestamps: InputsChanged moves with every input, Solved with
// every Solve, published or not; the metrics and the stale-Plan alert
// read them.
func TestLoopTimestamps(t *testing.T) {
	l := NewLoop(LoopConfig{HoldOff: time.Millisecond}, geoPolicy())
	got := make(chan *model.Plan, 10)
	l.Subscribe(func(p *model.Plan) { got <- p })
	if !l.Solved().IsZero() || !l.InputsChanged().IsZero() {
		t.Fatalf("timestamps before any input: %v, %v", l.Solved(), l.InputsChanged())
	}
	startLoop(t, l)
	l.SetHealth(model.Health{})
	in := l.InputsChanged()
	if in.IsZero() {
		t.Fatal("InputsChanged is zero after an input")
	}
	time.Sleep(20 * time.Millisecond)
	if !l.Solved().IsZero() {
		t.Error("Solved is set before any Plan (no inventory yet)")
	}
	l.SetInventory(demo())
	recv(t, got)
	first := l.Solved()
	if !first.After(in) {
		t.Errorf("Solved %v is not after the inputs %v", first, in)
	}
	l.SetInventory(demo()) // same Plan: Solved moves, nothing is published
	deadline := time.Now().Add(5 * time.Second)
	for !l.Solved().After(first) {
		if time.Now().After(deadline) {
			t.Fatal("Solved did not move after a Solve that found the Plan unchanged")
		}
		time.Sleep(time.Millisecond)
	}
	if l.InputsChanged().After(l.Solved()) {
		t.Errorf("inputs %v after the last Solve %v with nothing pending", l.InputsChanged(), l.Solved())
	}
}
