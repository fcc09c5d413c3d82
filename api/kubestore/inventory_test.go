package kubestore

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// TestInventorySaved keeps an Inventory in a real kube-apiserver: none at
// first, then what was written, in NAME-inventory; a write decide declines
// changes nothing; one too large for a ConfigMap is refused and removes
// the older one, which would otherwise be served ever older.
func TestInventorySaved(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	s, err := New(t.Context(), c.Client, "meridian", "overrides")
	if err != nil {
		t.Fatal(err)
	}
	inv := s.Inventory()
	if b, ok, err := inv.Load(t.Context()); ok || err != nil || b != nil {
		t.Fatalf("before any write: %q %v %v", b, ok, err)
	}
	write := func(content string) func([]byte) ([]byte, bool, error) {
		return func([]byte) ([]byte, bool, error) { return []byte(content), true, nil }
	}
	if err := inv.Update(t.Context(), write(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if b, ok, err := inv.Load(t.Context()); !ok || err != nil || string(b) != `{"v":1}` {
		t.Fatalf("after a write: %q %v %v", b, ok, err)
	}
	cm, err := c.Client.CoreV1().ConfigMaps("meridian").Get(t.Context(), "overrides-inventory", metav1.GetOptions{})
	if err != nil || cm.Data[inventoryKey] != `{"v":1}` {
		t.Fatalf("the ConfigMap: %v %v", cm, err)
	}
	var seen string
	if err := inv.Update(t.Context(), func(saved []byte) ([]byte, bool, error) { seen = string(saved); return nil, false, nil }); err != nil || seen != `{"v":1}` {
		t.Errorf("decide saw %q, %v", seen, err)
	}
	err = inv.Update(t.Context(), write(strings.Repeat("x", MaxInventoryBytes+1)))
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Errorf("a write too large: %v", err)
	}
	if b, ok, err := inv.Load(t.Context()); ok || err != nil {
		t.Errorf("after a write too large: %d bytes %v %v, want none", len(b), ok, err)
	}
}
