package api

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

func warmInventory() model.Inventory {
	lost := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr
	return model.NewInventory([]model.Cluster{
		{Name: "eu-west", Locality: model.Locality{Region: "eu-west", Zone: "eu-west-1a"}, Location: model.LocationAt(model.Point{Lat: 53.35, Lon: -6.26})},
		{Name: "us-east", Locality: model.Locality{Region: "us-east"}, LostAt: lost},
	}, []model.Backend{
		{Service: "app.gslb.example.com", Cluster: "eu-west", Ingress: []netip.Addr{a("192.0.2.10"), a("2001:db8::10")}, ReadyPods: 3, NotReadyPods: 2,
			ZonePods:     []model.ZonePods{{Zone: "eu-west-1a", ReadyPods: 2}, {Zone: "eu-west-1b", ReadyPods: 1}},
			IngressZones: []model.AddrZone{{Addr: a("192.0.2.10"), Zone: "eu-west-1a"}},
			PodIPs:       []netip.Addr{a("10.0.0.1"), a("10.0.0.2")}},
		{Service: "app.gslb.example.com", Cluster: "us-east", Ingress: []netip.Addr{a("198.51.100.10")}, ReadyPods: 0},
		{Service: "api.gslb.example.com", Cluster: "us-east", Ingress: []netip.Addr{}, ReadyPods: 1},
	})
}

// TestInventoryRoundTrip saves an Inventory and loads an equal one, with
// its save time; the encoding is stable.
func TestInventoryRoundTrip(t *testing.T) {
	f := OpenFileInventory(filepath.Join(t.TempDir(), "inventory.json"))
	inv := warmInventory()
	at := time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)
	if err := f.Save(inv, at); err != nil {
		t.Fatal(err)
	}
	got, savedAt, ok, err := f.Load()
	if err != nil || !ok {
		t.Fatalf("Load: ok %v err %v", ok, err)
	}
	if !savedAt.Equal(at) {
		t.Errorf("saved at %v, want %v", savedAt, at)
	}
	if !reflect.DeepEqual(got.Clusters(), inv.Clusters()) {
		t.Errorf("clusters\n got %+v\nwant %+v", got.Clusters(), inv.Clusters())
	}
	if !reflect.DeepEqual(got.Backends(), inv.Backends()) {
		t.Errorf("backends\n got %+v\nwant %+v", got.Backends(), inv.Backends())
	}
	b1, _ := EncodeInventory(inv, at)
	b2, _ := EncodeInventory(got, at)
	if string(b1) != string(b2) {
		t.Errorf("the encoding is not stable:\n%s\n%s", b1, b2)
	}
}

// TestInventoryMissingOrCorrupt: no file is no Inventory and no error; a
// file that does not parse, or of another format, is an error naming it.
func TestInventoryMissingOrCorrupt(t *testing.T) {
	dir := t.TempDir()
	f := OpenFileInventory(filepath.Join(dir, "inventory.json"))
	if _, _, ok, err := f.Load(); ok || err != nil {
		t.Fatalf("missing file: ok %v err %v", ok, err)
	}
	for _, content := range []string{
		`{"version": 1, "saved_at": "2026-11-30T21:00:00Z", "clusters": [`,
		`{"version": 2, "saved_at": "2026-11-30T21:00:00Z"}`,
		`{"version": 1}`,
		`{"version": 1, "saved_at": "2026-11-30T21:00:00Z", "backends": [{"service": "a", "cluster": "nowhere"}]}`,
		`{"version": 1, "saved_at": "2026-11-30T21:00:00Z", "clusters": [{"name": "eu"}], "backends": [{"service": "a", "cluster": "eu", "ingress": ["not an address"]}]}`,
	} {
		if err := os.WriteFile(f.Path(), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, ok, err := f.Load(); ok || err == nil || !strings.Contains(err.Error(), f.Path()) {
			t.Errorf("%s: ok %v err %v, want an error naming the file", content, ok, err)
		}
	}
}

// TestInventoryClearsTemps: a write a crash cut short leaves a temporary
// file, which opening removes.
func TestInventoryClearsTemps(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".inventory.json.123")
	if err := os.WriteFile(tmp, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	OpenFileInventory(filepath.Join(dir, "inventory.json"))
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("the temporary file is still there: %v", err)
	}
}

// TestInventorySharedByProcesses opens and saves one inventory file from
// many FileInventory values at once, each with its own lock file handle
// as another process would have: opening one never deletes the temporary
// file of another's save in progress, so every save succeeds.
func TestInventorySharedByProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "inventory.json")
	inv := warmInventory()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if err := OpenFileInventory(path).Save(inv, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, _, ok, err := OpenFileInventory(path).Load(); !ok || err != nil {
		t.Errorf("load after the saves: %v %v", ok, err)
	}
}
