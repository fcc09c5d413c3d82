package kubestore

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// TestKeysShared runs replicas, each with its own client, against one real
// kube-apiserver: replicas that find no key at once end with one, the
// winner's, whichever generated; a zone's files keep BIND's names through
// the Secret's key syntax; another zone gets its own.
func TestKeysShared(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	replica := func() *Keys { return openStore(t, c).Keys(t.Context()) }
	var generated atomic.Int32
	gen := func(zone string) func(map[string][]byte) (map[string][]byte, error) {
		return func(have map[string][]byte) (map[string][]byte, error) {
			if len(have) > 0 {
				return nil, nil
			}
			n := generated.Add(1)
			base := fmt.Sprintf("K%s+013+%05d", zone, n)
			return map[string][]byte{base + ".key": fmt.Appendf(nil, "key %d", n), base + ".private": fmt.Appendf(nil, "private %d", n)}, nil
		}
	}
	const replicas = 4
	got := make([]map[string][]byte, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		k := replica()
		wg.Go(func() {
			var err error
			if got[i], err = k.Files("gslb.example.com.", gen("gslb.example.com.")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := range replicas {
		if len(got[i]) != 2 || !maps.EqualFunc(got[i], got[0], func(a, b []byte) bool { return string(a) == string(b) }) {
			t.Errorf("replica %d has %q, replica 0 %q", i, got[i], got[0])
		}
	}
	for name := range got[0] {
		if m := keyFileRe.FindStringSubmatch(name); m == nil || m[1] != "gslb.example.com." {
			t.Errorf("file %q is not K<zone>+<alg>+<tag> of the zone", name)
		}
	}
	before := generated.Load()
	again, err := replica().Files("gslb.example.com.", gen("gslb.example.com."))
	if err != nil || generated.Load() != before || !maps.EqualFunc(again, got[0], func(a, b []byte) bool { return string(a) == string(b) }) {
		t.Errorf("a replica started later: %q, %v, generated %d more", again, err, generated.Load()-before)
	}
	other, err := replica().Files("other.example.", gen("other.example."))
	if err != nil || len(other) != 2 {
		t.Errorf("another zone: %q %v", other, err)
	}
	s, err := c.Client.CoreV1().Secrets("meridian").Get(t.Context(), "overrides-dnssec", metav1.GetOptions{})
	if err != nil || len(s.Data) != 4 {
		t.Errorf("the Secret: %v, %d entries, want 4", err, len(s.Data))
	}
}
