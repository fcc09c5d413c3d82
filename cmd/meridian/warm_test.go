package main

import (
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/discovery/kube"
	"github.com/meridian-gtm/meridian/model"
)

// warmConfig has a member eu-west, a static cluster lab, and its
// overrides file in dir.
func warmConfig(t *testing.T, dir string) (*config.Config, api.Store) {
	t.Helper()
	cfg := &config.Config{
		Meridian: config.Meridian{OverridesFile: filepath.Join(dir, "overrides.json")},
		Clusters: []config.Cluster{
			{Name: "eu-west", Region: "eu-west", Kubeconfig: "eu.kubeconfig"},
			{Name: "lab", Region: "lab", Static: &config.Static{Services: []config.StaticService{
				{FQDN: "app.gslb.example.com", Ingress: []netip.Addr{netip.MustParseAddr("203.0.113.1")}, Pods: 1}}}},
		},
	}
	store, err := api.OpenFileStore(cfg.Meridian.OverridesFile)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, store
}

// TestWarmStartServesSavedMembers: the saved members come back lost since
// the save, with their backends; a saved cluster that the configuration
// now declares static, or no longer has, does not; discovery's Inventory
// keeps the saved backends of a member until it has synced.
func TestWarmStartServesSavedMembers(t *testing.T) {
	dir := t.TempDir()
	cfg, store := warmConfig(t, dir)
	savedAt := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr
	saved := model.NewInventory(
		[]model.Cluster{{Name: "eu-west", Locality: model.Locality{Region: "eu-west"}}, {Name: "lab"}, {Name: "gone"}},
		[]model.Backend{
			{Service: "app.gslb.example.com", Cluster: "eu-west", Ingress: []netip.Addr{a("192.0.2.10")}, ReadyPods: 3},
			{Service: "app.gslb.example.com", Cluster: "lab", Ingress: []netip.Addr{a("198.51.100.99")}, ReadyPods: 9},
			{Service: "app.gslb.example.com", Cluster: "gone", Ingress: []netip.Addr{a("198.51.100.1")}, ReadyPods: 1},
		})
	if err := api.OpenFileInventory(filepath.Join(dir, inventoryFile)).Save(saved, savedAt); err != nil {
		t.Fatal(err)
	}
	w := openWarmStart(cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	inv, ok := w.initial(cfg)
	if !ok {
		t.Fatal("no initial inventory")
	}
	want := model.NewInventory(
		[]model.Cluster{{Name: "eu-west", Locality: model.Locality{Region: "eu-west"}, LostAt: savedAt}, {Name: "lab", Locality: model.Locality{Region: "lab"}}},
		[]model.Backend{
			{Service: "app.gslb.example.com", Cluster: "eu-west", Ingress: []netip.Addr{a("192.0.2.10")}, ReadyPods: 3},
			{Service: "app.gslb.example.com", Cluster: "lab", Ingress: []netip.Addr{a("203.0.113.1")}, ReadyPods: 1},
		})
	if !reflect.DeepEqual(inv.Clusters(), want.Clusters()) || !reflect.DeepEqual(inv.Backends(), want.Backends()) {
		t.Fatalf("initial inventory\n got %+v %+v\nwant %+v %+v", inv.Clusters(), inv.Backends(), want.Clusters(), want.Backends())
	}

	// Discovery's first Inventory: eu-west never answered, lost since start.
	start := savedAt.Add(time.Hour)
	lab := model.Backend{Service: "app.gslb.example.com", Cluster: "lab", Ingress: []netip.Addr{a("203.0.113.1")}, ReadyPods: 1}
	disc := model.NewInventory(
		[]model.Cluster{{Name: "eu-west", Locality: model.Locality{Region: "eu-west"}, LostAt: start}, {Name: "lab", Locality: model.Locality{Region: "lab"}}},
		[]model.Backend{lab})
	got := w.merge(disc, []kube.ClusterStatus{{Name: "eu-west", LostAt: start}})
	if !reflect.DeepEqual(got.Clusters(), want.Clusters()) || !reflect.DeepEqual(got.Backends(), want.Backends()) {
		t.Errorf("merged before sync\n got %+v %+v\nwant %+v %+v", got.Clusters(), got.Backends(), want.Clusters(), want.Backends())
	}

	// eu-west has synced, with no backends: discovery's word is final.
	synced := model.NewInventory(
		[]model.Cluster{{Name: "eu-west", Locality: model.Locality{Region: "eu-west"}}, {Name: "lab", Locality: model.Locality{Region: "lab"}}},
		[]model.Backend{lab})
	for range 2 {
		got = w.merge(synced, []kube.ClusterStatus{{Name: "eu-west", Synced: true}})
		if !reflect.DeepEqual(got, synced) {
			t.Errorf("merged after sync: %+v %+v, want discovery's", got.Clusters(), got.Backends())
		}
	}
	// Lost again later, it does not get the saved backends back.
	if got = w.merge(disc, []kube.ClusterStatus{{Name: "eu-west", LostAt: start}}); !reflect.DeepEqual(got, disc) {
		t.Errorf("merged after a later loss: %+v %+v, want discovery's", got.Clusters(), got.Backends())
	}
}

// TestWarmStartIgnoresABadFile: a corrupt inventory.json does not stop
// the start; there is no warm inventory, and the next save replaces it.
func TestWarmStartIgnoresABadFile(t *testing.T) {
	dir := t.TempDir()
	cfg, store := warmConfig(t, dir)
	path := filepath.Join(dir, inventoryFile)
	if err := os.WriteFile(path, []byte(`{"version": 1, "clus`), 0o600); err != nil {
		t.Fatal(err)
	}
	w := openWarmStart(cfg, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if w == nil {
		t.Fatal("no warm start with an overrides file")
	}
	if _, ok := w.initial(cfg); ok {
		t.Error("an initial inventory from a corrupt file")
	}
	inv := model.NewInventory([]model.Cluster{{Name: "eu-west"}}, nil)
	if err := w.file.Save(inv, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := w.file.Load(); !ok || err != nil {
		t.Errorf("after a save: ok %v err %v", ok, err)
	}
	// Without an overrides file there is no state directory: no warm start.
	cfg.Meridian.OverridesFile = ""
	if w := openWarmStart(cfg, nil, slog.Default()); w != nil {
		t.Error("a warm start without a state directory")
	}
}
