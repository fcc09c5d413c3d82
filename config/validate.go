package config

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// Defaults for what the file leaves out.
const (
	DefaultDNSListen  = ":53"
	DefaultHTTPListen = "127.0.0.1:8080"
	DefaultZoneTTL    = 3600
	DefaultServiceTTL = 30
	DefaultRefresh    = 3600
	DefaultRetry      = 600
	DefaultExpire     = 1209600
	DefaultMinimum    = 60
)

// validate fills defaults and checks each component, then what spans them.
func (c *Config) validate(errs *errorList) {
	if c.Meridian.Pos.File == "" {
		c.Meridian.Pos = Pos{File: c.File, Line: 1}
	}
	c.Meridian.validate(filepath.Dir(c.File), errs)

	clusters := map[string]Pos{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if first, dup := clusters[cl.Name]; dup {
			errs.add(errorf(cl.Pos, "cluster %s: already declared at %s", cl.Name, first))
			continue
		}
		clusters[cl.Name] = cl.Pos
		cl.validate(errs)
	}

	zones := map[string]Pos{}
	for i := range c.Zones {
		z := &c.Zones[i]
		if first, dup := zones[z.Origin]; dup {
			errs.add(errorf(z.Pos, "zone %s: already declared at %s", z.Origin, first))
			continue
		}
		zones[z.Origin] = z.Pos
		z.validate(clusters, errs)
		if d := z.DNSSEC; d != nil && d.Keys == "" && c.Meridian.OverridesKube == nil {
			errs.add(errorf(d.Pos, "dnssec: zone %s needs keys DIRECTORY, where its keys are or are generated on first start; "+
				"or an overrides kubernetes store, where the replicas share them in a Secret", z.Origin))
		}
	}
	c.resolveStaticServices(errs)
	if m := &c.Meridian; m.Subnets != "" {
		if !filepath.IsAbs(m.Subnets) {
			m.Subnets = filepath.Join(filepath.Dir(m.SubnetsPos.File), m.Subnets)
		}
		data, err := readSubnets(m.Subnets)
		if err != nil {
			errs.add(errorf(m.SubnetsPos, "subnets: %v", err))
		} else {
			m.Nets = parseSubnets(m.Subnets, data, clusters, errs)
		}
	}
	for _, cl := range c.Clusters {
		if cl.Bias != 0 && !cl.Location.Known() {
			errs.add(errorf(cl.Pos, "cluster %s: bias needs a location: it scales the distance to the cluster", cl.Name))
		}
	}
}

// validateMap checks a service's own map: geo policy only, and entries
// as validateMapEntries checks them.
func (s *Service) validateMap(clusters map[string]Pos, errs *errorList) {
	if s.mapPos.Line == 0 {
		return
	}
	if s.Policy != model.Geo {
		errs.add(errorf(s.mapPos, "map: only the geo policy takes a map; service %s is %s", s.Name, s.Policy))
		return
	}
	validateMapEntries(s.Map, s.entryPos, clusters, errs)
}

// validateMapEntries checks a map's entries (at entryPos): declared
// clusters listed once per entry, and no subnet, subdivision, country,
// continent or default claimed by two entries.
func validateMapEntries(entries []model.MapEntry, entryPos []Pos, clusters map[string]Pos, errs *errorList) {
	claimed := map[string]int{} // "country DE" -> index of the entry
	for i, m := range entries {
		pos := entryPos[i]
		var keys []string
		for _, p := range m.Subnets {
			keys = append(keys, "subnet "+p.String())
		}
		for _, c := range m.Codes {
			keys = append(keys, m.Match.String()+" "+c)
		}
		if m.Match == model.MatchDefault {
			keys = append(keys, "default")
		}
		for _, k := range keys {
			switch j, dup := claimed[k]; {
			case dup && j == i:
				errs.add(errorf(pos, "map: %s is listed twice", k))
			case dup:
				errs.add(errorf(pos, "map: %s already has an entry at line %d", k, entryPos[j].Line))
			default:
				claimed[k] = i
			}
		}
		seen := map[string]bool{}
		for _, c := range m.Clusters {
			if _, ok := clusters[c]; !ok {
				errs.add(errorf(pos, "map: no cluster %q is declared", c))
			}
			if seen[c] {
				errs.add(errorf(pos, "map: cluster %s is listed twice", c))
			}
			seen[c] = true
		}
	}
}

// parseSubnets reads a subnet list: lines of `CIDR CLUSTER [CLUSTER...]`,
// # starting a comment. Each error names FILE:LINE.
func parseSubnets(file string, data []byte, clusters map[string]Pos, errs *errorList) []model.Net {
	var nets []model.Net
	seen := map[netip.Prefix]int{}
	for i, line := range strings.Split(string(data), "\n") {
		pos := Pos{File: file, Line: i + 1}
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			errs.add(errorf(pos, "subnets: expected CIDR CLUSTER [CLUSTER...], got %q", strings.TrimSpace(line)))
			continue
		}
		p, err := netip.ParsePrefix(f[0])
		if err != nil {
			errs.add(errorf(pos, "subnets: %q is not a CIDR such as 198.51.100.0/24 or 2001:db8::/32", f[0]))
			continue
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		if p.Masked() != p {
			errs.add(errorf(pos, "subnets: %s has host bits set; write %s", f[0], p.Masked()))
			continue
		}
		if first, dup := seen[p]; dup {
			errs.add(errorf(pos, "subnets: %s already listed at line %d", p, first))
			continue
		}
		seen[p] = pos.Line
		n := model.Net{Prefix: p, Source: fmt.Sprintf("%s:%d", filepath.Base(file), pos.Line)}
		ok := true
		for _, name := range f[1:] {
			name = strings.ToLower(name)
			if _, known := clusters[name]; !known {
				errs.add(errorf(pos, "subnets: %s: unknown cluster %q", p, name))
				ok = false
				continue
			}
			if slices.Contains(n.Clusters, name) {
				errs.add(errorf(pos, "subnets: %s: cluster %s listed twice", p, name))
				ok = false
				continue
			}
			n.Clusters = append(n.Clusters, name)
		}
		if ok {
			nets = append(nets, n)
		}
	}
	return nets
}

func (m *Meridian) validate(dir string, errs *errorList) {
	m.fillDefaults(errs)
	m.validateStores(dir, errs)
	m.validateTLS(dir, errs)
	m.RRL.fillDefaults()
	m.checkListenConflicts(errs)
	if m.GeoIP.Path != "" {
		if !filepath.IsAbs(m.GeoIP.Path) {
			m.GeoIP.Path = filepath.Join(dir, m.GeoIP.Path)
		}
		if _, err := os.Stat(m.GeoIP.Path); err != nil {
			errs.add(errorf(m.GeoIP.Pos, "geoip: %v", err))
		}
	}
}

// fillDefaults gives the meridian block's unset directives their defaults.
func (m *Meridian) fillDefaults(errs *errorList) {
	if len(m.DNS) == 0 {
		m.DNS = []string{DefaultDNSListen}
	}
	if len(m.HTTP) == 0 {
		m.HTTP = []string{DefaultHTTPListen}
	}
	if !m.staleGraceSet {
		m.StaleGrace = model.DefaultStaleGrace
	}
	if m.Replica == "" {
		m.Replica, _ = os.Hostname()
	}
	if m.nsidReplica {
		if n := len(m.Replica); n == 0 || n > MaxNSIDLen {
			errs.add(errorf(m.nsidPos, "nsid: the replica name %q has %d bytes, and an NSID 1 to %d; give nsid TEXT", m.Replica, n, MaxNSIDLen))
		}
		m.NSID = []byte(m.Replica)
	}
	if m.HealthWorkers == 0 {
		m.HealthWorkers = 512
	}
	if len(m.XDSGatewayPorts) == 0 {
		m.XDSGatewayPorts = []uint32{80}
	}
	slices.Sort(m.XDSGatewayPorts)
	m.XDSGatewayPorts = slices.Compact(m.XDSGatewayPorts)
}

// absIn resolves a relative file name f against dir; empty stays empty.
func absIn(dir, f string) string {
	if f != "" && !filepath.IsAbs(f) {
		return filepath.Join(dir, f)
	}
	return f
}

// validateStores checks the files of the API and the DNS cookies, and
// where the overrides and the audit log are kept.
func (m *Meridian) validateStores(dir string, errs *errorList) {
	m.APITokens, m.OverridesFile, m.AuditLog = absIn(dir, m.APITokens), absIn(dir, m.OverridesFile), absIn(dir, m.AuditLog)
	if t := m.Dnstap; t != nil && t.Network == "unix" {
		t.Addr = absIn(dir, t.Addr)
	}
	if c := m.Cookies; c != nil && c.SecretFile != "" {
		// The DNS server reads it (dns.ReadCookieSecrets), at start and on
		// every reload, so that a rolled secret needs no restart.
		c.SecretFile = absIn(dir, c.SecretFile)
		if _, err := os.Stat(c.SecretFile); err != nil {
			errs.add(errorf(c.Pos, "cookies: %v", err))
		}
	}
	if m.APITokens != "" {
		if _, err := os.Stat(m.APITokens); err != nil {
			errs.add(errorf(m.Pos, "api_tokens: %v", err))
		}
		if m.OverridesFile == "" && m.OverridesKube == nil {
			errs.add(errorf(m.Pos, "api_tokens: the API needs a durable store for its overrides: overrides file PATH or overrides kubernetes NAMESPACE/NAME"))
		}
		if m.OverridesKube != nil && m.AuditLog == "" {
			errs.add(errorf(m.Pos, "api_tokens: with overrides kubernetes, give audit_log FILE"))
		}
	}
	if m.OverridesFile != "" && m.OverridesKube != nil {
		errs.add(errorf(m.OverridesKube.Pos, "overrides: give one store, a file or a Kubernetes object"))
	}
	if k := m.OverridesKube; k != nil {
		k.Kubeconfig = absIn(dir, k.Kubeconfig)
		if k.Kubeconfig != "" {
			if _, err := os.Stat(k.Kubeconfig); err != nil {
				errs.add(errorf(k.Pos, "overrides kubernetes: %v", err))
			}
		}
	}
	if m.OverridesFile != "" && m.AuditLog == "" {
		m.AuditLog, m.AuditLogPos = filepath.Join(filepath.Dir(m.OverridesFile), "audit.log"), m.OverridesPos
	}
}

// validateTLS checks the certificate files of xds_tls and http_tls, and
// resolves the kubeconfig of cluster_secrets.
func (m *Meridian) validateTLS(dir string, errs *errorList) {
	for name, t := range map[string]*TLSFiles{"xds_tls": m.XDSTLS, "http_tls": m.HTTPTLS} {
		if t == nil {
			continue
		}
		for _, f := range []*string{&t.Cert, &t.Key, &t.ClientCA} {
			if *f == "" {
				continue
			}
			*f = absIn(dir, *f)
			if _, err := os.Stat(*f); err != nil {
				errs.add(errorf(t.Pos, "%s: %v", name, err))
			}
		}
	}
	if cs := m.ClusterSecrets; cs != nil && cs.Kubeconfig != "" && !filepath.IsAbs(cs.Kubeconfig) {
		cs.Kubeconfig = filepath.Join(dir, cs.Kubeconfig)
	}
}

// fillDefaults gives an rrl block's unset directives their defaults; nil
// (no rrl) stays nil.
func (r *RRL) fillDefaults() {
	if r == nil {
		return
	}
	if r.Window == 0 {
		r.Window = 15 * time.Second
	}
	if r.Slip == 0 {
		r.Slip = 2
	}
	if r.IPv4Prefix == 0 {
		r.IPv4Prefix = 24
	}
	if r.IPv6Prefix == 0 {
		r.IPv6Prefix = 56
	}
}

// checkListenConflicts refuses two listeners on one TCP address: DNS takes
// UDP and TCP; HTTP and xDS take TCP. Port 0 picks a free port.
func (m *Meridian) checkListenConflicts(errs *errorList) {
	tcp := map[string]string{}
	for _, l := range []struct {
		name  string
		addrs []string
	}{{"dns", m.DNS}, {"http", m.HTTP}, {"xds", m.XDS}} {
		for _, a := range l.addrs {
			if _, port, _ := net.SplitHostPort(a); port == "0" {
				continue
			}
			if other, dup := tcp[a]; dup {
				errs.add(errorf(m.Pos, "%s and %s both listen on %s", other, l.name, a))
			}
			tcp[a] = l.name
		}
	}
}

func (cl *Cluster) validate(errs *errorList) {
	if err := checkName(cl.Name); err != nil {
		errs.add(errorf(cl.Pos, "cluster %q: %v", cl.Name, err))
	}
	sources := 0
	for _, has := range []bool{cl.Static != nil, cl.Kubeconfig != "", cl.InCluster} {
		if has {
			sources++
		}
	}
	switch {
	case sources == 0:
		errs.add(errorf(cl.Pos, "cluster %s: no source; add a static block, kubeconfig PATH or incluster", cl.Name))
		return
	case sources > 1:
		errs.add(errorf(cl.Pos, "cluster %s: give one source: a static block, kubeconfig PATH or incluster", cl.Name))
		return
	case cl.Context != "" && cl.Kubeconfig == "":
		errs.add(errorf(cl.Pos, "cluster %s: context needs kubeconfig", cl.Name))
	}
	if cl.Kubeconfig != "" {
		if !filepath.IsAbs(cl.Kubeconfig) {
			cl.Kubeconfig = filepath.Join(filepath.Dir(cl.Pos.File), cl.Kubeconfig)
		}
		if _, err := os.Stat(cl.Kubeconfig); err != nil {
			errs.add(errorf(cl.Pos, "cluster %s: kubeconfig: %v", cl.Name, err))
		}
	}
	if cl.Static == nil {
		return
	}
	for i := range cl.Static.Services {
		s := &cl.Static.Services[i]
		if len(s.Ingress) == 0 && len(cl.Static.Ingress) == 0 {
			errs.add(errorf(s.Pos, "cluster %s: service %s has no ingress address; add ingress to the static block or to the service",
				cl.Name, s.Name))
		}
	}
}

func (z *Zone) validate(clusters map[string]Pos, errs *errorList) {
	if err := checkName(z.Origin); err != nil {
		errs.add(errorf(z.Pos, "zone %q: %v", z.Origin, err))
		return
	}
	if !z.ttlSet {
		z.TTL = DefaultZoneTTL
	}
	nameServers := z.validateNS(errs)
	z.SOA.validate(z, errs)
	for i := range z.Files {
		f := &z.Files[i]
		if !filepath.IsAbs(f.Path) {
			f.Path = filepath.Join(filepath.Dir(f.Pos.File), f.Path)
		}
		if _, err := os.Stat(f.Path); err != nil {
			errs.add(errorf(f.Pos, "file: %v", err))
		}
	}
	z.validateServices(nameServers, clusters, errs)
	validateMapEntries(z.Map, z.entryPos, clusters, errs)
	z.checkTransfers(errs)
	z.validateDNSSEC(errs)
}

// validateNS checks the zone's name servers and returns where each is
// declared, by name.
func (z *Zone) validateNS(errs *errorList) map[string]Pos {
	if len(z.NS) == 0 {
		errs.add(errorf(z.Pos, "zone %s: no ns directive; a delegated zone needs at least one name server", z.Origin))
	}
	seen := map[string]Pos{}
	for _, ns := range z.NS {
		if err := checkName(ns.Name); err != nil {
			errs.add(errorf(ns.Pos, "ns %q: %v", ns.Name, err))
			continue
		}
		if first, dup := seen[ns.Name]; dup {
			errs.add(errorf(ns.Pos, "ns %s: already declared at line %d", ns.Name, first.Line))
		}
		seen[ns.Name] = ns.Pos
		inZone := InZone(ns.Name, z.Origin)
		switch {
		case inZone && len(ns.Glue) == 0:
			errs.add(errorf(ns.Pos, "ns %s: the name is inside zone %s, so it needs glue: ns %s ADDRESS...",
				ns.Name, z.Origin, ns.Name))
		case !inZone && len(ns.Glue) > 0:
			errs.add(errorf(ns.Pos, "ns %s: the name is outside zone %s; its addresses come from its own zone, remove the glue",
				ns.Name, z.Origin))
		}
	}
	return seen
}

// validateServices names the zone's services and checks each; nameServers
// are the zone's name servers, which no service may be.
func (z *Zone) validateServices(nameServers, clusters map[string]Pos, errs *errorList) {
	services := map[string]Pos{}
	for i := range z.Services {
		s := &z.Services[i]
		s.FQDN = s.Name + "." + z.Origin
		if err := checkName(s.FQDN); err != nil || s.Name == "" {
			errs.add(errorf(s.Pos, "service %q: not a valid name relative to zone %s", s.Name, z.Origin))
			continue
		}
		if first, dup := services[s.Name]; dup {
			errs.add(errorf(s.Pos, "service %s: already declared at line %d", s.Name, first.Line))
			continue
		}
		services[s.Name] = s.Pos
		if _, isNS := nameServers[s.FQDN]; isNS {
			errs.add(errorf(s.Pos, "service %s: %s is also a name server of the zone", s.Name, s.FQDN))
		}
		s.validate(clusters, errs)
		if s.mapPos.Line == 0 && s.Policy == model.Geo {
			s.Map = z.Map // the zone's map; services share it, and nobody writes it
		}
	}
}

// validateDNSSEC fills the dnssec block's defaults and refuses secondaries
// for a zone signed online.
func (z *Zone) validateDNSSEC(errs *errorList) {
	d := z.DNSSEC
	if d == nil {
		return
	}
	if d.Keys != "" && !filepath.IsAbs(d.Keys) {
		d.Keys = filepath.Join(filepath.Dir(d.Pos.File), d.Keys)
	}
	if d.Propagation == 0 {
		d.Propagation = DefaultPropagation
	}
	for _, t := range []struct {
		name string
		pos  Pos
	}{{"allow_transfer", z.allowTransferPos}, {"notify", z.notifyPos}} {
		if t.pos.Line != 0 {
			errs.add(errorf(t.pos, "%s: zone %s is signed online (dnssec at line %d): a secondary would get no signatures and serve it unsigned. "+
				"Run more Meridian replicas, sharing the keys, instead of secondaries", t.name, z.Origin, d.Pos.Line))
		}
	}
}

// checkTransfers refuses zone transfers and NOTIFY for a zone with global
// services unless the operator opts in: a secondary holds only the static
// part, so if it is ever listed in the NS set it answers NXDOMAIN for every
// service, and resolvers cache that for the SOA minimum.
func (z *Zone) checkTransfers(errs *errorList) {
	if len(z.Services) == 0 || z.AllowTransferWithoutServices {
		return
	}
	names := z.Services[0].Name
	if len(z.Services) > 1 {
		names += ", ..."
	}
	for _, d := range []struct {
		name string
		pos  Pos
	}{{"allow_transfer", z.allowTransferPos}, {"notify", z.notifyPos}} {
		if d.pos.Line == 0 {
			continue
		}
		errs.add(errorf(d.pos, "%s: zone %s has global services (%s), which a secondary cannot serve: it would hold only the static records "+
			"and answer NXDOMAIN for every service. Run more Meridian replicas instead of secondaries, or add "+
			"allow_transfer_without_services yes to the zone to transfer the static records anyway",
			d.name, z.Origin, names))
	}
}

func (soa *SOA) validate(z *Zone, errs *errorList) {
	if soa.Pos.File == "" {
		// No soa directive: the first name server is the primary.
		soa.Pos = z.Pos
		if len(z.NS) > 0 {
			soa.MName = z.NS[0].Name
		}
		soa.RName = "hostmaster." + z.Origin
	}
	for _, n := range []string{soa.MName, soa.RName} {
		if err := checkName(n); err != nil && n != "" {
			errs.add(errorf(soa.Pos, "soa %q: %v", n, err))
		}
	}
	def := func(v *uint32, d uint32) {
		if *v == 0 {
			*v = d
		}
	}
	def(&soa.Refresh, DefaultRefresh)
	def(&soa.Retry, DefaultRetry)
	def(&soa.Expire, DefaultExpire)
	def(&soa.Minimum, DefaultMinimum)
}

func (s *Service) validate(clusters map[string]Pos, errs *errorList) {
	if s.Policy == "" {
		s.Policy = model.Geo
	}
	if !s.ttlSet {
		s.TTL = DefaultServiceTTL
	}
	if !s.overprovisioningSet {
		s.Overprovisioning = model.DefaultOverprovisioning
	}
	if !s.panicSet {
		s.PanicThreshold = model.DefaultPanicThreshold
	}
	if s.Spill == "" {
		s.Spill = model.SpillCapacity
	}
	if s.Health != nil {
		s.Health.validate(s, errs)
	}
	s.XDSPort = cmp.Or(s.XDSPort, 80)
	s.EastWest = cmp.Or(s.EastWest, "pods")
	s.EastWestPort = cmp.Or(s.EastWestPort, s.XDSPort)
	if !s.maxAnswersSet {
		s.MaxAnswers = 1
		if s.Policy == model.All {
			s.MaxAnswers = 64
		}
	}
	switch {
	case s.Policy == model.Failover && len(s.Order) == 0:
		errs.add(errorf(s.Pos, "service %s: the failover policy needs order CLUSTER...", s.Name))
	case s.Policy != model.Failover && len(s.Order) > 0:
		errs.add(errorf(s.orderPos, "order: only the failover policy takes an order; service %s is %s", s.Name, s.Policy))
	}
	if s.Policy != model.Weighted && len(s.Weights) > 0 {
		errs.add(errorf(s.weightPos[0], "weight: only the weighted policy takes explicit weights; service %s is %s", s.Name, s.Policy))
	}
	listed := map[string]bool{}
	for _, c := range s.Order {
		if _, ok := clusters[c]; !ok {
			errs.add(errorf(s.orderPos, "order: no cluster %q is declared", c))
		}
		if listed[c] {
			errs.add(errorf(s.orderPos, "order: cluster %s is listed twice", c))
		}
		listed[c] = true
	}
	s.validateMap(clusters, errs)
	weighted := map[string]bool{}
	for i, w := range s.Weights {
		if _, ok := clusters[w.Cluster]; !ok {
			errs.add(errorf(s.weightPos[i], "weight: no cluster %q is declared", w.Cluster))
		}
		if weighted[w.Cluster] {
			errs.add(errorf(s.weightPos[i], "weight: cluster %s already has a weight", w.Cluster))
		}
		weighted[w.Cluster] = true
	}
}

// resolveStaticServices ties each static cluster's services to the global
// services the zones declare: a full name must be declared as is, a short
// name must match the relative name of exactly one zone's service.
func (c *Config) resolveStaticServices(errs *errorList) {
	byFQDN := map[string]bool{}
	byName := map[string][]string{}
	for _, z := range c.Zones {
		for _, s := range z.Services {
			byFQDN[s.FQDN] = true
			byName[s.Name] = append(byName[s.Name], s.FQDN)
		}
	}
	for i := range c.Clusters {
		if c.Clusters[i].Static == nil {
			continue
		}
		for j := range c.Clusters[i].Static.Services {
			s := &c.Clusters[i].Static.Services[j]
			switch fqdns := byName[s.Name]; {
			case byFQDN[s.Name]:
				s.FQDN = s.Name
			case len(fqdns) == 1:
				s.FQDN = fqdns[0]
			case len(fqdns) > 1:
				errs.add(errorf(s.Pos, "service %s is ambiguous: it could be %s; write the full name",
					s.Name, strings.Join(fqdns, " or ")))
			default:
				errs.add(errorf(s.Pos, "service %s is not declared in any zone; add service %s { ... } to a zone block",
					s.Name, s.Name))
			}
		}
	}
}

// InZone reports whether name equals origin or lies below it.
func InZone(name, origin string) bool {
	return name == origin || strings.HasSuffix(name, "."+origin)
}

// checkName accepts a domain name of letters, digits, hyphens and
// underscores in labels of 1 to 63 characters, at most 253 in all.
func checkName(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("a domain name has 1 to 253 characters")
	}
	for _, label := range strings.Split(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return fmt.Errorf("every label has 1 to 63 characters")
		}
		if strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("label %q starts or ends with a hyphen", label)
		}
		if i := strings.IndexFunc(label, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}); i >= 0 {
			return fmt.Errorf("label %q holds %q; use letters, digits, '-' and '_'", label, label[i])
		}
	}
	return nil
}

// Health check defaults: fast enough to notice a failure in seconds, the
// thresholds of HAProxy.
const (
	DefaultHealthInterval = 5 * time.Second
	DefaultHealthRise     = 2
	DefaultHealthFall     = 3
)

func notInRequestLine(r rune) bool { return r <= ' ' || r == 0x7f }

func (h *HealthCheck) validate(s *Service, errs *errorList) {
	if h.Kind == "" {
		errs.add(errorf(h.Pos, "health: give the probe's kind: kind %s", strings.Join(HealthKinds(), "|")))
		return
	}
	switch h.Kind {
	case "http":
		h.Port = cmp.Or(h.Port, 80)
	case "https":
		h.Port = cmp.Or(h.Port, 443)
	case "tcp", "grpc":
		if h.Port == 0 {
			errs.add(errorf(h.Pos, "health: a %s probe needs port PORT", h.Kind))
		}
	}
	h.Path = cmp.Or(h.Path, "/")
	h.Method = strings.ToUpper(cmp.Or(h.Method, "GET"))
	h.Host = cmp.Or(h.Host, s.FQDN)
	// They are written into the request as they are.
	if !strings.HasPrefix(h.Path, "/") || strings.ContainsFunc(h.Path, notInRequestLine) {
		errs.add(errorf(h.Pos, "health: path %q must start with / and hold no spaces or control characters", h.Path))
	}
	if strings.ContainsFunc(h.Method, func(r rune) bool { return r < 'A' || r > 'Z' }) {
		errs.add(errorf(h.Pos, "health: method %q must be letters only, such as GET or HEAD", h.Method))
	}
	if strings.ContainsFunc(h.Host, notInRequestLine) {
		errs.add(errorf(h.Pos, "health: host %q must hold no spaces or control characters", h.Host))
	}
	if len(h.Expect) == 0 {
		h.Expect = []StatusRange{{200, 399}}
	}
	h.Interval = cmp.Or(h.Interval, DefaultHealthInterval)
	h.Timeout = cmp.Or(h.Timeout, min(2*time.Second, h.Interval))
	if h.Timeout > h.Interval {
		errs.add(errorf(h.Pos, "health: timeout %v is longer than interval %v", h.Timeout, h.Interval))
	}
	h.Jitter = cmp.Or(h.Jitter, h.Interval/10)
	h.Rise = cmp.Or(h.Rise, DefaultHealthRise)
	h.Fall = cmp.Or(h.Fall, DefaultHealthFall)
	if (h.ClientCert == "") != (h.ClientKey == "") {
		errs.add(errorf(h.Pos, "health: client_cert needs both a certificate and a key"))
	}
	dir := filepath.Dir(h.Pos.File)
	for _, f := range []*string{&h.CA, &h.ClientCert, &h.ClientKey} {
		if *f == "" {
			continue
		}
		if !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
		if _, err := os.Stat(*f); err != nil {
			errs.add(errorf(h.Pos, "health: %v", err))
		}
	}
}

// maxSubnetsBytes bounds a subnets file: a million lines of the longest
// IPv4 entries. More is a mistake (a device, a log file), not a list.
const maxSubnetsBytes = 64 << 20

// readSubnets reads a subnets file, which must be a regular file of at
// most maxSubnetsBytes: a device such as /dev/zero would fill the memory,
// and a FIFO would block the start or the reload forever.
func readSubnets(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxSubnetsBytes {
		return nil, fmt.Errorf("%s is %d bytes; at most %d are read", path, fi.Size(), maxSubnetsBytes)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSubnetsBytes+1))
	if err == nil && len(data) > maxSubnetsBytes {
		err = fmt.Errorf("%s grew beyond %d bytes while it was read", path, maxSubnetsBytes)
	}
	return data, err
}
