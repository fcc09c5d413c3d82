package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/discovery/kube"
	"github.com/meridian-gtm/meridian/discovery/static"
	"github.com/meridian-gtm/meridian/dns"
	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/health"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
	"github.com/meridian-gtm/meridian/xds"
)

// shutdownGrace bounds how long in-flight queries and requests may take to
// finish once a shutdown signal arrives.
const shutdownGrace = 10 * time.Second

// configError marks errors in the configuration, which exit with code 2.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// locator lets a reload swap the GeoIP database under the DNS handler.
type locator struct{ db atomic.Pointer[geo.DB] }

func (l *locator) Lookup(ip netip.Addr) geo.Location { return l.db.Load().Lookup(ip) }

// serve runs Meridian with the configuration at path until ctx ends.
// SIGHUP re-reads the configuration; a broken one is logged and the
// running one keeps serving.
func serve(ctx context.Context, path string, logger *slog.Logger) error {
	cfg, err := config.Load(path)
	if err != nil {
		return configError{err}
	}
	zones, err := dns.LoadZones(cfg.Zones, nil, time.Now())
	if err != nil {
		return configError{err}
	}
	db, err := openGeoIP(cfg.Meridian.GeoIP)
	if err != nil {
		return configError{err}
	}
	var loc locator
	loc.db.Store(db)
	logger.Info("starting", "version", buildVersion(), "replica", cfg.Meridian.Replica, "config", path,
		"geoip", db.Description(), "clusters", len(cfg.Clusters), "zones", len(cfg.Zones))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	stats := dns.NewStats(reg)

	handler := dns.NewHandler(zones, &loc, dnsOptions(cfg), stats)
	loop := weights.NewLoop(weights.LoopConfig{Logger: logger.With("component", "weights")}, cfg.Policies())
	loop.Subscribe(handler.Publish)
	tokens, store, audit, err := openAPIParts(cfg)
	if err != nil {
		return err
	}
	defer audit.Close()
	state := &apiState{history: api.NewHealthHistory()}
	state.setInventory(model.Inventory{})
	state.setHealth(model.Health{})
	state.config.Store(cfg)
	loop.SetOverrides(allOverrides(cfg, store))
	checker := health.New(health.Config{
		Checks: healthChecks(cfg), Workers: cfg.Meridian.HealthWorkers, Replica: cfg.Meridian.Replica,
		Logger: logger.With("component", "health"), Metrics: health.NewMetrics(reg),
		Publish: func(h model.Health) {
			loop.SetHealth(h)
			state.setHealth(h)
		},
	})
	disc := newDiscovery(cfg, func(inv model.Inventory) {
		loop.SetInventory(inv)
		checker.SetInventory(inv)
		state.setInventory(inv)
	}, logger.With("component", "discovery"))
	registerDiscoveryMetrics(reg, disc)
	parts := &running{handler: handler, loc: &loc, loop: loop, disc: disc, checker: checker, store: store, state: state}

	dnsLogger := logger.With("component", "dns")
	dnsServer, err := dns.Listen(dns.ServerConfig{
		Addrs: cfg.Meridian.DNS, Handler: handler, Stats: stats, Limiter: dns.NewLimiter(cfg.Meridian.RRL), Logger: dnsLogger,
		UDPSockets: cfg.Meridian.UDPSockets,
	})
	if err != nil {
		return err
	}
	xdsLn, err := listenXDS(cfg, reg, logger.With("component", "xds"))
	if err != nil {
		dnsServer.Shutdown(context.Background())
		return err
	}
	var xdsServer *xds.Server
	if xdsLn != nil {
		xdsServer = xdsLn.server
		loop.Subscribe(xdsServer.SetPlan)
		parts.xds = xdsServer
	}
	httpTLS, err := serverTLS("http_tls", cfg.Meridian.HTTPTLS)
	if err != nil {
		dnsServer.Shutdown(context.Background())
		return err
	}
	httpServer, err := api.Listen(api.Config{
		TLS:      httpTLS,
		Limits:   httpLimits(cfg.Meridian.HTTPLimits),
		V1:       v1Config(state, tokens, store, audit, loop, &loc, xdsServer),
		Addrs:    cfg.Meridian.HTTP,
		Gatherer: reg,
		Ready: func() error {
			if !handler.Ready() {
				return errors.New("no plan published yet")
			}
			return nil
		},
		Logger: logger.With("component", "http"),
	})
	if err != nil {
		dnsServer.Shutdown(context.Background())
		return err
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() { loop.Run(runCtx); close(loopDone) }()
	checkerDone := make(chan struct{})
	go func() { checker.Run(runCtx); close(checkerDone) }()
	if xdsLn != nil {
		xdsLn.serve(runCtx)
	}
	storeDone := make(chan struct{})
	go func() { watchStore(runCtx, store, state, loop); close(storeDone) }()
	discDone := make(chan error, 1)
	go func() { discDone <- disc.Run(runCtx) }()
	dns.Notify(runCtx, zones, nil, dnsLogger)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var failed error
	discStopped := false
	for failed == nil && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-hup:
			cfg = parts.reload(runCtx, path, cfg, logger)
		case err := <-discDone:
			discStopped = true
			failed = fmt.Errorf("discovery stopped: %w", cmp.Or(err, errors.New("for no reason")))
		case failed = <-dnsServer.Failed():
			failed = fmt.Errorf("dns server stopped: %w", failed)
		case failed = <-httpServer.Failed():
			failed = fmt.Errorf("http server stopped: %w", failed)
		case failed = <-xdsLn.Failed():
			failed = fmt.Errorf("xds server stopped: %w", failed)
		}
	}
	if failed == nil {
		logger.Info("shutting down")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = errors.Join(dnsServer.Shutdown(shutdownCtx), httpServer.Shutdown(shutdownCtx))
	stopRun()
	<-loopDone
	<-checkerDone
	<-storeDone
	xdsLn.wait()
	if !discStopped {
		<-discDone
	}
	if failed != nil {
		return failed
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// running holds the parts of a serving Meridian that a reload reconfigures.
type running struct {
	handler *dns.Handler
	loc     *locator
	loop    *weights.Loop
	disc    *kube.Discovery
	checker *health.Checker
	xds     *xds.Server // nil when xDS is not served
	store   api.Store   // nil without an overrides store
	state   *apiState
}

// reload re-reads the configuration and applies what can change without a
// restart: zones and their static records, services, policies and health
// checks, static clusters, overrides, the GeoIP database and CHAOS answers.
// On any error the running configuration stays, and the error is logged
// with file and line. It returns the configuration in force.
func (r *running) reload(ctx context.Context, path string, old *config.Config, logger *slog.Logger) *config.Config {
	handler, loop, disc := r.handler, r.loop, r.disc
	fail := func(err error) *config.Config {
		logger.Error("reload failed; the running configuration stays", "err", err.Error())
		return old
	}
	cfg, err := config.Load(path)
	if err != nil {
		return fail(err)
	}
	prevZones := handler.Zones()
	zones, err := dns.LoadZones(cfg.Zones, prevZones, time.Now())
	if err != nil {
		return fail(err)
	}
	// A database file is re-read on every reload, so that geoipupdate's
	// new file takes effect with a SIGHUP.
	if cfg.Meridian.GeoIP.Path != old.Meridian.GeoIP.Path || cfg.Meridian.GeoIP.Path != "" {
		db, err := openGeoIP(cfg.Meridian.GeoIP)
		if err != nil {
			return fail(err)
		}
		r.loc.db.Store(db) // the old database is left to the collector: lookups may be in flight
	}
	for _, l := range []struct {
		name     string
		old, new []string
	}{{"dns", old.Meridian.DNS, cfg.Meridian.DNS}, {"http", old.Meridian.HTTP, cfg.Meridian.HTTP}, {"xds", old.Meridian.XDS, cfg.Meridian.XDS}} {
		if !slices.Equal(l.old, l.new) {
			logger.Warn("listen addresses changed; they take effect at the next restart", "listener", l.name, "running", l.old, "configured", l.new)
		}
	}
	handler.SetZones(zones, dnsOptions(cfg))
	loop.SetPolicies(cfg.Policies())
	r.state.config.Store(cfg)
	loop.SetOverrides(allOverrides(cfg, r.store))
	r.checker.SetChecks(healthChecks(cfg))
	if r.xds != nil {
		r.xds.SetOptions(xdsOptions(cfg))
	}
	if !slices.Equal(old.Meridian.XDSGatewayNodes, cfg.Meridian.XDSGatewayNodes) || !reflect.DeepEqual(old.Meridian.XDSTLS, cfg.Meridian.XDSTLS) || !reflect.DeepEqual(old.Meridian.HTTPTLS, cfg.Meridian.HTTPTLS) {
		logger.Warn("xds_gateway_nodes, xds_tls and http_tls take effect at the next restart")
	}
	clusters, statics, named := discoveryInputs(cfg)
	disc.Reconfigure(ctx, clusters, static.Inventory(statics), named)
	if !reflect.DeepEqual(old.Meridian.ClusterSecrets, cfg.Meridian.ClusterSecrets) {
		logger.Warn("cluster_secrets changed; it takes effect at the next restart")
	}
	if old.Meridian.APITokens != cfg.Meridian.APITokens || old.Meridian.OverridesFile != cfg.Meridian.OverridesFile ||
		!reflect.DeepEqual(old.Meridian.OverridesKube, cfg.Meridian.OverridesKube) || old.Meridian.AuditLog != cfg.Meridian.AuditLog {
		logger.Warn("api_tokens, overrides and audit_log take effect at the next restart")
	}
	if old.Meridian.Replica != cfg.Meridian.Replica || old.Meridian.HealthWorkers != cfg.Meridian.HealthWorkers {
		logger.Warn("replica and health_workers take effect at the next restart")
	}
	dns.Notify(ctx, zones, prevZones, logger.With("component", "dns"))
	logger.Info("configuration reloaded", "config", path, "clusters", len(cfg.Clusters), "zones", len(cfg.Zones))
	return cfg
}

// healthChecks returns the health block of every probed service by name.
func healthChecks(cfg *config.Config) map[string]config.HealthCheck {
	checks := map[string]config.HealthCheck{}
	for _, z := range cfg.Zones {
		for _, s := range z.Services {
			if s.Health != nil {
				checks[s.FQDN] = *s.Health
			}
		}
	}
	return checks
}

func dnsOptions(cfg *config.Config) dns.Options {
	return dns.Options{ChaosVersion: cfg.Meridian.ChaosVersion, ChaosID: cfg.Meridian.ChaosID}
}

// openGeoIP opens the configured GeoIP database; errors name the directive.
func openGeoIP(g config.GeoIP) (*geo.DB, error) {
	if g.Path == "" {
		return geo.Builtin()
	}
	db, err := geo.Open(g.Path)
	if err != nil {
		return nil, fmt.Errorf("%s: geoip: %w", g.Pos, err)
	}
	return db, nil
}
