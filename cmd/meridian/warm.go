package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/api/kubestore"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/discovery/kube"
	"github.com/meridian-gtm/meridian/model"
)

// inventoryFile is the file beside the overrides file where a replica
// keeps its last published Inventory, for a warm start.
const inventoryFile = "inventory.json"

// warmSaveEvery bounds how often the Inventory file is rewritten: discovery
// may publish many Inventories a second while pods roll, and the file need
// only be about as fresh as a restart can use.
const warmSaveEvery = 5 * time.Second

// warmStart serves a replica's last published Inventory, kept beside its
// overrides (a file or a ConfigMap), after a restart, until discovery has synced each member, so
// that a restart while every member's API server is down still answers
// with the last good decision.
//
// A member that never answered this process is in discovery's Inventory
// with no backends, lost since start; until it has listed its objects
// (kube.ClusterStatus.Synced), merge gives it the backends it had when
// the file was saved, and keeps it lost since then, so the engine treats
// it as any member it lost: its last known targets, then, past
// stale_grace, unknown but still answered. Static clusters always come
// from the configuration, never from the file.
type warmStart struct {
	file   inventoryStore
	logger *slog.Logger

	mu      sync.Mutex
	pending map[string]warmCluster // members not yet synced since start

	latest atomic.Pointer[model.Inventory] // the newest Inventory to save
	wake   chan struct{}
}

// warmCluster is a member's saved state: the cluster, lost since it was
// saved at the latest, and its backends.
type warmCluster struct {
	cluster  model.Cluster
	backends []model.Backend
}

// inventoryStore is where a replica's last Inventory is kept.
type inventoryStore interface {
	Load() (inv model.Inventory, savedAt time.Time, ok bool, err error)
	Save(inv model.Inventory, at time.Time) error
	Path() string
}

// openWarmStart returns the warm start of a replica with an overrides
// store, keeping the Inventory beside the overrides (inventory.json in the
// file's directory, or the ConfigMap NAME-inventory beside NAME); nil
// without a store. A saved Inventory that cannot be read is logged and
// ignored: it is a cache of what discovery will say again, and refusing
// to start for it would cost the answers it exists to give. The next
// save replaces it.
func openWarmStart(cfg *config.Config, store api.Store, logger *slog.Logger) *warmStart {
	var file inventoryStore
	switch s := store.(type) {
	case *api.FileStore:
		file = api.OpenFileInventory(filepath.Join(filepath.Dir(cfg.Meridian.OverridesFile), inventoryFile))
	case *kubestore.Store:
		file = kubeInventory{s.Inventory()}
	default:
		return nil
	}
	w := &warmStart{
		file:    file,
		logger:  logger,
		pending: map[string]warmCluster{},
		wake:    make(chan struct{}, 1),
	}
	inv, savedAt, ok, err := w.file.Load()
	if err != nil {
		logger.Warn("the saved inventory is not used; discovery's first one is awaited", "err", err.Error())
		return w
	}
	if !ok {
		return w
	}
	members := map[string]config.Cluster{}
	for _, c := range cfg.Clusters {
		if c.Static == nil {
			members[c.Name] = c
		}
	}
	fromSecrets := cfg.Meridian.ClusterSecrets != nil
	for _, c := range inv.Clusters() {
		conf, configured := members[c.Name]
		if !configured && (!fromSecrets || slices.ContainsFunc(cfg.Clusters, func(s config.Cluster) bool { return s.Name == c.Name })) {
			continue // no longer a member, or now a static cluster
		}
		if c.LostAt.IsZero() || c.LostAt.After(savedAt) {
			c.LostAt = savedAt
		}
		if configured { // the configuration's place wins, as in discovery
			if conf.Region != "" || conf.Zone != "" {
				c.Locality = model.Locality{Region: conf.Region, Zone: conf.Zone}
			}
			c.Location = conf.Location
		}
		wc := warmCluster{cluster: c}
		for _, b := range inv.Backends() {
			if b.Cluster == c.Name {
				wc.backends = append(wc.backends, b)
			}
		}
		w.pending[c.Name] = wc
	}
	return w
}

// initial returns the Inventory to serve before discovery's first: the
// configuration's static clusters and the saved members, all lost since
// they were saved; false when nothing was saved.
func (w *warmStart) initial(cfg *config.Config) (model.Inventory, bool) {
	if w == nil {
		return model.Inventory{}, false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return model.Inventory{}, false
	}
	_, statics, _ := discoveryInputs(cfg)
	st := config.StaticInventory(statics)
	clusters, backends := slices.Clone(st.Clusters()), slices.Clone(st.Backends())
	var oldest time.Time
	for _, wc := range w.pending {
		clusters = append(clusters, wc.cluster)
		backends = append(backends, wc.backends...)
		if oldest.IsZero() || wc.cluster.LostAt.Before(oldest) {
			oldest = wc.cluster.LostAt
		}
	}
	w.logger.Info("warm start: serving the saved inventory until discovery has synced", "file", w.file.Path(),
		"members", len(w.pending), "backends", len(backends), "lost_since", oldest.UTC().Format(time.RFC3339))
	return model.NewInventory(clusters, backends), true
}

// merge returns discovery's Inventory with the saved backends of every
// member that has not synced since start; status is discovery's view of
// its members. A member that has synced, or is no longer one, is dropped
// from the saved state for good.
func (w *warmStart) merge(inv model.Inventory, status []kube.ClusterStatus) model.Inventory {
	if w == nil {
		return inv
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return inv
	}
	unsynced := map[string]bool{}
	for _, s := range status {
		unsynced[s.Name] = !s.Synced
	}
	clusters := slices.Clone(inv.Clusters())
	added := map[string][]model.Backend{}
	for name, wc := range w.pending {
		i := slices.IndexFunc(clusters, func(c model.Cluster) bool { return c.Name == name })
		if !unsynced[name] || i < 0 {
			delete(w.pending, name)
			w.logger.Info("warm start: discovery has taken over a member", "cluster", name)
			continue
		}
		c := &clusters[i]
		if c.Locality == (model.Locality{}) {
			c.Locality = wc.cluster.Locality
		}
		c.LostAt = wc.cluster.LostAt
		for _, b := range wc.backends {
			added[b.Service] = append(added[b.Service], b)
		}
	}
	if len(w.pending) == 0 {
		return inv
	}
	out := inv.WithClusters(clusters)
	for svc, bs := range added {
		out = out.WithBackends(svc, append(slices.Clone(inv.BackendsOf(svc)), bs...))
	}
	return out
}

// observe takes a published Inventory to save.
func (w *warmStart) observe(inv model.Inventory) {
	if w == nil {
		return
	}
	w.latest.Store(&inv)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run saves the observed Inventories, at most once every warmSaveEvery,
// until ctx ends, and then once more, so that the file's save time is
// when this process last knew its members.
func (w *warmStart) run(ctx context.Context) {
	var saved *model.Inventory
	save := func() {
		inv := w.latest.Load()
		if inv == nil || inv == saved && ctx.Err() == nil {
			return
		}
		if err := w.file.Save(*inv, time.Now()); err != nil {
			w.logger.Warn("the inventory could not be saved for a warm start", "err", err.Error())
			return
		}
		saved = inv
	}
	for {
		select {
		case <-ctx.Done():
			save()
			return
		case <-w.wake:
		}
		save()
		select {
		case <-ctx.Done():
			save()
			return
		case <-time.After(warmSaveEvery):
		}
	}
}

// warmRefresh is how old a shared Inventory of the same content may be
// before a replica rewrites it only to say that it is still current:
// replicas that all see the same members do not all write it every
// warmSaveEvery, and a restart still knows its members were in contact
// up to a minute before the last save.
const warmRefresh = time.Minute

// kubeInventory keeps the Inventory in the ConfigMap every replica shares.
type kubeInventory struct{ k *kubestore.Inventory }

func (k kubeInventory) Path() string { return k.k.Path() }

func (k kubeInventory) Load() (model.Inventory, time.Time, bool, error) {
	b, ok, err := k.k.Load(context.Background())
	if err != nil || !ok {
		return model.Inventory{}, time.Time{}, false, err
	}
	inv, at, err := api.DecodeInventory(b)
	if err != nil {
		return model.Inventory{}, time.Time{}, false, fmt.Errorf("inventory %s: %w", k.k.Path(), err)
	}
	return inv, at, true, nil
}

// Save writes inv unless the saved Inventory has the same content and
// was saved less than warmRefresh before at.
func (k kubeInventory) Save(inv model.Inventory, at time.Time) error {
	content, err := api.EncodeInventory(inv, time.Time{})
	if err != nil {
		return err
	}
	return k.k.Update(context.Background(), func(saved []byte) ([]byte, bool, error) {
		if cur, curAt, err := api.DecodeInventory(saved); err == nil && at.Sub(curAt) < warmRefresh {
			if b, err := api.EncodeInventory(cur, time.Time{}); err == nil && bytes.Equal(b, content) {
				return nil, false, nil
			}
		}
		b, err := api.EncodeInventory(inv, at)
		if err != nil {
			return nil, false, err
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			return nil, false, err
		}
		return compact.Bytes(), true, nil
	})
}
