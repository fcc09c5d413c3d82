package kubestore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/meridian-gtm/meridian/model"
)

// Serials keeps the SOA serial of each zone with the hash of the content
// it was given to (dns.SerialBook) in a ConfigMap of its own, beside the
// overrides one: a key per zone, its value {"serial": N, "hash": "..."}.
// A ConfigMap of its own keeps the overrides' watch quiet and their List
// free of keys that are not overrides. Every write carries the
// resourceVersion it read, so two replicas never both win: the loser reads
// again and, finding the same content recorded, takes its serial.
type Serials struct {
	client          kubernetes.Interface
	namespace, name string
}

// SerialsSuffix names the serials ConfigMap after the overrides one: the
// overrides in NAME, the serials in NAME-serials.
const SerialsSuffix = "-serials"

// Serials returns the serials kept beside the store's overrides, in the
// ConfigMap NAME-serials of the same namespace, through the same client.
func (s *Store) Serials() *Serials {
	return NewSerials(s.client, s.namespace, s.name+SerialsSuffix)
}

// NewSerials returns the serials kept in NAMESPACE/NAME, which need not
// exist yet: the first write creates it.
func NewSerials(client kubernetes.Interface, namespace, name string) *Serials {
	return &Serials{client: client, namespace: namespace, name: name}
}

type zoneSerial struct {
	Serial uint32 `json:"serial"`
	Hash   string `json:"hash"`
}

// serialKey is the ConfigMap key of a zone: its name, which config checks
// keep to letters, digits, '-', '_' and dots, all valid in a key; any
// other name is written in hex.
func serialKey(zone string) string {
	if len(validation.IsConfigMapKey(zone)) == 0 {
		return zone
	}
	return "zone-" + hex.EncodeToString([]byte(zone))
}

// UpdateSerial reads the zone's record from the ConfigMap, calls decide
// with it, and when decide asks to write, updates the ConfigMap with the
// resourceVersion it read (creating it when missing); on a conflict it
// starts again from a fresh read. A record that does not parse (a bad edit
// by hand) is an error, never overwritten: delete the key to start the
// zone's serials again from the current time.
func (s *Serials) UpdateSerial(ctx context.Context, zone string, decide func(model.ZoneSerial, bool) (model.ZoneSerial, bool)) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	key := serialKey(zone)
	_, err := updateConfigMap(ctx, s.client, s.namespace, s.name, "serials", func(data map[string]string) (bool, error) {
		var cur zoneSerial
		raw, found := data[key]
		if found {
			if err := json.Unmarshal([]byte(raw), &cur); err != nil || cur.Hash == "" {
				return false, fmt.Errorf("key %s: %q is not {\"serial\": N, \"hash\": \"...\"}; delete the key to start the zone's serials again", key, raw)
			}
		}
		next, write := decide(model.ZoneSerial{Serial: cur.Serial, Hash: cur.Hash}, found)
		if !write {
			return false, nil
		}
		b, err := json.Marshal(zoneSerial{Serial: next.Serial, Hash: next.Hash})
		if err != nil {
			return false, err
		}
		data[key] = string(b)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("serials kubernetes %s/%s: %w", s.namespace, s.name, err)
	}
	return nil
}
