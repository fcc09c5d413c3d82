package kubestore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/meridian-gtm/meridian/internal/kubetest"
	"github.com/meridian-gtm/meridian/model"
)

// openStore opens the store meridian/overrides with a client of its own,
// as a replica does, without watching.
func openStore(t *testing.T, c *kubetest.Cluster) *Store {
	t.Helper()
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), client, "meridian", "overrides")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// replica opens a store the way one Meridian replica does, with its own
// client, watching until the test ends; changed receives a value on
// every change it sees.
func replica(t *testing.T, c *kubetest.Cluster) (*Store, chan struct{}) {
	t.Helper()
	s := openStore(t, c)
	changed := make(chan struct{}, 1000)
	s.OnChange(func() { changed <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, changed
}

func drain(id, cluster string) model.Override {
	return model.Override{ID: id, Kind: model.Drain, Cluster: cluster, Reason: "test", Author: "t", Created: time.Now().UTC().Truncate(time.Second)}
}

// waitFor polls until cond holds, failing after 10 s, and returns how long it took.
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	return waitWithin(t, 10*time.Second, what, cond)
}

// waitWithin polls cond until it holds, failing after d.
func waitWithin(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not after %v", what, d)
		}
		time.Sleep(2 * time.Millisecond)
	}
	return time.Since(start)
}

func has(s *Store, id string) bool {
	for _, o := range s.List() {
		if o.ID == id {
			return true
		}
	}
	return false
}

func TestReplicasShareOverrides(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	a, _ := replica(t, c)
	b, bChanged := replica(t, c)

	// A write through one replica reaches the other by the watch.
	start := time.Now()
	if before, err := a.Put(drain("drain-eu", "eu-west")); err != nil || before != nil {
		t.Fatalf("Put: %v %v", before, err)
	}
	waitFor(t, "b sees a's drain", func() bool { return has(b, "drain-eu") })
	t.Logf("a write through one replica reached the other in %v", time.Since(start))
	select {
	case <-bChanged:
	default:
		t.Error("b's listeners were not told of the change")
	}

	// Concurrent writes through both replicas: none is lost.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		for name, s := range map[string]*Store{"a": a, "b": b} {
			wg.Go(func() {
				if _, err := s.Put(drain(fmt.Sprintf("%s-%02d", name, i), "us-east")); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Put: %v", err)
	}
	fresh, err := New(t.Context(), c.Client, "meridian", "overrides")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fresh.List()); n != 41 {
		t.Errorf("after 40 concurrent writes the ConfigMap holds %d overrides, want 41", n)
	}
	waitFor(t, "both replicas see all 41", func() bool { return len(a.List()) == 41 && len(b.List()) == 41 })

	// A delete through the other replica, and the value it removed.
	before, err := b.Delete("drain-eu")
	if err != nil || before == nil || before.Cluster != "eu-west" {
		t.Fatalf("Delete: %+v %v", before, err)
	}
	waitFor(t, "a sees b's delete", func() bool { return !has(a, "drain-eu") })

	// A bad edit by hand keeps the last good overrides. The watch
	// delivers events in order, so a good edit after it is the signal
	// that a has seen the bad one; every change a reports in between is
	// recorded with what a held then.
	var mu sync.Mutex
	var held []int
	a.OnChange(func() {
		n := len(a.List())
		mu.Lock()
		held = append(held, n)
		mu.Unlock()
	})
	heldNow := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(held)
	}
	cms := c.Client.CoreV1().ConfigMaps("meridian")
	cm, err := cms.Get(t.Context(), "overrides", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["broken"] = "{not json"
	if cm, err = cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	delete(cm.Data, "broken")
	delete(cm.Data, "a-00")
	if _, err := cms.Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a sees the good edit after the bad one", func() bool { return len(heldNow()) > 0 && !has(a, "a-00") })
	if got := heldNow(); !slices.Equal(got, []int{39}) {
		t.Errorf("a bad edit then a good one (39 left): a's listeners saw %v overrides, want [39]: the bad edit must keep the last good 40", got)
	}
}

// TestWritesPruneExpired: the next write drops the overrides that have
// expired from the ConfigMap.
func TestWritesPruneExpired(t *testing.T) {
	env := kubetest.Start(t, 1)
	c := env.Clusters[0]
	c.Namespace(t, "meridian")
	s, err := New(t.Context(), c.Client, "meridian", "overrides")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Second)
	s.now = func() time.Time { return t0 }
	short, long := drain("short", "eu-west"), drain("long", "us-east")
	short.Expires, long.Expires = t0.Add(time.Hour), t0.Add(48*time.Hour)
	for _, o := range []model.Override{short, long, drain("ever", "ap-southeast")} {
		if _, err := s.Put(o); err != nil {
			t.Fatal(err)
		}
	}
	s.now = func() time.Time { return t0.Add(2 * time.Hour) }
	if _, err := s.Delete("ever"); err != nil {
		t.Fatal(err)
	}
	cm, err := c.Client.CoreV1().ConfigMaps("meridian").Get(t.Context(), "overrides", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Data["long"]; len(cm.Data) != 1 || !ok {
		t.Errorf("after a write past one expiry the ConfigMap holds %v, want only long", cm.Data)
	}
	if l := s.List(); len(l) != 1 || l[0].ID != "long" {
		t.Errorf("the store lists %+v, want only long", l)
	}
}
