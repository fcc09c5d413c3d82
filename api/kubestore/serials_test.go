package kubestore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/internal/kubetest"
	"github.com/meridian-gtm/meridian/model"
)

// nextSerial is the decision dns makes (dns.nextSerial): the recorded
// serial for the same content, else max(recorded + 1, now).
func nextSerial(hash string, now uint32, got *model.ZoneSerial) func(model.ZoneSerial, bool) (model.ZoneSerial, bool) {
	return func(cur model.ZoneSerial, found bool) (model.ZoneSerial, bool) {
		if found && cur.Hash == hash {
			*got = cur
			return cur, false
		}
		next := model.ZoneSerial{Serial: now, Hash: hash}
		if found && int32(now-cur.Serial) <= 0 {
			next.Serial = cur.Serial + 1
		}
		*got = next
		return next, true
	}
}

// TestSerialsShared runs replicas, each with its own client, against one
// real kube-apiserver: a serial one records is the one the others read;
// replicas that record the same new content at once end with one serial;
// replicas that record different content at once each get their write in,
// one after another, so the serial only grows.
func TestSerialsShared(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	replica := func() *Serials { return openStore(t, c).Serials() }
	a, b := replica(), replica()
	var got model.ZoneSerial
	if err := a.UpdateSerial(t.Context(), "example.org", nextSerial("h1", 1000, &got)); err != nil {
		t.Fatal(err)
	}
	if err := b.UpdateSerial(t.Context(), "example.org", nextSerial("h1", 5000, &got)); err != nil || got.Serial != 1000 {
		t.Errorf("another replica with the same content: serial %d, %v; want the recorded 1000", got.Serial, err)
	}
	cm, err := c.Client.CoreV1().ConfigMaps("meridian").Get(t.Context(), "overrides-serials", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the serials ConfigMap: %v", err)
	}
	if v := cm.Data["example.org"]; v != `{"serial":1000,"hash":"h1"}` || cm.Labels["app.kubernetes.io/component"] != "serials" {
		t.Errorf("the ConfigMap holds %q, labels %v", v, cm.Labels)
	}
	if _, err := c.Client.CoreV1().ConfigMaps("meridian").Get(t.Context(), "overrides", metav1.GetOptions{}); err == nil {
		t.Error("serials were written into the overrides ConfigMap")
	}

	// Eight replicas reload the same new content at once, each at its own time.
	replicas := []*Serials{a, b}
	for range 6 {
		replicas = append(replicas, replica())
	}
	adopted := make([]model.ZoneSerial, len(replicas))
	var wg sync.WaitGroup
	for i, r := range replicas {
		wg.Go(func() {
			if err := r.UpdateSerial(context.Background(), "example.org", nextSerial("h2", 2000+uint32(i), &adopted[i])); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i, rec := range adopted {
		if rec != adopted[0] || rec.Hash != "h2" {
			t.Errorf("replica %d serves %+v, replica 0 %+v: want one serial for one content", i, rec, adopted[0])
		}
	}
	t.Logf("eight replicas with the same new content agreed on %d", adopted[0].Serial)

	// Eight replicas with eight different contents: every write lands, in turn.
	wrote := make([]model.ZoneSerial, len(replicas))
	for i, r := range replicas {
		wg.Go(func() {
			if err := r.UpdateSerial(context.Background(), "example.org", nextSerial(fmt.Sprintf("c%d", i), 3000, &wrote[i])); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for i, rec := range wrote {
		if seen[rec.Serial] || rec.Serial < 3000 || rec.Serial >= 3000+uint32(len(wrote)) {
			t.Errorf("replica %d wrote %+v: want serials 3000 to %d, each once", i, rec, 3000+len(wrote)-1)
		}
		seen[rec.Serial] = true
	}
	var final model.ZoneSerial
	if err := a.UpdateSerial(t.Context(), "example.org", nextSerial("none", 1, &final)); err != nil || final.Serial != 3000+uint32(len(wrote)) {
		t.Errorf("after them the recorded serial leads to %d (%v), want %d", final.Serial, err, 3000+len(wrote))
	}

	// A record broken by hand is an error and stays as it is.
	cm, err = c.Client.CoreV1().ConfigMaps("meridian").Get(t.Context(), "overrides-serials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["example.net"] = "{not json"
	if _, err := c.Client.CoreV1().ConfigMaps("meridian").Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err = a.UpdateSerial(t.Context(), "example.net", nextSerial("h", 1, &got))
	if err == nil || !strings.Contains(err.Error(), "example.net") || !strings.Contains(err.Error(), "meridian/overrides-serials") {
		t.Errorf("a broken record: %v, want an error naming the key and the ConfigMap", err)
	}
	cm, _ = c.Client.CoreV1().ConfigMaps("meridian").Get(t.Context(), "overrides-serials", metav1.GetOptions{})
	if cm.Data["example.net"] != "{not json" {
		t.Errorf("the broken record was overwritten with %q", cm.Data["example.net"])
	}
}

func TestSerialKey(t *testing.T) {
	for zone, want := range map[string]string{
		"gslb.example.com": "gslb.example.com",
		"_x.example-1.org": "_x.example-1.org",
		"a b.example":      "zone-6120622e6578616d706c65",
	} {
		if got := serialKey(zone); got != want {
			t.Errorf("serialKey(%q) = %q, want %q", zone, got, want)
		}
	}
}
