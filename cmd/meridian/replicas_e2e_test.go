package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// TestReplicasShareOverrides runs two Meridian replicas whose overrides
// live in one ConfigMap of a real kube-apiserver: a drain made through one
// replica's API moves the other's DNS answers, and concurrent writes
// through both are all kept.
func TestReplicasShareOverrides(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	var replicas []*process
	for i := range 2 {
		dir := t.TempDir()
		conf := ctlConf(t, dir)
		conf = strings.Replace(conf, "overrides  file "+dir+"/overrides.json",
			fmt.Sprintf("overrides  kubernetes meridian/overrides %s\n    audit_log  %s/audit.log\n    replica    r%d", c.Kubeconfig, dir, i), 1)
		replicas = append(replicas, startMeridian(t, conf))
	}
	a, b := replicas[0], replicas[1]
	uk := "+subnet=81.2.69.0/24"
	waitAnswer(t, b.dnsPort, primaryAddr, 5*time.Second, "app.gslb.example.com", uk)

	out, errOut, code := runCtl(t, "http://"+a.httpAddr, "admin-secret", "drain", "primary", "-reason", "shared")
	if code != 0 {
		t.Fatalf("drain through replica a: %s%s", out, errOut)
	}
	start := time.Now()
	waitAnswer(t, b.dnsPort, secondaryAddr, 10*time.Second, "app.gslb.example.com", uk)
	t.Logf("a drain through replica a moved replica b's DNS answer after %v", time.Since(start))

	// 20 writes through each replica at once.
	var wg sync.WaitGroup
	for i := range 20 {
		for name, p := range map[string]*process{"a": a, "b": b} {
			wg.Go(func() {
				body := `{"kind":"weight","service":"app.gslb.example.com","cluster":"secondary","weight":5,"reason":"concurrent"}`
				req, _ := http.NewRequest("PUT", fmt.Sprintf("http://%s/api/v1/overrides/w-%s-%02d", p.httpAddr, name, i), strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer admin-secret")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 201 {
					t.Errorf("PUT w-%s-%02d: %s", name, i, resp.Status)
				}
			})
		}
	}
	wg.Wait()
	for _, p := range replicas {
		deadline := time.Now().Add(10 * time.Second)
		for {
			out := ctl2(t, "http://"+p.httpAddr, "read-secret", "overrides")
			if n := strings.Count(out, "concurrent"); n == 40 && strings.Contains(out, "drain-primary") {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("replica shows %d of the 40 concurrent overrides:\n%s", n, out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
