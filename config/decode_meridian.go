package config

import (
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// decode reads the meridian block. The DNS server's directives (chaos,
// nsid, cookies, rrl, dnstap, sockets and TCP limits) are decoded in
// decode_dnsserver.go, the health prober's in decode_health.go.
func (m *Meridian) decode(n *node, errs *errorList) {
	body("meridian block", n, map[string]directive{
		"dns":                       listen(&m.DNS),
		"xds":                       listen(&m.XDS),
		"http":                      listen(&m.HTTP),
		"chaos":                     m.decodeChaos,
		"rrl":                       m.decodeRRL,
		"dnstap":                    m.decodeDnstap,
		"nsid":                      m.decodeNSID,
		"cookies":                   m.decodeCookies,
		"xds_gateway_ports":         m.decodeGatewayPorts,
		"xds_gateway_nodes":         m.decodeGatewayNodes,
		"xds_tls":                   tlsFiles(&m.XDSTLS),
		"http_tls":                  tlsFiles(&m.HTTPTLS),
		"api_tokens":                word(&m.APITokens, "FILE"),
		"subnets":                   wordAt(&m.Subnets, &m.SubnetsPos, "FILE"),
		"audit_log":                 wordAt(&m.AuditLog, &m.AuditLogPos, "FILE"),
		"overrides":                 m.decodeOverrides,
		"replica":                   word(&m.Replica, "NAME"),
		"health_workers":            intIn(&m.HealthWorkers, 1, 100000),
		"health_source":             m.decodeHealthSource,
		"health_quorum":             m.decodeHealthQuorum,
		"udp_sockets":               intIn(&m.UDPSockets, 1, 1024),
		"tcp_max_conns":             intIn(&m.TCPMaxConns, 1, 1_000_000),
		"tcp_max_conns_per_network": m.decodeTCPPerNetwork,
		"http_limits":               m.HTTPLimits.decode,
		"xds_limits":                m.XDSLimits.decode,
		"resolver":                  m.decodeResolver,
		"cluster_secrets":           m.decodeClusterSecrets,
		"stale_grace":               secondsDuration(&m.StaleGrace, &m.staleGraceSet),
		"geoip":                     m.decodeGeoIP,
	}, []string{"dns", "xds", "http", "geoip", "stale_grace", "rrl", "dnstap", "nsid", "cookies", "resolver", "cluster_secrets", "replica", "health_workers", "health_source", "health_quorum", "udp_sockets", "tcp_max_conns", "tcp_max_conns_per_network", "xds_gateway_ports", "xds_tls", "api_tokens", "audit_log", "overrides", "subnets", "http_tls", "http_limits", "xds_limits"}, errs)
}

// listen decodes a directive of listen addresses, HOST:PORT..., into *dst.
func listen(dst *[]string) directive {
	return func(d *node, errs *errorList) {
		if err := args(d, 1, -1, "ADDRESS:PORT..."); err != nil {
			errs.add(err)
			return
		}
		for _, a := range d.Args {
			if err := checkListen(a.Text); err != nil {
				errs.add(errorf(a.Pos, "%s: %v", d.Name(), err))
				continue
			}
			*dst = append(*dst, a.Text)
		}
	}
}

// checkListen accepts HOST:PORT where HOST is empty or an IP address.
func checkListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not ADDRESS:PORT (write [::1]:53 for IPv6)", addr)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: %q is not an IP address", addr, host)
		}
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

func (m *Meridian) decodeGatewayPorts(d *node, errs *errorList) {
	if err := args(d, 1, -1, "PORT..."); err != nil {
		errs.add(err)
		return
	}
	for _, a := range d.Args {
		p, err := parsePort(a.Text)
		if err != nil {
			errs.add(errorf(a.Pos, "%s: %v", d.Name(), err))
			continue
		}
		m.XDSGatewayPorts = append(m.XDSGatewayPorts, uint32(p))
	}
}

func (m *Meridian) decodeGatewayNodes(d *node, errs *errorList) {
	if err := args(d, 1, -1, "PATTERN..."); err != nil {
		errs.add(err)
		return
	}
	for _, a := range d.Args {
		if _, err := path.Match(a.Text, ""); err != nil {
			errs.add(errorf(a.Pos, "%s: bad pattern %q: %v", d.Name(), a.Text, err))
			continue
		}
		m.XDSGatewayNodes = append(m.XDSGatewayNodes, a.Text)
	}
}

// tlsFiles decodes NAME CERT KEY [CLIENT-CA] into *dst.
func tlsFiles(dst **TLSFiles) directive {
	return func(d *node, errs *errorList) {
		if err := args(d, 2, 3, "CERT-FILE KEY-FILE [CLIENT-CA-FILE]"); err != nil {
			errs.add(err)
			return
		}
		t := &TLSFiles{Pos: d.Pos, Cert: d.Args[0].Text, Key: d.Args[1].Text}
		if len(d.Args) == 3 {
			t.ClientCA = d.Args[2].Text
		}
		*dst = t
	}
}

// decodeOverrides reads `overrides file PATH` or `overrides kubernetes
// NAMESPACE/NAME [KUBECONFIG [CONTEXT]]`.
func (m *Meridian) decodeOverrides(d *node, errs *errorList) {
	const usage = "file PATH | kubernetes NAMESPACE/NAME [KUBECONFIG [CONTEXT]]"
	if err := args(d, 2, 4, usage); err != nil {
		errs.add(err)
		return
	}
	switch d.Args[0].Text {
	case "file":
		if len(d.Args) != 2 {
			errs.add(errorf(d.Pos, "overrides: expected overrides file PATH"))
			return
		}
		m.OverridesFile, m.OverridesPos = d.Args[1].Text, d.Pos
	case "kubernetes":
		ns, name, ok := strings.Cut(d.Args[1].Text, "/")
		if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
			errs.add(errorf(d.Args[1].Pos, "overrides kubernetes: expected NAMESPACE/NAME, got %q", d.Args[1].Text))
			return
		}
		k := &KubeObject{Pos: d.Pos, Namespace: ns, Name: name}
		if len(d.Args) > 2 {
			k.Kubeconfig = d.Args[2].Text
		}
		if len(d.Args) > 3 {
			k.Context = d.Args[3].Text
		}
		m.OverridesKube = k
	default:
		errs.add(errorf(d.Args[0].Pos, "overrides: expected %s, got %q", usage, d.Args[0].Text))
	}
}

// limitsBlock checks that a limits block has no arguments and a body.
func limitsBlock(d *node, errs *errorList) bool {
	if len(d.Args) != 0 || !d.HasBody {
		errs.add(errorf(d.Pos, "%s: expected %s { DIRECTIVE VALUE; ... }", d.Name(), d.Name()))
		return false
	}
	return true
}

// decode reads an http_limits block.
func (l *HTTPLimits) decode(d *node, errs *errorList) {
	*l = HTTPLimits{Pos: d.Pos}
	if !limitsBlock(d, errs) {
		return
	}
	body("http_limits block", d, map[string]directive{
		"read_timeout":     durationIn(&l.ReadTimeout),
		"write_timeout":    durationIn(&l.WriteTimeout),
		"idle_timeout":     durationIn(&l.IdleTimeout),
		"max_header_bytes": intIn(&l.MaxHeaderBytes, 1024, 16<<20),
		"max_connections":  intIn(&l.MaxConnections, 1, 1<<20),
	}, []string{"read_timeout", "write_timeout", "idle_timeout", "max_header_bytes", "max_connections"}, errs)
}

// decode reads an xds_limits block.
func (l *XDSLimits) decode(d *node, errs *errorList) {
	*l = XDSLimits{Pos: d.Pos}
	if !limitsBlock(d, errs) {
		return
	}
	body("xds_limits block", d, map[string]directive{
		"max_connections":    intIn(&l.MaxConnections, 1, 1<<20),
		"max_streams":        intIn(&l.MaxStreams, 1, 1<<20),
		"keepalive_min_time": durationIn(&l.KeepaliveMinTime),
		"keepalive_time":     durationIn(&l.KeepaliveTime),
		"keepalive_timeout":  durationIn(&l.KeepaliveTimeout),
		"idle_timeout":       durationIn(&l.IdleTimeout),
		"max_groups":         intIn(&l.MaxGroups, 1, 1<<20),
		"group_grace":        durationIn(&l.GroupGrace),
	}, []string{"max_connections", "max_streams", "keepalive_min_time", "keepalive_time", "keepalive_timeout", "idle_timeout", "max_groups", "group_grace"}, errs)
}

func (m *Meridian) decodeResolver(d *node, errs *errorList) {
	a, ok := oneArg(d, "ADDRESS[:PORT]", errs)
	if !ok {
		return
	}
	ap, err := parseAddrPort(a.Text, 53)
	if err != nil {
		errs.add(errorf(a.Pos, "resolver: %q is not ADDRESS or ADDRESS:PORT", a.Text))
		return
	}
	m.Resolver = ap.String()
}

// decodeClusterSecrets reads `cluster_secrets NAMESPACE [{ kubeconfig
// PATH; context NAME }]`.
func (m *Meridian) decodeClusterSecrets(d *node, errs *errorList) {
	if len(d.Args) != 1 {
		errs.add(errorf(d.Pos, "cluster_secrets: expected cluster_secrets NAMESPACE [{ kubeconfig PATH; context NAME }]"))
		return
	}
	cs := &ClusterSecrets{Pos: d.Pos, Namespace: d.Args[0].Text}
	body("cluster_secrets block", d, map[string]directive{
		"kubeconfig": word(&cs.Kubeconfig, "PATH"),
		"context":    word(&cs.Context, "NAME"),
	}, []string{"kubeconfig", "context"}, errs)
	m.ClusterSecrets = cs
}

func (m *Meridian) decodeGeoIP(d *node, errs *errorList) {
	a, ok := oneArg(d, "builtin|FILE", errs)
	if !ok {
		return
	}
	m.GeoIP = GeoIP{Pos: d.Pos}
	if a.Text != "builtin" {
		m.GeoIP.Path = a.Text
	}
}
