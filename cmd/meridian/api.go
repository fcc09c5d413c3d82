package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/api/kubestore"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
	"github.com/meridian-gtm/meridian/xds"
)

// apiState is what the API reads of the running process: the latest
// values, swapped whole.
type apiState struct {
	inventory atomic.Pointer[model.Inventory]
	health    atomic.Pointer[model.Health]
	config    atomic.Pointer[config.Config]
	history   *api.HealthHistory
}

func (s *apiState) setInventory(inv model.Inventory) { s.inventory.Store(&inv) }
func (s *apiState) setHealth(h model.Health) {
	s.health.Store(&h)
	s.history.Observe(h)
}

// allOverrides joins the config file's overrides and the store's.
func allOverrides(cfg *config.Config, store api.Store) model.Overrides {
	o := cfg.Overrides()
	if store != nil {
		o = append(slices.Clone(o), store.List()...)
	}
	return model.NewOverrides(o)
}

// openAPIParts opens the token file, the overrides store and the audit
// log when the config asks for the API; nils when it does not.
func openAPIParts(cfg *config.Config) (*api.Tokens, api.Store, *api.AuditLog, error) {
	m := cfg.Meridian
	var store api.Store
	switch {
	case m.OverridesFile != "":
		s, err := api.OpenFileStore(m.OverridesFile)
		if err != nil {
			return nil, nil, nil, err
		}
		store = s
	case m.OverridesKube != nil:
		k := m.OverridesKube
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := kubestore.Open(ctx, k.Kubeconfig, k.Context, k.Namespace, k.Name)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%s:%d: %w", k.File, k.Line, err)
		}
		store = s
	}
	if m.APITokens == "" {
		return nil, store, nil, nil
	}
	tokens, err := api.LoadTokens(m.APITokens)
	if err != nil {
		return nil, nil, nil, err
	}
	audit, err := api.OpenAuditLog(m.AuditLog)
	if err != nil {
		return nil, nil, nil, err
	}
	return tokens, store, audit, nil
}

// watchStore follows a shared store until ctx ends, applying other
// replicas' writes as they arrive; a file store needs nothing.
func watchStore(ctx context.Context, store api.Store, state *apiState, loop *weights.Loop) {
	ks, ok := store.(*kubestore.Store)
	if !ok {
		return
	}
	ks.OnChange(func() { loop.SetOverrides(allOverrides(state.config.Load(), store)) })
	ks.Watch(ctx)
}

// httpLimits turns the http_limits block into api.Limits; what it leaves
// out keeps the api package's default.
func httpLimits(l config.HTTPLimits) api.Limits {
	return api.Limits{
		ReadTimeout:    l.ReadTimeout,
		WriteTimeout:   l.WriteTimeout,
		IdleTimeout:    l.IdleTimeout,
		MaxHeaderBytes: l.MaxHeaderBytes,
		MaxConnections: l.MaxConnections,
	}
}

// v1Config connects the API to the running parts.
func v1Config(state *apiState, tokens *api.Tokens, store api.Store, audit *api.AuditLog, loop *weights.Loop, loc *locator, x *xds.Server) *api.V1Config {
	if tokens == nil {
		return nil
	}
	c := &api.V1Config{
		Tokens: tokens, Store: store, Audit: audit,
		Plan:            loop.Plan,
		Inventory:       func() model.Inventory { return *state.inventory.Load() },
		Health:          func() model.Health { return *state.health.Load() },
		ConfigOverrides: func() []model.Override { return state.config.Load().Overrides() },
		Apply:           loop.ApplyOverrides,
		Preview:         loop.Preview,
		History:         state.history,
		Locate: func(a netip.Addr) (model.Point, bool) {
			l := loc.Lookup(a)
			return l.Point, l.HasPoint
		},
	}
	if x != nil {
		c.NACKs = func() []api.NACK {
			var out []api.NACK
			for _, n := range x.NACKs() {
				out = append(out, api.NACK{At: n.At, Node: n.Node, Group: n.Group, Type: n.TypeURL, Version: n.Version, Detail: n.Detail})
			}
			return out
		}
	}
	return c
}
