package api

import (
	"net/netip"
	"sync"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// HealthChange is one target's verdict changing.
type HealthChange struct {
	At      time.Time `json:"at"`
	Service string    `json:"service"`
	Cluster string    `json:"cluster"`
	Address string    `json:"address"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Reason  string    `json:"reason"`
}

// maxHistory bounds the changes kept.
const maxHistory = 1000

// HealthHistory keeps the latest verdict changes, for operators asking
// "what flapped in the last hour?".
type HealthHistory struct {
	mu      sync.Mutex
	last    map[healthKey]model.TargetHealth
	changes []HealthChange // oldest first
}

type healthKey struct {
	service, cluster string
	addr             netip.Addr
}

// NewHealthHistory returns an empty history.
func NewHealthHistory() *HealthHistory {
	return &HealthHistory{last: map[healthKey]model.TargetHealth{}}
}

// Observe records how h differs from the Health observed before: targets
// whose state changed, and targets that appeared with a verdict.
func (hh *HealthHistory) Observe(h model.Health) {
	hh.mu.Lock()
	defer hh.mu.Unlock()
	seen := make(map[healthKey]model.TargetHealth, len(hh.last))
	for _, v := range h.Targets() {
		k := healthKey{v.Service, v.Cluster, v.Address}
		seen[k] = v
		prev, had := hh.last[k]
		from := model.Unknown
		if had {
			from = prev.State
		}
		if from == v.State {
			continue
		}
		at := v.Since
		if at.IsZero() {
			at = time.Now()
		}
		hh.changes = append(hh.changes, HealthChange{At: at.UTC(), Service: v.Service, Cluster: v.Cluster, Address: v.Address.String(),
			From: from.String(), To: v.State.String(), Reason: v.Reason})
	}
	if n := len(hh.changes); n > maxHistory {
		hh.changes = append([]HealthChange(nil), hh.changes[n-maxHistory:]...)
	}
	hh.last = seen
}

// Changes returns the recorded changes, oldest first.
func (hh *HealthHistory) Changes() []HealthChange {
	hh.mu.Lock()
	defer hh.mu.Unlock()
	return append([]HealthChange{}, hh.changes...)
}
