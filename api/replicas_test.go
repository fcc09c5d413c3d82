package api

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

var replicasNow = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// threeReplicas is a world of three replicas as r1 sees it: r2 sees
// eu-west's ingress down and has no verdict yet on us-east's, r3's report
// expired while it saw ap-southeast's down, and r1 sees everything up.
func threeReplicas() []model.ReplicaReport {
	eu, us, ap := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("203.0.113.10")
	since := replicasNow.Add(-time.Minute)
	report := func(name string, self bool, expires time.Time, notUp ...model.TargetHealth) model.ReplicaReport {
		return model.ReplicaReport{ProbeReport: model.NewProbeReport(name, since, notUp, []string{svcName}), Self: self,
			Heartbeat: replicasNow.Add(-5 * time.Second), Expires: expires}
	}
	live, dead := replicasNow.Add(10*time.Second), replicasNow.Add(-time.Second)
	// Out of order: the API sorts.
	return []model.ReplicaReport{
		report("r3", false, dead, model.TargetHealth{Service: svcName, Cluster: "ap-southeast", Address: ap, State: model.Down, Since: since, Reason: "timeout"}),
		report("r2", false, live,
			model.TargetHealth{Service: svcName, Cluster: "eu-west", Address: eu, State: model.Down, Since: since, Reason: "connection refused"},
			model.TargetHealth{Service: svcName, Cluster: "us-east", Address: us, State: model.Unknown}),
		report("r1", true, live),
	}
}

func replicasFixture(t *testing.T, reports []model.ReplicaReport) *fixture {
	t.Helper()
	return newFixtureWith(t, func(cfg *V1Config) {
		cfg.Replica = "r1"
		cfg.Now = func() time.Time { return replicasNow }
		if reports != nil {
			cfg.Replicas = func() []model.ReplicaReport { return reports }
			cfg.Quorum = func() string { return "majority" }
		}
		h := model.NewHealth([]model.TargetHealth{{Service: svcName, Cluster: "eu-west", Address: netip.MustParseAddr("192.0.2.10"),
			State: model.Up, Reason: "1 of 2 live replicas see it down; majority needs 2"}})
		cfg.Health = func() model.Health { return h }
	})
}

// TestReplicasEndpoint checks GET /api/v1/replicas: every replica sorted
// by name, the expired one listed as not live, and the targets the live
// ones disagree on with each one's verdict and this replica's decision.
func TestReplicasEndpoint(t *testing.T) {
	f := replicasFixture(t, threeReplicas())
	if code, _ := f.do("GET", "/api/v1/replicas", "", "", nil); code != 401 {
		t.Errorf("without a token: %d, want 401", code)
	}
	code, text := f.do("GET", "/api/v1/replicas", readToken, "", nil)
	if code != 200 {
		t.Fatalf("GET /api/v1/replicas: %d %s", code, text)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatal(err)
	}
	heartbeat := replicasNow.Add(-5 * time.Second).Format(time.RFC3339)
	at := replicasNow.Add(-time.Minute).Format(time.RFC3339)
	want := map[string]any{
		"replica": "r1",
		"quorum":  "majority",
		"replicas": []any{
			map[string]any{"name": "r1", "self": true, "live": true, "heartbeat": heartbeat, "expires": replicasNow.Add(10 * time.Second).Format(time.RFC3339),
				"report_at": at, "down": 0.0, "unknown": 0.0},
			map[string]any{"name": "r2", "self": false, "live": true, "heartbeat": heartbeat, "expires": replicasNow.Add(10 * time.Second).Format(time.RFC3339),
				"report_at": at, "down": 1.0, "unknown": 1.0},
			map[string]any{"name": "r3", "self": false, "live": false, "heartbeat": heartbeat, "expires": replicasNow.Add(-time.Second).Format(time.RFC3339),
				"report_at": at, "down": 1.0, "unknown": 0.0},
		},
		"disagreements": []any{
			map[string]any{"service": svcName, "cluster": "eu-west", "address": "192.0.2.10", "decision": "up",
				"decision_reason": "1 of 2 live replicas see it down; majority needs 2",
				"verdicts": []any{
					map[string]any{"replica": "r1", "state": "up"},
					map[string]any{"replica": "r2", "state": "down", "since": at, "reason": "connection refused"},
				}},
			map[string]any{"service": svcName, "cluster": "us-east", "address": "198.51.100.10", "decision": "unknown", "decision_reason": "",
				"verdicts": []any{
					map[string]any{"replica": "r1", "state": "up"},
					map[string]any{"replica": "r2", "state": "unknown"},
				}},
		},
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
		t.Errorf("GET /api/v1/replicas:\n got %s\nwant %s", g, w)
	}

	var st statusJSON
	f.do("GET", "/api/v1/status", readToken, "", &st)
	if st.Replicas != (replicaCountsJSON{Live: 2, Total: 3, Disagreements: 2}) || len(st.PlanVersion) != 16 {
		t.Errorf("status %+v, want 2 of 3 replicas live, 2 disagreements", st)
	}
}

// TestReplicasUnshared: without shared health the endpoint lists this
// replica alone, with the verdicts of its own Health and no times.
func TestReplicasUnshared(t *testing.T) {
	f := replicasFixture(t, nil)
	var got replicasJSON
	if code, text := f.do("GET", "/api/v1/replicas", readToken, "", &got); code != 200 {
		t.Fatalf("GET /api/v1/replicas: %d %s", code, text)
	}
	if got.Replica != "r1" || got.Quorum != "" || len(got.Replicas) != 1 || len(got.Disagreements) != 0 {
		t.Fatalf("replicas %+v, want r1 alone", got)
	}
	if r := got.Replicas[0]; r.Name != "r1" || !r.Self || !r.Live || r.Heartbeat != nil || r.Expires != nil || r.Down != 0 {
		t.Errorf("replica %+v, want r1, self, live, no times, nothing down", r)
	}
	var st statusJSON
	f.do("GET", "/api/v1/status", readToken, "", &st)
	if st.Replicas != (replicaCountsJSON{Live: 1, Total: 1}) {
		t.Errorf("status replicas %+v, want this one alone", st.Replicas)
	}
}

// TestStatusPageReplicas: the page has a Replicas section with two
// replicas or more, and none with one.
func TestStatusPageReplicas(t *testing.T) {
	reports := threeReplicas()
	for _, tc := range []struct {
		name    string
		reports []model.ReplicaReport
		want    bool
	}{
		{"three replicas", reports, true},
		{"one replica sharing", reports[2:], false},
		{"health not shared", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := replicasFixture(t, tc.reports)
			code, page := f.do("GET", "/", readToken, "", nil)
			if code != 200 {
				t.Fatalf("GET /: %d", code)
			}
			if has := strings.Contains(page, `<h2 id="replicas">Replicas</h2>`); has != tc.want {
				t.Fatalf("the page has a Replicas section: %v, want %v", has, tc.want)
			}
			if !tc.want {
				return
			}
			for _, want := range []string{
				`<tr data-replica="r1"><td>r1 (this one)</td><td class="ok">live</td>`,
				`<tr data-replica="r3"><td>r3</td><td class="bad">expired 1 s ago</td>`,
				`<th>target</th><th>r1</th><th>r2</th><th>decision here</th>`,
				`<td>app.gslb.example.com eu-west 192.0.2.10</td><td><span class="ok">up</span></td><td><span class="bad">down</span> <span class="meta">connection refused</span></td>`,
				`majority needs 2`,
				`<a class="bad" href="#replicas">replicas disagree on 2 targets</a>`,
				`Health quorum majority`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %s", want)
				}
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReplicasEndpointSelfTrouble: this replica's own entry says when it
// shares its name with another process and since when it cannot reach
// the health store.
func TestReplicasEndpointSelfTrouble(t *testing.T) {
	reports := threeReplicas()
	unreachable := replicasNow.Add(-8 * time.Second)
	reports[2].Conflict, reports[2].StoreUnreachableSince = "0123456789abcdef", unreachable
	f := replicasFixture(t, reports)
	code, text := f.do("GET", "/api/v1/replicas", readToken, "", nil)
	if code != 200 {
		t.Fatalf("GET /api/v1/replicas: %d %s", code, text)
	}
	var got struct {
		Replicas []map[string]any `json:"replicas"`
	}
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatal(err)
	}
	for _, r := range got.Replicas {
		_, conflict := r["conflict"]
		_, since := r["store_unreachable_since"]
		switch r["name"] {
		case "r1":
			if r["conflict"] != "0123456789abcdef" || r["store_unreachable_since"] != unreachable.UTC().Format(time.RFC3339) {
				t.Errorf("r1: %v", r)
			}
		default:
			if conflict || since {
				t.Errorf("%s: %v", r["name"], r)
			}
		}
	}
}
