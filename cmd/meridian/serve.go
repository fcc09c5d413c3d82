package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/discovery/static"
	"github.com/meridian-gtm/meridian/dns"
	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
	"github.com/meridian-gtm/meridian/weights"
)

// shutdownGrace bounds how long in-flight queries and requests may take to
// finish once a shutdown signal arrives.
const shutdownGrace = 10 * time.Second

// configError marks errors in the configuration, which exit with code 2.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// serve runs Meridian with the configuration at path until ctx ends.
func serve(ctx context.Context, path string, logger *slog.Logger) error {
	cfg, err := config.Load(path)
	if err != nil {
		return configError{err}
	}
	locator, err := openGeoIP(cfg.Meridian.GeoIP)
	if err != nil {
		return configError{err}
	}
	defer locator.Close()
	logger.Info("starting", "version", buildVersion(), "config", path, "geoip", locator.Description(),
		"clusters", len(cfg.Clusters), "zones", len(cfg.Zones))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	handler := dns.NewHandler(cfg.Zones, locator, dns.NewMetrics(reg))
	loop := weights.NewLoop(weights.LoopConfig{Logger: logger.With("component", "weights")}, cfg.Policies())
	loop.Subscribe(handler.Publish)
	loop.SetOverrides(model.NewOverrides(cfg.Overrides()))
	loop.SetInventory(static.Inventory(cfg.Clusters))

	dnsServer, err := dns.Listen(cfg.Meridian.DNS, handler, logger.With("component", "dns"))
	if err != nil {
		return err
	}
	httpServer, err := api.Listen(api.Config{
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
	if len(cfg.Meridian.XDS) > 0 {
		logger.Warn("xds addresses are configured but this version does not serve xDS yet", "xds", cfg.Meridian.XDS)
	}

	loopCtx, stopLoop := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() { loop.Run(loopCtx); close(loopDone) }()

	var failed error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case failed = <-dnsServer.Failed():
		failed = fmt.Errorf("dns server stopped: %w", failed)
	case failed = <-httpServer.Failed():
		failed = fmt.Errorf("http server stopped: %w", failed)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err = errors.Join(dnsServer.Shutdown(shutdownCtx), httpServer.Shutdown(shutdownCtx))
	stopLoop()
	<-loopDone
	if failed != nil {
		return failed
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
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
