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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	rungroup "github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/api/kubestore"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/discovery/kube"
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
//
// Every component runs as an actor of one run group: when any of them
// stops, on a signal or by failing, the group stops all of them in order
// (listeners first, so that in-flight queries and requests are answered,
// then the engine and discovery) and waits for each. A step of start-up
// that fails stops what the earlier steps started the same way. The error
// returned says which component stopped first and why.
func serve(ctx context.Context, path, pprofAddr string, logger *slog.Logger) error {
	kube.RouteClientLogs(logger.With("component", "client-go"))
	cfg, err := config.Load(path)
	if err != nil {
		return configError{err}
	}
	db, err := openGeoIP(cfg.Meridian.GeoIP)
	if err != nil {
		return configError{err}
	}
	dnsOpts, err := dnsOptions(cfg, logger.With("component", "dns"))
	if err != nil {
		return configError{err}
	}
	source, err := healthSource(cfg.Meridian.HealthSource)
	if err != nil {
		return configError{err}
	}
	tokens, store, audit, err := openAPIParts(cfg)
	if err != nil {
		return err
	}
	defer audit.Close()
	// After the store: a signed zone's keys may be kept there.
	zones, err := dns.LoadZonesWithKeys(dnsZones(cfg.Zones), nil, time.Now(), keyStore(ctx, store))
	if err != nil {
		return configError{err}
	}
	serials, err := openSerials(cfg, store)
	if err != nil {
		return err
	}
	if zones, err = dns.AssignSerials(ctx, zones, serials, time.Now(), logger.With("component", "dns")); err != nil {
		return err
	}
	var loc locator
	loc.db.Store(db)
	for _, w := range geoWarnings(cfg.Policies(), db) {
		logger.Warn(w)
	}
	mem := applyMemoryLimit()
	logger.Info("starting", "version", buildVersion(), "replica", cfg.Meridian.Replica, "config", path,
		"geoip", db.Description(), "clusters", len(cfg.Clusters), "zones", len(cfg.Zones),
		"memory_limit", mem.bytes, "memory_limit_from", mem.source)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	stats := dns.NewStats(reg)

	handler := dns.NewHandler(zones, &loc, dnsOpts, stats)
	loop := weights.NewLoop(weights.LoopConfig{Logger: logger.With("component", "weights")}, cfg.Policies())
	loop.Subscribe(func(p *model.Plan) {
		handler.Publish(p)
		if err := handler.Err(); err != nil {
			logger.Error("dns: the new plan's answers could not be compiled; the previous ones are served", "plan", p.VersionText(), "err", err.Error())
		}
	})
	healthLogger, healthMetrics := logger.With("component", "health"), health.NewMetrics(reg)
	state := &apiState{history: api.NewHealthHistory(), tokens: tokens, metrics: reg,
		readinessChanged: func(changes []model.ReadinessChange) {
			health.ReadinessChanged(healthLogger, healthMetrics, cfg.Meridian.Replica, changes)
		}}
	state.setInventory(model.Inventory{})
	state.setHealth(model.Health{})
	state.config.Store(cfg)
	loop.SetOverrides(allOverrides(cfg, store))
	reports := openProbeReports(cfg, store, logger) // it names its component
	_, solo := reports.(soloReports)
	checker := health.New(health.Config{
		Checks: healthChecks(cfg), Workers: cfg.Meridian.HealthWorkers, Replica: cfg.Meridian.Replica, Source: source,
		Quorum: healthQuorum(cfg.Meridian.HealthQuorum), Share: reports.Share, AwaitPeers: !solo,
		Logger: healthLogger, Metrics: healthMetrics,
		Publish: func(h model.Health) {
			loop.SetHealth(h)
			state.setHealth(h)
		},
	})
	if !solo {
		state.replicas = reports.Reports
	}
	registerEngineMetrics(reg, loop, state, store)
	warm := openWarmStart(cfg, store, logger.With("component", "discovery"))
	setInventory := func(inv model.Inventory) {
		loop.SetInventory(inv)
		checker.SetInventory(inv)
		state.setInventory(inv)
	}
	var disc *kube.Discovery
	disc = newDiscovery(cfg, func(inv model.Inventory) {
		inv = warm.merge(inv, disc.Status())
		setInventory(inv)
		warm.observe(inv)
	}, logger.With("component", "discovery"))
	registerDiscoveryMetrics(reg, disc)
	reg.MustRegister(newServiceStates(loop.Plan))
	if inv, ok := warm.initial(cfg); ok {
		setInventory(inv) // the first Plan is made from it, before discovery's first Inventory
	}
	parts := &running{handler: handler, loc: &loc, loop: loop, disc: disc, checker: checker, store: store, serials: serials, state: state}

	// The listeners, in the order they stop: each one bound joins the
	// group at once, so that a later failure stops it too.
	var g rungroup.Group
	var grace shutdownDeadline
	stopWith := func(err error) error {
		g.Add(func() error { return err }, func(error) {})
		return g.Run()
	}
	dnsLogger := logger.With("component", "dns")
	tap, err := startDnstap(cfg, reg, dnsLogger)
	if err != nil {
		return err
	}
	if tap != nil {
		defer tap.Close() // once the DNS server has stopped
	}
	dnsServer, err := dns.Listen(dnsServerConfig(cfg, handler, stats, tap, dnsLogger))
	if err != nil {
		return err
	}
	addServer(&g, "dns server", dnsServer.Failed(), dnsServer.Shutdown, &grace, logger)
	xdsLn, err := listenXDS(cfg, reg, logger.With("component", "xds"))
	if err != nil {
		return stopWith(err)
	}
	if xdsLn != nil {
		loop.Subscribe(xdsLn.server.SetPlan)
		parts.xds = xdsLn.server
	}
	httpTLS, err := serverTLS("http_tls", cfg.Meridian.HTTPTLS)
	if err != nil {
		xdsLn.close()
		return stopWith(err)
	}
	httpServer, err := api.Listen(api.Config{
		TLS:      httpTLS,
		Limits:   httpLimits(cfg.Meridian.HTTPLimits),
		V1:       v1Config(state, tokens, store, audit, loop, &loc, parts.xds, handler),
		Addrs:    cfg.Meridian.HTTP,
		Gatherer: reg,
		Metrics:  reg,
		Ready: func() error {
			if !handler.Ready() {
				return errors.New("no plan published yet")
			}
			return nil
		},
		Logger: logger.With("component", "http"),
	})
	if err != nil {
		xdsLn.close()
		return stopWith(err)
	}
	addServer(&g, "http server", httpServer.Failed(), httpServer.Shutdown, &grace, logger)
	if pprofAddr != "" {
		pp, err := listenPprof(pprofAddr, logger.With("component", "pprof"))
		if err != nil {
			return stopWith(fmt.Errorf("-pprof: %w", err))
		}
		addServer(&g, "pprof server", pp.failed, pp.srv.Shutdown, &grace, logger)
	}

	// The engine: every part runs until runCtx ends, which the listeners'
	// shutdown precedes.
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	addRunner := func(name string, run func(context.Context) error) {
		g.Add(func() error {
			err := run(runCtx)
			if runCtx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s stopped: %w", name, cmp.Or(err, errors.New("for no reason")))
		}, func(error) { stopRun() })
	}
	for _, ln := range xdsLn.listeners() {
		addRunner("xds server", func(ctx context.Context) error { return xdsLn.server.Serve(ctx, ln) })
	}
	addRunner("weights loop", func(ctx context.Context) error { loop.Run(ctx); return nil })
	addRunner("health checker", func(ctx context.Context) error { checker.Run(ctx); return nil })
	addRunner("health reports", func(ctx context.Context) error {
		quorum := func() string { return healthQuorum(state.config.Load().Meridian.HealthQuorum).String() }
		return runReports(ctx, reports, checker, quorum, logger.With("component", "health"))
	})
	if _, shared := store.(*kubestore.Store); shared {
		addRunner("overrides store watch", func(ctx context.Context) error { watchStore(ctx, store, state, loop); return nil })
	}
	if warm != nil {
		addRunner("inventory saver", func(ctx context.Context) error { warm.run(ctx); return nil })
	}
	addRunner("discovery", disc.Run)
	addRunner("dnssec signatures", func(ctx context.Context) error { refreshSignatures(ctx, handler, dnsLogger); return nil })
	addRunner("dnssec keys", func(ctx context.Context) error { parts.refreshKeys(ctx, dnsLogger); return nil })
	var notifies sync.WaitGroup
	defer notifies.Wait()
	notifies.Go(func() { notify(runCtx, handler, zones, nil, dnsLogger) })

	// Signals: SIGINT and SIGTERM (ctx) stop the group; SIGHUP reloads.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	g.Add(func() error {
		for {
			select {
			case <-ctx.Done():
				logger.Info("shutting down")
				return nil
			case <-runCtx.Done():
				return nil
			case <-hup:
				cfg = parts.reload(runCtx, path, cfg, logger, &notifies)
			}
		}
	}, func(error) { stopRun() })

	if err := g.Run(); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// refreshSignatures compiles the answers again every hour while a zone is
// signed, so that signatures nearing expiry are made again even when no
// Plan comes.
func refreshSignatures(ctx context.Context, handler *dns.Handler, logger *slog.Logger) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !handler.Zones().Signed() {
				continue
			}
			if err := handler.RefreshSignatures(); err != nil {
				logger.Error("refreshing signatures failed; the answers signed so far stay", "err", err)
			}
		}
	}
}

// refreshKeys reads the signed zones' keys again every
// Zones.KeyCheckInterval, so that the keys of a rollover are published and
// used at the times their files say, on every replica together, and keys
// another replica added to the shared store are taken up.
func (r *running) refreshKeys(ctx context.Context, logger *slog.Logger) {
	var lastErr string
	var lastLogged time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.handler.Zones().KeyCheckInterval()):
		}
		if !r.handler.Zones().Signed() {
			continue
		}
		err := r.swapKeys(ctx, logger)
		switch {
		case err == nil:
			lastErr = ""
		case err.Error() != lastErr || time.Since(lastLogged) >= time.Minute: // once a minute while it lasts
			logger.Error("reading the DNSSEC keys failed; the keys in use stay", "err", err)
			lastErr, lastLogged = err.Error(), time.Now()
		}
	}
}

// swapKeys serves the zones with the keys of now, when they changed.
func (r *running) swapKeys(ctx context.Context, logger *slog.Logger) error {
	r.zonesMu.Lock()
	defer r.zonesMu.Unlock()
	zones, changed, err := r.handler.Zones().RefreshKeys(time.Now(), keyStore(ctx, r.store))
	if err != nil || !changed {
		return err
	}
	if zones, err = dns.AssignSerials(ctx, zones, r.serials, time.Now(), logger); err != nil {
		return err
	}
	if err := r.handler.ReplaceZones(zones); err != nil {
		return err
	}
	for _, z := range r.state.config.Load().Zones {
		if keys, ok := zones.Keys(z.Origin); ok {
			var tags []string
			for _, k := range keys {
				tags = append(tags, fmt.Sprintf("%s %d", k.Role, k.Tag))
			}
			logger.Info("dnssec keys changed", "zone", z.Origin, "signing", strings.Join(tags, ", "), "serial", zones.Serial(z.Origin))
		}
	}
	return nil
}

// shutdownDeadline is the one deadline that every listener's shutdown
// shares, set when the first one starts.
type shutdownDeadline struct {
	once   sync.Once
	ctx    context.Context
	cancel context.CancelFunc
}

func (d *shutdownDeadline) context() context.Context {
	d.once.Do(func() { d.ctx, d.cancel = context.WithTimeout(context.Background(), shutdownGrace) })
	return d.ctx
}

// addServer adds a listening server to g: it runs until it fails on its
// own, which stops the group with the reason, or until it is shut down.
func addServer(g *rungroup.Group, name string, failed <-chan error, shutdown func(context.Context) error, grace *shutdownDeadline, logger *slog.Logger) {
	stopped := make(chan struct{})
	g.Add(func() error {
		select {
		case err := <-failed:
			return fmt.Errorf("%s stopped: %w", name, err)
		case <-stopped:
			return nil
		}
	}, func(error) {
		if err := shutdown(grace.context()); err != nil {
			logger.Warn("shutdown cut short", "server", name, "err", err)
		}
		close(stopped)
	})
}

// running holds the parts of a serving Meridian that a reload reconfigures.
type running struct {
	handler *dns.Handler
	loc     *locator
	loop    *weights.Loop
	disc    *kube.Discovery
	checker *health.Checker
	xds     *xds.Server    // nil when xDS is not served
	store   api.Store      // nil without an overrides store
	serials dns.SerialBook // nil without an overrides store
	state   *apiState
	// zonesMu serialises the two that build new zones: a reload, and a
	// change of DNSSEC keys (refreshKeys).
	zonesMu sync.Mutex
}

// reload re-reads the configuration and applies what can change without a
// restart: zones and their static records, services, policies and health
// checks, static clusters, overrides, the GeoIP database, CHAOS answers,
// the NSID and DNS cookies (their secret file is re-read).
// On any error the running configuration stays, and the error is logged
// with file and line. It returns the configuration in force.
func (r *running) reload(ctx context.Context, path string, old *config.Config, logger *slog.Logger, notifies *sync.WaitGroup) *config.Config {
	r.zonesMu.Lock()
	defer r.zonesMu.Unlock()
	handler, loop, disc := r.handler, r.loop, r.disc
	fail := func(err error) *config.Config {
		logger.Error("reload failed; the running configuration stays", "err", err.Error())
		return old
	}
	r.state.reloadTokens(logger)
	cfg, err := config.Load(path)
	if err != nil {
		return fail(err)
	}
	prevZones := handler.Zones()
	zones, err := dns.LoadZonesWithKeys(dnsZones(cfg.Zones), prevZones, time.Now(), keyStore(ctx, r.store))
	if err != nil {
		return fail(err)
	}
	if zones, err = dns.AssignSerials(ctx, zones, r.serials, time.Now(), logger.With("component", "dns")); err != nil {
		return fail(err)
	}
	// A database file is re-read on every reload, so that geoipupdate's
	// new file takes effect with a SIGHUP.
	var db *geo.DB
	if cfg.Meridian.GeoIP.Path != old.Meridian.GeoIP.Path || cfg.Meridian.GeoIP.Path != "" {
		if db, err = openGeoIP(cfg.Meridian.GeoIP); err != nil {
			return fail(err)
		}
	}
	dnsOpts, err := dnsOptions(cfg, logger.With("component", "dns"))
	if err != nil {
		return fail(err)
	}
	for _, l := range []struct {
		name     string
		old, new []string
	}{{"dns", old.Meridian.DNS, cfg.Meridian.DNS}, {"http", old.Meridian.HTTP, cfg.Meridian.HTTP}, {"xds", old.Meridian.XDS, cfg.Meridian.XDS}} {
		if !slices.Equal(l.old, l.new) {
			logger.Warn("listen addresses changed; they take effect at the next restart", "listener", l.name, "running", l.old, "configured", l.new)
		}
	}
	// Everything that can fail is above or here: SetZones compiles the new
	// answer tables before swapping them in and changes nothing on error.
	if err := handler.SetZones(zones, dnsOpts); err != nil {
		return fail(err)
	}
	if db != nil {
		r.loc.db.Store(db) // the old database is left to the collector: lookups may be in flight
	}
	for _, w := range geoWarnings(cfg.Policies(), r.loc.db.Load()) {
		logger.Warn(w)
	}
	loop.SetPolicies(cfg.Policies())
	r.state.config.Store(cfg)
	loop.SetOverrides(allOverrides(cfg, r.store))
	r.checker.SetChecks(healthChecks(cfg))
	r.checker.SetQuorum(healthQuorum(cfg.Meridian.HealthQuorum))
	if r.xds != nil {
		r.xds.SetOptions(xdsOptions(cfg))
	}
	if !slices.Equal(old.Meridian.XDSGatewayNodes, cfg.Meridian.XDSGatewayNodes) || !reflect.DeepEqual(old.Meridian.XDSTLS, cfg.Meridian.XDSTLS) || !reflect.DeepEqual(old.Meridian.HTTPTLS, cfg.Meridian.HTTPTLS) {
		logger.Warn("xds_gateway_nodes, xds_tls and http_tls take effect at the next restart")
	}
	clusters, statics, named := discoveryInputs(cfg)
	disc.Reconfigure(ctx, clusters, config.StaticInventory(statics), named)
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
	if !reflect.DeepEqual(old.Meridian.Dnstap, cfg.Meridian.Dnstap) {
		logger.Warn("dnstap changed; it takes effect at the next restart")
	}
	if o, n := old.Meridian.HealthSource, cfg.Meridian.HealthSource; o.IPv4 != n.IPv4 || o.IPv6 != n.IPv6 {
		logger.Warn("health_source changed; it takes effect at the next restart", "running", o.Addrs(), "configured", n.Addrs())
	}
	notifies.Go(func() { notify(ctx, r.handler, zones, prevZones, logger.With("component", "dns")) })
	logger.Info("configuration reloaded", "config", path, "clusters", len(cfg.Clusters), "zones", len(cfg.Zones))
	return cfg
}

// healthSource returns where probes are sent from, once it has checked
// that a socket binds to each address: an address this host does not have
// would fail every probe, and is better refused at start, naming its line.
func healthSource(src config.HealthSource) (health.Source, error) {
	for _, a := range src.Addrs() {
		if err := health.CheckSource(a); err != nil {
			return health.Source{}, fmt.Errorf("%s: health_source: %s is not an address of this host: %w", src.Pos, a, err)
		}
	}
	return health.Source{IPv4: src.IPv4, IPv6: src.IPv6}, nil
}

// dnsOptions is what the DNS handler takes from the configuration. The
// cookie secrets are read here, at start and on every reload, so that a
// secret rolled in the file (a Kubernetes Secret the replicas mount)
// takes effect with a SIGHUP. Cookies without a secret file use a random
// secret of this process, which other replicas do not know: logger warns.
func dnsOptions(cfg *config.Config, logger *slog.Logger) (dns.Options, error) {
	m := &cfg.Meridian
	opts := dns.Options{ChaosVersion: m.ChaosVersion, ChaosID: m.ChaosID, NSID: m.NSID}
	if c := m.Cookies; c != nil {
		opts.Cookies = true
		if c.SecretFile == "" {
			logger.Warn("dns cookies without a secret file: server cookies are made with a random secret of this process, " +
				"which other replicas will not accept; give every replica the same file with cookies SECRET_FILE")
			return opts, nil
		}
		secrets, err := dns.ReadCookieSecrets(c.SecretFile)
		if err != nil {
			return dns.Options{}, fmt.Errorf("%s: cookies: %w", c.Pos, err)
		}
		opts.CookieSecrets = secrets
		// Whoever reads the secret can forge cookies that exempt any
		// address from rate limiting.
		if fi, err := os.Stat(c.SecretFile); err == nil && fi.Mode().Perm()&0o004 != 0 {
			logger.Warn(fmt.Sprintf("every user may read the cookie secret file (mode %04o); make it 0600 or 0400", fi.Mode().Perm()),
				"file", c.SecretFile)
		}
	}
	return opts, nil
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

// notify tells the zones' secondaries of new serials (dns.Notify) once
// the handler answers, so that their transfer finds the new zone.
func notify(ctx context.Context, h *dns.Handler, zones, prev *dns.Zones, logger *slog.Logger) {
	if h.WaitReady(ctx) == nil {
		dns.Notify(ctx, zones, prev, logger)
	}
}
