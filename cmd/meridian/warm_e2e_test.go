package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// TestServeWarmStartsWithEveryMemberDown restarts Meridian while its only
// member's API server is down. With the Inventory its first run left
// beside its overrides (inventory.json beside the file, or the ConfigMap
// NAME-inventory in a home cluster that stays up), the restart's first
// answer is the member's last good address, the API shows the member lost
// since it was saved, and the answer holds past discovery's first
// Inventory; when the member answers again, discovery takes over. Without
// the saved Inventory, the same restart has no address to give. The times
// are logged (bench/RESULTS.md records them).
func TestServeWarmStartsWithEveryMemberDown(t *testing.T) {
	t.Run("file", func(t *testing.T) { testWarmStart(t, false) })
	t.Run("kubernetes", func(t *testing.T) { testWarmStart(t, true) })
}

func testWarmStart(t *testing.T, shared bool) {
	env := kubetest.Start(t, 2)
	eu, home := env.Clusters[0], env.Clusters[1]
	shopApp(t, eu, "192.0.2.10", 3)
	dir := t.TempDir()
	writeTokens(t, filepath.Join(dir, "tokens"))
	store := "file " + dir + "/overrides.json"
	if shared {
		home.Namespace(t, "meridian")
		store = "kubernetes meridian/overrides " + home.Kubeconfig + "\n    audit_log  " + dir + "/audit.log\n    replica    r1"
	}
	conf := fmt.Sprintf(`
meridian {
    dns        127.0.0.1:0
    http       127.0.0.1:0
    api_tokens %[1]s/tokens
    overrides  %[3]s
}
cluster eu-west {
    kubeconfig %[2]s
    region   eu-west
    location 53.35 -6.26
}
zone gslb.example.com {
    ns ns1.gslb.example.com 127.0.0.1
    service app {
        ttl 5
    }
}
`, dir, eu.Kubeconfig, store)
	answer := func(p *process) string {
		r := kdig(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24")
		if len(r.answer) != 1 {
			return r.status + fmt.Sprint(r.answer)
		}
		f := strings.Fields(r.answer[0])
		return f[len(f)-1]
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s within %v", what, d)
			}
		}
	}
	file := filepath.Join(dir, "inventory.json")
	read := func() []byte {
		if !shared {
			b, _ := os.ReadFile(file)
			return b
		}
		cm, err := home.Client.CoreV1().ConfigMaps("meridian").Get(t.Context(), "overrides-inventory", metav1.GetOptions{})
		if err != nil {
			return nil
		}
		return []byte(cm.Data["inventory.json"])
	}
	write := func(b []byte) {
		t.Helper()
		if !shared {
			if b == nil {
				err := os.Remove(file)
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			return
		}
		cms := home.Client.CoreV1().ConfigMaps("meridian")
		cm, err := cms.Get(t.Context(), "overrides-inventory", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data = map[string]string{}
		if b != nil {
			cm.Data["inventory.json"] = string(b)
		}
		if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// The first run, with the member up, saves its Inventory.
	p := startMeridian(t, conf)
	waitFor("answer from the member", 20*time.Second, func() bool { return answer(p) == "192.0.2.10" })
	waitFor("saved inventory", 20*time.Second, func() bool { return strings.Contains(string(read()), "192.0.2.10") })
	stopMeridian(t, p)
	saved := read()
	eu.Stop()

	// Before: without the saved Inventory, a restart has nothing to answer with.
	write(nil)
	cold := startMeridian(t, conf)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if got := answer(cold); got == "192.0.2.10" {
			t.Fatalf("a cold start answered %s with its only member down", got)
		}
	}
	t.Logf("cold start with every member down: %s for 3s", answer(cold))
	stopMeridian(t, cold)

	// After: with it, the restart's first answer is the last good one.
	write(saved)
	start := time.Now()
	warm := startMeridian(t, conf)
	if got := answer(warm); got != "192.0.2.10" {
		t.Fatalf("the first answer after a warm start is %s, want 192.0.2.10", got)
	}
	t.Logf("first answer after a restart with every member down: %v", time.Since(start).Round(time.Millisecond))
	clusters := func() []clusterView {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+warm.httpAddr+"/api/v1/clusters", nil)
		req.Header.Set("Authorization", "Bearer read-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var cs []clusterView
		if err := json.NewDecoder(resp.Body).Decode(&cs); err != nil {
			t.Fatal(err)
		}
		return cs
	}
	if cs := clusters(); len(cs) != 1 || cs[0].Reachable || cs[0].LostAt == nil {
		t.Errorf("clusters after a warm start: %+v, want eu-west lost", cs)
	}
	// Discovery's first Inventory comes 2 s after start without the
	// member (TestServeAnswersWithAMemberDown); the saved backends stay.
	for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if got := answer(warm); got != "192.0.2.10" {
			t.Fatalf("%v after a warm start the answer is %s, want 192.0.2.10", time.Since(start).Round(time.Millisecond), got)
		}
	}
	if cs := clusters(); len(cs) != 1 || cs[0].Reachable || cs[0].LostAt == nil {
		t.Errorf("clusters after discovery's first inventory: %+v, want eu-west lost", cs)
	}

	// The member comes back: discovery takes over.
	if err := eu.Restart(); err != nil {
		t.Fatal(err)
	}
	waitFor("reachable member", 30*time.Second, func() bool {
		cs := clusters()
		return len(cs) == 1 && cs[0].Reachable && cs[0].LostAt == nil
	})
	if got := answer(warm); got != "192.0.2.10" {
		t.Errorf("after the member came back the answer is %s, want 192.0.2.10", got)
	}
}

// clusterView is an entry of GET /api/v1/clusters.
type clusterView struct {
	Name      string     `json:"name"`
	Reachable bool       `json:"reachable"`
	LostAt    *time.Time `json:"lost_at"`
	Stale     bool       `json:"stale"`
}
