package kubestore

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"
)

// Inventory keeps the last Inventory the replicas published, for a warm
// start, in a ConfigMap of its own beside the overrides one, as the JSON
// that cmd/meridian encodes (api.EncodeInventory) under one key. One
// ConfigMap for every replica rather than one each: every replica
// watches the same members, so any replica's last Inventory is as good a
// start as its own, and a fixed name is what RBAC's resourceNames can
// grant, where per-pod names would need create rights and leave an
// object behind at every rollout.
type Inventory struct {
	client          kubernetes.Interface
	namespace, name string
}

// InventorySuffix names the inventory ConfigMap after the overrides one:
// the overrides in NAME, the Inventory in NAME-inventory.
const InventorySuffix = "-inventory"

// inventoryKey is the ConfigMap key holding the Inventory.
const inventoryKey = "inventory.json"

// MaxInventoryBytes bounds the saved Inventory: an object in etcd holds at
// most 1 MiB (1,048,576 bytes), which also counts the object's metadata.
// Compact JSON takes about 100 bytes a backend, 250 with ten pod IPs.
const MaxInventoryBytes = 1_000_000

// Inventory returns the Inventory kept beside the store's overrides, in
// the ConfigMap NAME-inventory of the same namespace, through the same
// client.
func (s *Store) Inventory() *Inventory {
	return NewInventory(s.client, s.namespace, s.name+InventorySuffix)
}

// NewInventory returns the Inventory kept in NAMESPACE/NAME, which need
// not exist yet: the first write creates it.
func NewInventory(client kubernetes.Interface, namespace, name string) *Inventory {
	return &Inventory{client: client, namespace: namespace, name: name}
}

// Path says where the Inventory is kept, for logs.
func (i *Inventory) Path() string { return "kubernetes " + i.namespace + "/" + i.name }

// Update reads the saved Inventory (nil when there is none), calls decide
// with it, and writes what decide returns when it asks to, with the
// resourceVersion it read, starting again on a conflict. One larger than
// MaxInventoryBytes is not written; the saved one is removed instead,
// since serving an ever older Inventory after a restart is worse than
// serving none, and the error says so.
func (i *Inventory) Update(ctx context.Context, decide func(saved []byte) (next []byte, write bool, err error)) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	var tooBig int
	_, err := updateConfigMap(ctx, i.client, i.namespace, i.name, "inventory", func(data map[string]string) (bool, error) {
		var saved []byte
		if s, ok := data[inventoryKey]; ok {
			saved = []byte(s)
		}
		next, write, err := decide(saved)
		if err != nil || !write {
			return false, err
		}
		tooBig = 0
		if len(next) > MaxInventoryBytes {
			tooBig = len(next)
			if _, ok := data[inventoryKey]; !ok {
				return false, nil
			}
			delete(data, inventoryKey)
			return true, nil
		}
		data[inventoryKey] = string(next)
		return true, nil
	})
	if err == nil && tooBig > 0 {
		err = fmt.Errorf("%d bytes, more than the %d a ConfigMap can hold: not saved, and the older one removed", tooBig, MaxInventoryBytes)
	}
	if err != nil {
		return fmt.Errorf("inventory %s: %w", i.Path(), err)
	}
	return nil
}

// Load returns the saved Inventory; false when there is none.
func (i *Inventory) Load(ctx context.Context) ([]byte, bool, error) {
	var out []byte
	found := false
	err := i.Update(ctx, func(saved []byte) ([]byte, bool, error) {
		out, found = saved, saved != nil
		return nil, false, nil
	})
	return out, found, err
}
