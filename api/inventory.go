package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// FileInventory keeps a replica's last published Inventory in one JSON
// file, for a warm start: cmd/meridian puts it beside the overrides, as
// inventory.json, and a restart serves it until discovery has synced.
// It is rewritten atomically like FileStore's file. Unlike the overrides
// and the serials it is only a cache of what discovery will say again, so
// a file that does not parse is an error for the caller to log, not a
// reason to stop: refusing to start would take away answers the replica
// could give, which is what the file is for.
type FileInventory struct{ path string }

// inventoryVersion is the file's format; a file of another is not read.
const inventoryVersion = 1

// inventoryFile is the file's content.
type inventoryFile struct {
	Version  int                `json:"version"`
	SavedAt  time.Time          `json:"saved_at"`
	Clusters []inventoryCluster `json:"clusters"`
	Backends []inventoryBackend `json:"backends"`
}

type inventoryCluster struct {
	Name     string      `json:"name"`
	Region   string      `json:"region,omitempty"`
	Zone     string      `json:"zone,omitempty"`
	Location *[2]float64 `json:"location,omitempty"` // latitude, longitude
	LostAt   *time.Time  `json:"lost_at,omitempty"`
}

type inventoryBackend struct {
	Service      string         `json:"service"`
	Cluster      string         `json:"cluster"`
	Ingress      []netip.Addr   `json:"ingress"`
	ReadyPods    int            `json:"ready_pods"`
	NotReadyPods int            `json:"not_ready_pods,omitempty"`
	ZonePods     []zonePodsJSON `json:"zone_pods,omitempty"`
	IngressZones []addrZoneJSON `json:"ingress_zones,omitempty"`
	PodIPs       []netip.Addr   `json:"pod_ips,omitempty"`
}

type zonePodsJSON struct {
	Zone      string `json:"zone"`
	ReadyPods int    `json:"ready_pods"`
}

type addrZoneJSON struct {
	Addr netip.Addr `json:"addr"`
	Zone string     `json:"zone"`
}

// OpenFileInventory returns the inventory file at path, which need not
// exist yet, and clears the temporary files of writes a crash cut short.
func OpenFileInventory(path string) *FileInventory {
	// Under the lock Save takes, as for serials.json: a temporary file is
	// stale only when no other process sharing the directory is writing it.
	if unlock, err := lockFile(path + ".lock"); err == nil {
		removeStaleTemps(path)
		unlock()
	}
	return &FileInventory{path: path}
}

// Path returns the file's path.
func (f *FileInventory) Path() string { return f.path }

// Load returns the saved Inventory and when it was saved; ok is false,
// with a nil error, when there is no file.
func (f *FileInventory) Load() (inv model.Inventory, savedAt time.Time, ok bool, err error) {
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return model.Inventory{}, time.Time{}, false, nil
	}
	if err != nil {
		return model.Inventory{}, time.Time{}, false, fmt.Errorf("inventory: %w", err)
	}
	inv, savedAt, err = DecodeInventory(b)
	if err != nil {
		return model.Inventory{}, time.Time{}, false, fmt.Errorf("inventory: %s: %w", f.path, err)
	}
	return inv, savedAt, true, nil
}

// Save writes inv as saved at the given time.
func (f *FileInventory) Save(inv model.Inventory, at time.Time) error {
	b, err := EncodeInventory(inv, at)
	if err != nil {
		return err
	}
	unlock, err := lockFile(f.path + ".lock")
	if err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	defer unlock()
	if err := writeAtomic(f.path, b); err != nil {
		return fmt.Errorf("inventory: %w", err)
	}
	return nil
}

// EncodeInventory returns the JSON form of inv saved at the given time:
// stable (the Inventory's canonical order) and readable.
func EncodeInventory(inv model.Inventory, at time.Time) ([]byte, error) {
	f := inventoryFile{Version: inventoryVersion, SavedAt: at.UTC(), Clusters: []inventoryCluster{}, Backends: []inventoryBackend{}}
	for _, c := range inv.Clusters() {
		ic := inventoryCluster{Name: c.Name, Region: c.Locality.Region, Zone: c.Locality.Zone}
		if p, ok := c.Location.Point(); ok {
			ic.Location = &[2]float64{p.Lat, p.Lon}
		}
		if !c.LostAt.IsZero() {
			t := c.LostAt.UTC()
			ic.LostAt = &t
		}
		f.Clusters = append(f.Clusters, ic)
	}
	for _, b := range inv.Backends() {
		ib := inventoryBackend{Service: b.Service, Cluster: b.Cluster, Ingress: b.Ingress, ReadyPods: b.ReadyPods, NotReadyPods: b.NotReadyPods, PodIPs: b.PodIPs}
		if ib.Ingress == nil {
			ib.Ingress = []netip.Addr{}
		}
		for _, z := range b.ZonePods {
			ib.ZonePods = append(ib.ZonePods, zonePodsJSON{z.Zone, z.ReadyPods})
		}
		for _, z := range b.IngressZones {
			ib.IngressZones = append(ib.IngressZones, addrZoneJSON{z.Addr, z.Zone})
		}
		f.Backends = append(f.Backends, ib)
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// DecodeInventory reads what EncodeInventory wrote.
func DecodeInventory(b []byte) (model.Inventory, time.Time, error) {
	var f inventoryFile
	if err := json.Unmarshal(b, &f); err != nil {
		return model.Inventory{}, time.Time{}, err
	}
	if f.Version != inventoryVersion {
		return model.Inventory{}, time.Time{}, fmt.Errorf("format version %d, want %d", f.Version, inventoryVersion)
	}
	if f.SavedAt.IsZero() {
		return model.Inventory{}, time.Time{}, errors.New("no saved_at")
	}
	var clusters []model.Cluster
	names := map[string]bool{}
	for _, ic := range f.Clusters {
		if ic.Name == "" {
			return model.Inventory{}, time.Time{}, errors.New("a cluster has no name")
		}
		names[ic.Name] = true
		c := model.Cluster{Name: ic.Name, Locality: model.Locality{Region: ic.Region, Zone: ic.Zone}}
		if ic.Location != nil {
			c.Location = model.LocationAt(model.Point{Lat: ic.Location[0], Lon: ic.Location[1]})
		}
		if ic.LostAt != nil {
			c.LostAt = *ic.LostAt
		}
		clusters = append(clusters, c)
	}
	var backends []model.Backend
	for _, ib := range f.Backends {
		if ib.Service == "" || !names[ib.Cluster] {
			return model.Inventory{}, time.Time{}, fmt.Errorf("backend %q of cluster %q: no such service or cluster", ib.Service, ib.Cluster)
		}
		b := model.Backend{Service: ib.Service, Cluster: ib.Cluster, Ingress: ib.Ingress, ReadyPods: ib.ReadyPods, NotReadyPods: ib.NotReadyPods, PodIPs: ib.PodIPs}
		for _, z := range ib.ZonePods {
			b.ZonePods = append(b.ZonePods, model.ZonePods{Zone: z.Zone, ReadyPods: z.ReadyPods})
		}
		for _, z := range ib.IngressZones {
			b.IngressZones = append(b.IngressZones, model.AddrZone{Addr: z.Addr, Zone: z.Zone})
		}
		backends = append(backends, b)
	}
	return model.NewInventory(clusters, backends), f.SavedAt, nil
}
