package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/api/kubestore"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/dns"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
	"github.com/meridian-gtm/meridian/xds"
)

// apiState is what the API reads of the running process: the latest
// values, swapped whole.
type apiState struct {
	inventory atomic.Pointer[model.Inventory]
	// health is the verdicts as served (model.ServedHealth): the
	// Checker's probe verdicts with the readiness of the latest Inventory.
	health atomic.Pointer[model.Health]
	// served guards probes and the making of health, in order.
	served sync.Mutex
	probes model.Health // the Checker's latest
	// readinessChanged, when set, is told of the served verdicts that
	// readiness alone changed, for logs and metrics.
	readinessChanged func([]model.ReadinessChange)
	config           atomic.Pointer[config.Config]
	history          *api.HealthHistory
	// tokens are the API's tokens (nil: the API is off), re-read on SIGHUP.
	tokens *api.Tokens
	// metrics registers the API's metrics.
	metrics prometheus.Registerer
	// replicas returns the replicas' probe reports; nil when this replica
	// shares none.
	replicas func() []model.ReplicaReport
}

// reloadTokens re-reads the API's tokens file; a broken one is logged and
// the tokens in force stay.
func (s *apiState) reloadTokens(logger *slog.Logger) {
	if s.tokens == nil {
		return
	}
	if err := s.tokens.Reload(); err != nil {
		logger.Error("tokens reload failed; the running tokens stay", "err", err.Error())
		return
	}
	for _, w := range s.tokens.Warnings() {
		logger.Warn(w)
	}
	logger.Info("api tokens reloaded", "file", s.tokens.Path(), "tokens", s.tokens.Len())
}

func (s *apiState) setInventory(inv model.Inventory) {
	s.served.Lock()
	defer s.served.Unlock()
	s.inventory.Store(&inv)
	s.serve()
}

// setHealth takes the Checker's probe verdicts.
func (s *apiState) setHealth(h model.Health) {
	s.served.Lock()
	defer s.served.Unlock()
	s.probes = h
	s.serve()
}

// serve makes the verdicts as served from the latest probe verdicts and
// Inventory, for the API, the status page and the health history. The
// engine decides readiness from the same Inventory with the same rule
// (model.ReadyState); this shows it to operators.
func (s *apiState) serve() {
	var inv model.Inventory
	if p := s.inventory.Load(); p != nil {
		inv = *p
	}
	var prev model.Health
	if p := s.health.Load(); p != nil {
		prev = *p
	}
	h, changes := model.ServedHealth(s.probes, inv, prev, time.Now())
	s.health.Store(&h)
	if s.history != nil {
		s.history.Observe(h)
	}
	if len(changes) > 0 && s.readinessChanged != nil {
		s.readinessChanged(changes)
	}
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
		if err := makeStateDir(m.OverridesFile, m.OverridesPos, "overrides"); err != nil {
			return nil, nil, nil, err
		}
		s, err := api.OpenFileStore(m.OverridesFile)
		if err != nil {
			return nil, nil, nil, configError{fmt.Errorf("%s: %w; Meridian does not start without the overrides it acknowledged: "+
				"restore the file from a backup, or remove it to start with none (the audit log lists every override written)", m.OverridesPos, err)}
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
		return nil, nil, nil, configError{err} // the tokens file is configuration: exit 2
	}
	if err := makeStateDir(m.AuditLog, m.AuditLogPos, "audit_log"); err != nil {
		return nil, nil, nil, err
	}
	audit, err := api.OpenAuditLog(m.AuditLog)
	if err != nil {
		return nil, nil, nil, err
	}
	return tokens, store, audit, nil
}

// serialsFile is the file beside the overrides file where a replica keeps
// its zones' SOA serials.
const serialsFile = "serials.json"

// openSerials returns where the zones' SOA serials are kept: beside the
// overrides, in the same store (serials.json in the overrides file's
// directory, or the ConfigMap NAME-serials beside NAME); nil without an
// overrides store. A serials file that does not parse stops the start.
func openSerials(cfg *config.Config, store api.Store) (dns.SerialBook, error) {
	switch s := store.(type) {
	case *api.FileStore:
		m := cfg.Meridian
		book, err := api.OpenFileSerials(filepath.Join(filepath.Dir(m.OverridesFile), serialsFile))
		if err != nil {
			return nil, configError{fmt.Errorf("%s: %w; restore the file from a backup, or remove it: "+
				"the zones' SOA serials then start again from the current time", m.OverridesPos, err)}
		}
		return book, nil
	case *kubestore.Store:
		return s.Serials(), nil
	}
	return nil, nil
}

// keyStore returns where the replicas share the keys of signed zones that
// name no keys directory: the Secret NAME-dnssec beside the overrides
// ConfigMap; nil without a shared store.
func keyStore(ctx context.Context, store api.Store) dns.KeyStore {
	if s, ok := store.(*kubestore.Store); ok {
		return s.Keys(ctx)
	}
	return nil
}

// makeStateDir creates the directory of a state file when it is missing,
// readable by Meridian's user alone; failing that, it is a configuration
// error at the directive that named the file.
func makeStateDir(file string, pos config.Pos, directive string) error {
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return configError{fmt.Errorf("%s: %s: cannot create the directory %s: %w", pos, directive, dir, err)}
	}
	return nil
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
func v1Config(state *apiState, tokens *api.Tokens, store api.Store, audit *api.AuditLog, loop *weights.Loop, loc *locator, x *xds.Server, handler *dns.Handler) *api.V1Config {
	if tokens == nil {
		return nil
	}
	c := &api.V1Config{
		Tokens: tokens, Store: store, Audit: audit, Metrics: state.metrics,
		Replica:         state.config.Load().Meridian.Replica, // a new name takes a restart
		Replicas:        state.replicas,
		Plan:            loop.Plan,
		Inventory:       func() model.Inventory { return *state.inventory.Load() },
		Health:          func() model.Health { return *state.health.Load() },
		ConfigOverrides: func() []model.Override { return state.config.Load().Overrides() },
		Apply:           loop.ApplyOverrides,
		Preview:         loop.Preview,
		History:         state.history,
		Locate: func(a netip.Addr) model.Client {
			l := loc.Lookup(a)
			return model.Client{Addr: a, Location: l.At, Country: l.Country, Continent: l.Continent, Subdivision: l.Subdivision}
		},
	}
	c.DNSSEC = func(zone string) ([]api.DNSSECKey, bool) {
		keys, ok := handler.Zones().Keys(zone)
		var out []api.DNSSECKey
		for _, k := range keys {
			out = append(out, api.DNSSECKey{Tag: k.Tag, Algorithm: k.Algorithm, Flags: k.Flags, Role: k.Role, DNSKEY: k.DNSKEY, DS: k.DS})
		}
		return out, ok
	}
	c.Zones = func() []string {
		var out []string
		for _, z := range state.config.Load().Zones {
			out = append(out, z.Origin)
		}
		return out
	}
	if state.replicas != nil { // a rule counts only where verdicts are shared
		c.Quorum = func() string { return healthQuorum(state.config.Load().Meridian.HealthQuorum).String() }
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
