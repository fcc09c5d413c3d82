package main

import (
	"crypto/tls"
	"crypto/x509"

	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/xds"
)

// xdsListeners is the xDS server and its listening sockets.
type xdsListeners struct {
	server *xds.Server
	lns    []net.Listener
}

// listenXDS opens the configured xDS addresses; nil when there are none.
func listenXDS(cfg *config.Config, reg prometheus.Registerer, logger *slog.Logger) (*xdsListeners, error) {
	if len(cfg.Meridian.XDS) == 0 {
		return nil, nil
	}
	tlsConfig, err := serverTLS("xds_tls", cfg.Meridian.XDSTLS)
	if err != nil {
		return nil, err
	}
	x := &xdsListeners{
		server: xds.New(xds.Config{
			Classifier: xds.Classifier{GatewayNodes: cfg.Meridian.XDSGatewayNodes},
			Options:    xdsOptions(cfg),
			Logger:     logger,
			Metrics:    xds.NewMetrics(reg),
			TLS:        tlsConfig,
			Limits:     xdsLimits(cfg.Meridian.XDSLimits),
		}),
	}
	for _, addr := range cfg.Meridian.XDS {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range x.lns {
				l.Close()
			}
			return nil, fmt.Errorf("xds: %w", err)
		}
		x.lns = append(x.lns, ln)
		logger.Info("serving xDS", "addr", ln.Addr().String(), "tls", tlsConfig != nil)
	}
	return x, nil
}

// listeners returns the sockets to serve; none for nil x.
func (x *xdsListeners) listeners() []net.Listener {
	if x == nil {
		return nil
	}
	return x.lns
}

// close closes the sockets of an xDS server that never served.
func (x *xdsListeners) close() {
	for _, ln := range x.listeners() {
		ln.Close()
	}
}

// xdsOptions turns the services' and clusters' xDS settings into xds.Options.
func xdsOptions(cfg *config.Config) xds.Options {
	o := xds.Options{GatewayPorts: cfg.Meridian.XDSGatewayPorts, Services: map[string]xds.ServiceOptions{}}
	for _, z := range cfg.Zones {
		for _, s := range z.Services {
			so := xds.ServiceOptions{Port: s.XDSPort, PodPort: s.EastWestPort}
			if s.EastWest == "gateway" {
				so.EastWest = xds.ViaGateway
			}
			o.Services[s.FQDN] = so
		}
	}
	for _, c := range cfg.Clusters {
		if c.EastWestGateway.IsValid() {
			if o.EastWestGateways == nil {
				o.EastWestGateways = map[string]netip.AddrPort{}
			}
			o.EastWestGateways[c.Name] = c.EastWestGateway
		}
	}
	return o
}

// xdsLimits turns the xds_limits block into xds.Limits; what it leaves
// out keeps the xds package's default.
func xdsLimits(l config.XDSLimits) xds.Limits {
	return xds.Limits{
		MaxConnections:   l.MaxConnections,
		MaxStreams:       uint32(l.MaxStreams),
		KeepaliveMinTime: l.KeepaliveMinTime,
		KeepaliveTime:    l.KeepaliveTime,
		KeepaliveTimeout: l.KeepaliveTimeout,
		IdleTimeout:      l.IdleTimeout,
		MaxGroups:        l.MaxGroups,
		GroupGrace:       l.GroupGrace,
	}
}

// serverTLS loads a server's certificate and, for mTLS, its client CAs;
// errors name the directive and where it is.
func serverTLS(directive string, t *config.TLSFiles) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %s: %w", t.File, t.Line, directive, err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.ClientCA != "" {
		pem, err := os.ReadFile(t.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", t.File, t.Line, directive, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s:%d: %s: %s holds no PEM certificate", t.File, t.Line, directive, t.ClientCA)
		}
		c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return c, nil
}
