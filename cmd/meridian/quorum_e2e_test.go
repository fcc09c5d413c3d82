package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// quorumConf is the config of replica i (r1, r2, r3) of the quorum test:
// app.gslb.example.com fails over from primary to secondary, probed over
// HTTP on port from the replica's own source address 127.0.0.1i, with the
// probe verdicts shared through a real kube-apiserver.
func quorumConf(t *testing.T, i int, kubeconfig string, port int) string {
	dir := t.TempDir()
	writeTokens(t, filepath.Join(dir, "tokens"))
	shared := fmt.Sprintf(`    api_tokens    %[1]s/tokens
    overrides     kubernetes meridian/overrides %[2]s
    audit_log     %[1]s/audit.log
    replica       r%[3]d
    health_source 127.0.0.1%[3]d
`, dir, kubeconfig, i)
	block := fmt.Sprintf("            kind http\n            path /healthz\n            port %d\n            interval %v\n            timeout 200ms\n            rise 2\n            fall %d",
		port, quorumInterval, quorumFall)
	conf := healthConf(block)
	if !strings.Contains(conf, "    replica e2e-replica\n") {
		t.Fatal("healthConf changed: update quorumConf")
	}
	return strings.Replace(conf, "    replica e2e-replica\n", shared, 1)
}

// The probes of the quorum test.
const (
	quorumInterval = 500 * time.Millisecond
	quorumFall     = 2
)

// refusing serves HTTP on ln but resets every connection from refused,
// as a firewall that rejects one health checker would.
func refusing(t *testing.T, ln net.Listener, refused string) {
	inner := &filterListener{Listener: ln, refused: refused}
	serveHTTP(t, inner, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
}

type filterListener struct {
	net.Listener
	refused string
}

func (l *filterListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if host, _, _ := net.SplitHostPort(c.RemoteAddr().String()); host != l.refused {
			return c, nil
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, as a REJECT rule sends
		}
		c.Close()
	}
}

// replicasView is GET /api/v1/replicas as the test reads it.
type replicasView struct {
	Replica  string `json:"replica"`
	Quorum   string `json:"quorum"`
	Replicas []struct {
		Name string `json:"name"`
		Self bool   `json:"self"`
		Live bool   `json:"live"`
		Down int    `json:"down"`
	} `json:"replicas"`
	Disagreements []struct {
		Service  string `json:"service"`
		Cluster  string `json:"cluster"`
		Address  string `json:"address"`
		Decision string `json:"decision"`
		Verdicts []struct {
			Replica string `json:"replica"`
			State   string `json:"state"`
			Reason  string `json:"reason"`
		} `json:"verdicts"`
	} `json:"disagreements"`
}

// apiGet decodes the JSON of GET path from p's API, read with the read token.
func apiGet(t *testing.T, p *process, path string, v any) {
	t.Helper()
	getJSON(t, p, "read-secret", path, v)
}

// getJSON decodes the JSON of GET path from p's API, read with token.
func getJSON(t *testing.T, p *process, token, path string, v any) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.httpAddr+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func planVersionOf(t *testing.T, p *process) string {
	var s struct {
		PlanVersion string `json:"plan_version"`
	}
	apiGet(t, p, "/api/v1/status", &s)
	return s.PlanVersion
}

// waitReplicas polls p's /api/v1/replicas until ok accepts it.
func waitReplicas(t *testing.T, p *process, within time.Duration, what string, ok func(replicasView) bool) replicasView {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var v replicasView
		apiGet(t, p, "/api/v1/replicas", &v)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s: %s not seen within %v; /api/v1/replicas: %+v", v.Replica, what, within, v)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func liveNames(v replicasView) string {
	var names []string
	for _, r := range v.Replicas {
		if r.Live {
			names = append(names, r.Name)
		}
	}
	return strings.Join(names, " ")
}

// samePlan waits until every replica serves one Plan version.
func samePlan(t *testing.T, replicas []*process) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var versions []string
		for _, p := range replicas {
			versions = append(versions, planVersionOf(t, p))
		}
		same := true
		for _, v := range versions {
			same = same && v == versions[0]
		}
		if same {
			return versions[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replicas serve Plan versions %v after 5 s", versions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// moveTimes closes nothing itself: it polls every replica's answer from
// start until each one is want, and returns how long each took.
func moveTimes(t *testing.T, replicas []*process, start time.Time, want string, within time.Duration) []time.Duration {
	t.Helper()
	took := make([]time.Duration, len(replicas))
	var wg sync.WaitGroup
	for i, p := range replicas {
		wg.Go(func() {
			for answerOf(t, p.dnsPort, "app.gslb.example.com", "A") != want {
				if time.Since(start) > within {
					t.Errorf("replica %d still does not answer %s %v after the change", i+1, want, within)
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	return took
}

// TestReplicasAgreeOnHealth runs three replicas that share their probe
// verdicts through a real kube-apiserver, each probing from its own
// source address. A target that refuses one replica only is failed over
// by none; a real failure moves all three within interval x fall + 1 s;
// a killed replica's votes expire and the other two keep deciding.
func TestReplicasAgreeOnHealth(t *testing.T) {
	env := kubetest.Start(t, 1)
	home := env.Clusters[0]
	home.Namespace(t, "meridian")
	primary, secondary, port := listenPair(t)
	refusing(t, primary, "127.0.0.11")
	serveHTTP(t, secondary, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)

	// r2 and r3 first, then r1, which its firewall turns away.
	replicas := make([]*process, 3)
	for _, i := range []int{2, 3, 1} {
		replicas[i-1] = startMeridian(t, quorumConf(t, i, home.Kubeconfig, port))
	}
	for _, p := range replicas {
		// Every replica's first verdicts, not only r1's: a replica still
		// awaiting its probes reports "unknown" meanwhile.
		waitReplicas(t, p, 15*time.Second, "three live replicas and r1's dissent alone", func(v replicasView) bool {
			if liveNames(v) != "r1 r2 r3" || len(v.Disagreements) != 1 || v.Disagreements[0].Cluster != "primary" || len(v.Disagreements[0].Verdicts) != 3 {
				return false
			}
			for _, vd := range v.Disagreements[0].Verdicts {
				if vd.State != map[string]string{"r1": "down", "r2": "up", "r3": "up"}[vd.Replica] {
					return false
				}
			}
			return true
		})
	}
	v := waitReplicas(t, replicas[1], time.Second, "the disagreement", func(replicasView) bool { return true })
	d := v.Disagreements[0]
	if d.Service != "app.gslb.example.com" || d.Cluster != "primary" || d.Address != primaryAddr || d.Decision != "up" || len(d.Verdicts) != 3 {
		t.Fatalf("disagreement: %+v, want primary's %s decided up, with three verdicts", d, primaryAddr)
	}
	for _, vd := range d.Verdicts {
		if want := map[string]string{"r1": "down", "r2": "up", "r3": "up"}[vd.Replica]; vd.State != want {
			t.Errorf("%s's verdict on primary: %s (%s), want %s", vd.Replica, vd.State, vd.Reason, want)
		}
	}
	// The status page shows the disagreement too.
	page := statusPageHTML(t, replicas[1], "read-secret")
	for _, want := range []string{`<a class="bad" href="#replicas">replicas disagree on 1 target</a>`,
		`<td>app.gslb.example.com primary ` + primaryAddr + `</td>`, `<th>r1</th><th>r2</th><th>r3</th>`} {
		if !strings.Contains(page, want) {
			t.Errorf("r2's status page lacks %s", want)
		}
	}
	before := samePlan(t, replicas)
	// For a few probe intervals, no replica leaves primary: r1 least of all.
	for end := time.Now().Add(4 * quorumInterval); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for i, p := range replicas {
			if got := answerOf(t, p.dnsPort, "app.gslb.example.com", "A"); got != primaryAddr {
				t.Fatalf("replica r%d answers %s while only r1 is refused, want primary's %s", i+1, got, primaryAddr)
			}
		}
	}
	t.Logf("r1 alone sees primary down: every replica answers primary, Plan %s on all three", before)

	// A real failure moves all three.
	bound := quorumInterval*quorumFall + time.Second
	primary.Close()
	took := moveTimes(t, replicas, time.Now(), secondaryAddr, bound)
	t.Logf("primary down: the replicas moved after %v (bound %v)", took, bound)
	if failed := samePlan(t, replicas); failed == before {
		t.Errorf("the Plan version did not change with the failure: %s", failed)
	}

	// Primary back, refusing r1 again: all three return.
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", primaryAddr, port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	refusing(t, ln, "127.0.0.11")
	moveTimes(t, replicas, time.Now(), primaryAddr, 10*time.Second)

	// Kill r2: its votes expire, r1 and r3 keep deciding (one of two
	// down is no majority), and a real failure still moves both.
	r2 := replicas[1]
	r2.cmd.Process.Kill()
	killed := time.Now()
	for _, p := range []*process{replicas[0], replicas[2]} {
		waitReplicas(t, p, 10*time.Second, "r2's votes expire", func(v replicasView) bool { return liveNames(v) == "r1 r3" })
	}
	t.Logf("r2 killed: its votes expired after %v", time.Since(killed).Round(time.Millisecond))
	if rec := waitLog(t, replicas[0], "replica's health reports expired; it no longer votes"); rec["peer"] != "r2" || rec["voters"] != 2.0 {
		t.Errorf("r1 logs %v, want r2 gone and two voters", rec)
	}
	rest := []*process{replicas[0], replicas[2]}
	for end := time.Now().Add(4 * quorumInterval); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for _, p := range rest {
			if got := answerOf(t, p.dnsPort, "app.gslb.example.com", "A"); got != primaryAddr {
				t.Fatalf("with r2 gone a replica answers %s, want primary's %s", got, primaryAddr)
			}
		}
	}
	samePlan(t, rest)
	ln.Close()
	took = moveTimes(t, rest, time.Now(), secondaryAddr, bound)
	t.Logf("r2 gone, primary down: r1 and r3 moved after %v (bound %v)", took, bound)
}

// TestHealthQuorumAloneWarns: a quorum rule where nothing is shared is
// named, with its line, as having no effect.
func TestHealthQuorumAloneWarns(t *testing.T) {
	dir := t.TempDir()
	conf := strings.Replace(ctlConf(t, dir), "    overrides  file", "    health_quorum any\n    overrides  file", 1)
	p := startMeridian(t, conf)
	for _, rec := range p.startup {
		if msg := fmt.Sprint(rec["msg"]); strings.Contains(msg, "health_quorum has no effect") {
			if !strings.HasSuffix(strings.Fields(msg)[0], "meridian.conf:6:") {
				t.Errorf("the warning does not name the line: %s", msg)
			}
			return
		}
	}
	t.Errorf("no warning that health_quorum has no effect without shared verdicts; start-up logs: %v", p.startup)
}

// TestClientGoLogsAreJSON: when the home cluster's API server goes away,
// client-go's own complaints come out as JSON records of the process's
// logger, not as klog's plain lines among them.
func TestClientGoLogsAreJSON(t *testing.T) {
	env := kubetest.Start(t, 1)
	home := env.Clusters[0]
	home.Namespace(t, "meridian")
	_, _, port := listenPair(t)
	p := startMeridian(t, quorumConf(t, 1, home.Kubeconfig, port))
	// client-go retries in silence a watch cut off, and a connection
	// refused or closed; it logs a watch or a list that fails otherwise.
	// So once a watch is up, the API server is killed and its address is
	// taken by an impostor whose certificate the cluster's CA did not sign.
	waitForOverridesWatch(t, home, p)
	u, err := url.Parse(home.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	home.Stop()
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		t.Fatalf("taking the stopped API server's address: %v", err)
	}
	impostor := httptest.NewUnstartedServer(http.NotFoundHandler())
	impostor.Listener.Close()
	impostor.Listener = ln
	impostor.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	impostor.StartTLS()
	t.Cleanup(impostor.Close)
	deadline := time.After(30 * time.Second)
	for {
		select {
		case rec := <-p.logs:
			if rec["msg"] == "unparsed" {
				t.Fatalf("a log line that is not JSON: %v", rec["line"])
			}
			if rec["component"] == "client-go" {
				t.Logf("client-go: %v", rec["msg"])
				return
			}
		case <-deadline:
			t.Fatal("no log record of client-go within 30 s of the home API server stopping")
		}
	}
}

// waitForOverridesWatch returns once p's overrides store has a watch on
// its ConfigMap: it writes the ConfigMap twice, directly, and waits each
// time until p's API lists what was written. The first write may reach p
// through the informer's list; the second comes after that list, so it
// can reach p only through a watch.
func waitForOverridesWatch(t *testing.T, c *kubetest.Cluster, p *process) {
	t.Helper()
	for _, id := range []string{"watch-probe-1", "watch-probe-2"} {
		o := api.Override{ID: id, OverrideSpec: api.OverrideSpec{Kind: "drain", Cluster: "secondary", Reason: "test: is the watch up"},
			Created: time.Now().UTC().Truncate(time.Second)}
		raw, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		cms := c.Client.CoreV1().ConfigMaps("meridian")
		cm, err := cms.Get(context.Background(), "overrides", metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "overrides", Namespace: "meridian"}}
			cm.Data = map[string]string{id: string(raw)}
			_, err = cms.Create(context.Background(), cm, metav1.CreateOptions{})
		case err == nil:
			cm.Data = map[string]string{id: string(raw)}
			_, err = cms.Update(context.Background(), cm, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatalf("writing the overrides ConfigMap: %v", err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			var got []api.Override
			apiGet(t, p, "/api/v1/overrides", &got)
			if len(got) == 1 && got[0].ID == id {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the overrides store does not list %s, written to its ConfigMap 30 s ago: %+v", id, got)
			}
		}
	}
}
