package health

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

func TestQuorumDown(t *testing.T) {
	majority, anyOne, all := Quorum{}, Quorum{Rule: QuorumAny}, Quorum{Rule: QuorumAll}
	route53 := Quorum{Rule: QuorumPercent, Percent: 82}
	for _, c := range []struct {
		q            Quorum
		down, voters int
		want         bool
	}{
		{majority, 0, 0, false}, {majority, 1, 1, true}, {majority, 1, 2, false}, {majority, 2, 2, true},
		{majority, 1, 3, false}, {majority, 2, 3, true}, {majority, 2, 4, false}, {majority, 3, 4, true},
		{anyOne, 0, 3, false}, {anyOne, 1, 3, true}, {anyOne, 1, 100, true},
		{all, 2, 3, false}, {all, 3, 3, true}, {all, 1, 1, true}, {all, 0, 0, false},
		{Quorum{Rule: QuorumPercent, Percent: 50}, 1, 2, true}, {Quorum{Rule: QuorumPercent, Percent: 50}, 1, 3, false},
		{Quorum{Rule: QuorumPercent, Percent: 1}, 0, 3, false},
	} {
		if got := c.q.Down(c.down, c.voters); got != c.want {
			t.Errorf("%s: Down(%d of %d) = %v, want %v", c.q, c.down, c.voters, got, c.want)
		}
	}
	// Route 53 keeps a target healthy while more than 18% of its checkers
	// see it healthy: 82% says the same for every count of checkers.
	for voters := 1; voters <= 200; voters++ {
		for down := 0; down <= voters; down++ {
			healthy := float64(voters-down)/float64(voters) > 0.18
			if route53.Down(down, voters) == healthy {
				t.Fatalf("82%%: %d of %d down: Down = %v, but Route 53 says healthy = %v", down, voters, !healthy, healthy)
			}
		}
	}
}

func TestPeerVotesDecide(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.1")
	k := voteKey{"s", "eu", addr}
	entry := func(replica string, st model.State, reason string) model.ProbeReport {
		return model.NewProbeReport(replica, time.Unix(1, 0), []model.TargetHealth{{Service: "s", Cluster: "eu", Address: addr, State: st, Reason: reason}}, nil)
	}
	quiet := func(replica string) model.ProbeReport {
		return model.NewProbeReport(replica, time.Unix(1, 0), nil, []string{"s"})
	}
	up, down, unknown := Verdict{State: model.Up, Reason: "connected"}, Verdict{State: model.Down, Reason: "refused"}, Verdict{}
	for _, c := range []struct {
		name       string
		q          Quorum
		peers      []model.ProbeReport
		local      Verdict
		want       model.State
		wantReason string
	}{
		{"alone: the local verdict", Quorum{}, nil, down, model.Down, "refused"},
		{"one of three down: up", Quorum{}, []model.ProbeReport{quiet("b"), quiet("c")}, down, model.Up, "1 of 3 replicas see it down, short of quorum majority: refused"},
		{"two of three down", Quorum{}, []model.ProbeReport{entry("b", model.Down, "timeout"), entry("c", model.Down, "x")}, up, model.Down, "2 of 3 replicas see it down (quorum majority): b: timeout"},
		{"every one down keeps the local reason", Quorum{}, []model.ProbeReport{entry("b", model.Down, "timeout")}, down, model.Down, "refused"},
		{"any: one peer is enough", Quorum{Rule: QuorumAny}, []model.ProbeReport{entry("b", model.Down, "timeout"), quiet("c")}, up, model.Down, "1 of 3 replicas see it down (quorum any): b: timeout"},
		{"all: one up peer keeps it", Quorum{Rule: QuorumAll}, []model.ProbeReport{entry("b", model.Down, "x"), quiet("c")}, down, model.Up, "2 of 3 replicas see it down, short of quorum all: refused"},
		{"a peer awaiting its probes is no down vote", Quorum{Rule: QuorumAll}, []model.ProbeReport{entry("b", model.Unknown, "awaiting"), entry("c", model.Down, "x")}, down, model.Up, "2 of 3 replicas see it down, short of quorum all: refused"},
		{"nor can one replica decide while the others await theirs", Quorum{}, []model.ProbeReport{entry("b", model.Unknown, ""), entry("c", model.Unknown, "")}, down, model.Up, "1 of 3 replicas see it down, short of quorum majority: refused"},
		{"a peer that does not probe the service does not vote", Quorum{}, []model.ProbeReport{entry("b", model.Down, "x"), model.NewProbeReport("c", time.Unix(1, 0), nil, []string{"other"})}, down, model.Down, "refused"},
		{"a new replica follows the others", Quorum{}, []model.ProbeReport{entry("b", model.Down, "x"), entry("c", model.Down, "x")}, unknown, model.Down, "2 of 3 replicas see it down (quorum majority): b: x"},
		{"a new replica follows the others up", Quorum{}, []model.ProbeReport{quiet("b")}, unknown, model.Up, "1 of 2 replicas see it up"},
		{"nobody knows", Quorum{}, []model.ProbeReport{entry("b", model.Unknown, "")}, unknown, model.Unknown, "awaiting the first probes of every replica"},
		{"another target's entry is no vote", Quorum{Rule: QuorumAny}, []model.ProbeReport{model.NewProbeReport("b", time.Time{}, []model.TargetHealth{{Service: "s", Cluster: "us", Address: addr, State: model.Down}}, nil)}, up, model.Up, "connected"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := newPeerVotes(c.peers).decide(c.q, k, c.local)
			if got.State != c.want || got.Reason != c.wantReason {
				t.Errorf("decide = %v %q, want %v %q", got.State, got.Reason, c.want, c.wantReason)
			}
		})
	}
}

// TestCheckerCountsPeers runs a real probe against a listener that
// accepts: the local verdict is up, and the peers' reports decide.
func TestCheckerCountsPeers(t *testing.T) {
	ln := closingListener(t)
	const svc = "db.example.org"
	shared := make(chan model.ProbeReport, 100)
	h := startCheckerWith(t, Config{Checks: map[string]Check{svc: fastCheck("tcp", portOf(t, ln.Addr().String()), svc)},
		Share: func(r model.ProbeReport) { shared <- r }})
	h.checker.SetInventory(inventory(backend(svc, "eu", 1, localhost)))
	h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second)
	waitShared(t, shared, func(r model.ProbeReport) bool { return r.Replica == "replica-a" && len(r.NotUp) == 0 })

	peerDown := func(replica string) model.ProbeReport {
		return model.NewProbeReport(replica, time.Now(), []model.TargetHealth{{Service: svc, Cluster: "eu", Address: localhost, State: model.Down, Reason: "refused from " + replica}}, nil)
	}
	h.checker.SetPeers([]model.ProbeReport{peerDown("b"), model.NewProbeReport("c", time.Now(), nil, []string{svc})})
	h.waitFor(t, svc, "eu", localhost, func(v model.TargetHealth) bool {
		return v.State == model.Up && strings.HasPrefix(v.Reason, "1 of 3 replicas see it down")
	})
	h.checker.SetQuorum(Quorum{Rule: QuorumAny}) // a reload: one is enough now
	if v := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second); v.Reason != "1 of 3 replicas see it down (quorum any): b: refused from b" {
		t.Errorf("quorum any, one peer of three down: reason %q", v.Reason)
	}
	h.checker.SetQuorum(Quorum{})
	h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second)
	h.checker.SetPeers([]model.ProbeReport{peerDown("b"), peerDown("c")})
	if v := h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second); v.Reason != "2 of 3 replicas see it down (quorum majority): b: refused from b" {
		t.Errorf("two peers of three down: reason %q", v.Reason)
	}
	h.checker.SetPeers(nil) // their reports expired
	h.wait(t, svc, "eu", localhost, model.Up, 5*time.Second)

	// This replica's own failure is shared.
	ln.Close()
	r := waitShared(t, shared, func(r model.ProbeReport) bool { return len(r.NotUp) == 1 && r.NotUp[0].State == model.Down })
	if !slices.Equal(r.Probes, []string{svc}) || r.Quorum != "majority" {
		t.Errorf("shared report probes %v with quorum %q, want [%s] and majority", r.Probes, r.Quorum, svc)
	}
	if v := r.NotUp[0]; v.Service != svc || v.Cluster != "eu" || v.Address != localhost || !strings.Contains(v.Reason, "connection refused") {
		t.Errorf("shared verdict = %+v", v)
	}
}

// waitFor waits until the verdict on a target satisfies ok.
func (h *harness) waitFor(t *testing.T, service, cluster string, addr netip.Addr, ok func(model.TargetHealth) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		for _, v := range h.last.Of(service) {
			if v.Cluster == cluster && v.Address == addr && ok(v) {
				return
			}
		}
		select {
		case h.last = <-h.health:
		case <-deadline:
			t.Fatalf("the verdict on %s in %s at %v is not as wanted within 5 s: %+v", service, cluster, addr, h.last.Of(service))
		}
	}
}

func waitShared(t *testing.T, shared <-chan model.ProbeReport, ok func(model.ProbeReport) bool) model.ProbeReport {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case r := <-shared:
			if ok(r) {
				return r
			}
		case <-deadline:
			t.Fatal("no such report shared within 5 s")
		}
	}
}

// TestCheckerAwaitsPeers: a replica that shares verdicts serves none of
// its own before it has read the other replicas'.
func TestCheckerAwaitsPeers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := portOf(t, ln.Addr().String())
	ln.Close() // refused
	const svc = "db.example.org"
	shared := make(chan model.ProbeReport, 100)
	h := startCheckerWith(t, Config{Checks: map[string]Check{svc: fastCheck("tcp", port, svc)},
		Share: func(r model.ProbeReport) { shared <- r }, AwaitPeers: true})
	h.checker.SetInventory(inventory(backend(svc, "eu", 1, localhost)))
	waitShared(t, shared, func(r model.ProbeReport) bool { return len(r.NotUp) == 1 && r.NotUp[0].State == model.Down })
	// A second target published after the local verdict went down: every
	// Health before it has been taken, and eu's verdict is still unknown.
	h.checker.SetInventory(inventory(backend(svc, "eu", 1, localhost), backend(svc, "us", 1, localhost)))
	h.waitFor(t, svc, "us", localhost, func(model.TargetHealth) bool { return true })
	if v := h.last.State(svc, "eu", localhost); v != model.Unknown {
		t.Fatalf("before the peers are read the verdict is %v, want unknown", v)
	}
	h.checker.SetPeers(nil) // read: there are none
	h.wait(t, svc, "eu", localhost, model.Down, 5*time.Second)
}
