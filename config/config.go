package config

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/meridian-gtm/meridian/model"
)

// Config is a whole configuration file, decoded and validated.
type Config struct {
	File     string
	Meridian Meridian
	Clusters []Cluster
	Zones    []Zone
}

// Meridian is the process-wide block: listeners and the GeoIP database.
type Meridian struct {
	Pos
	// DNS lists the addresses the DNS server listens on, UDP and TCP alike.
	DNS []string
	// XDS lists the addresses of the xDS (ADS) gRPC server; empty: not served.
	XDS []string
	// HTTP lists the addresses of the API, metrics and status server.
	HTTP  []string
	GeoIP GeoIP
	// StaleGrace is how long a cluster discovery lost keeps its last known
	// state before its targets count as unknown.
	StaleGrace    time.Duration
	staleGraceSet bool
	// ChaosVersion and ChaosID answer version.bind and id.server (class
	// CHAOS, type TXT); empty: REFUSED, as most operators prefer.
	ChaosVersion string
	ChaosID      string
	// NSID is the name server identifier (RFC 5001) sent to queries that
	// ask for it; empty: none. `nsid` alone sends the replica's name.
	NSID        []byte
	nsidPos     Pos
	nsidReplica bool
	// Cookies, when set, turns on DNS Cookies (RFC 7873, RFC 9018).
	Cookies *Cookies
	// RRL limits responses per client network; nil: no limit.
	RRL *RRL
	// Dnstap, when set, streams queries and responses to a dnstap reader.
	Dnstap *Dnstap
	// Resolver is the recursive resolver that turns load balancer
	// hostnames into addresses; empty: the first of /etc/resolv.conf.
	Resolver string
	// ClusterSecrets, when set, is where kubeconfig Secrets of more member
	// clusters live (label meridian.io/cluster).
	ClusterSecrets *ClusterSecrets
	// Replica names this Meridian in health logs, so that replicas that
	// disagree can be told apart; default the host name.
	Replica string
	// HealthWorkers bounds the probes in flight; default 512.
	HealthWorkers int
	// HealthSource holds the local addresses health probes are sent from,
	// for multi-homed hosts and firewalled targets; unset: the kernel
	// picks, as for any connection.
	HealthSource HealthSource
	// HealthQuorum is how the replicas' probe verdicts on a target make
	// the one they all serve.
	HealthQuorum HealthQuorum
	// UDPSockets is the number of UDP sockets per DNS address, each read
	// by a reader of its own; 0: the DNS server's default.
	UDPSockets int
	// TCPMaxConns bounds the open DNS TCP connections, and
	// TCPMaxConnsPerNetwork those of one client network: addresses sharing
	// their first TCPIPv4Prefix or TCPIPv6Prefix bits. 0: the DNS server's
	// defaults.
	TCPMaxConns           int
	TCPMaxConnsPerNetwork int
	TCPIPv4Prefix         int
	TCPIPv6Prefix         int
	// XDSGatewayPorts are the ports of the listeners sent to gateways;
	// default 80.
	XDSGatewayPorts []uint32
	// XDSGatewayNodes are patterns (path.Match) of node clusters or ids
	// whose nodes are gateways, besides nodes whose metadata says so.
	XDSGatewayNodes []string
	// XDSTLS and HTTPTLS, when set, serve xDS and HTTP over TLS.
	XDSTLS  *TLSFiles
	HTTPTLS *TLSFiles
	// APITokens is the file of the API's token hashes; empty: no /api/v1.
	APITokens string
	// OverridesFile is where the API's overrides are kept, or
	// OverridesKube, shared by replicas.
	OverridesFile string
	OverridesKube *KubeObject
	// AuditLog receives a JSON line per API write; default audit.log
	// beside OverridesFile.
	AuditLog string
	// Subnets is the subnet-list file (`subnets FILE`), relative paths from
	// the config file's directory; empty: none. Nets are its entries, read
	// when the config is loaded, so a SIGHUP re-reads it and a broken file
	// fails the reload with FILE:LINE.
	Subnets    string
	SubnetsPos Pos
	Nets       []model.Net
	// OverridesPos and AuditLogPos are where the overrides file and the
	// audit log were given (the audit log's is OverridesPos when it
	// defaults), for errors found when they are opened.
	OverridesPos, AuditLogPos Pos
	// HTTPLimits and XDSLimits bound what clients of the HTTP and xDS
	// servers may hold; a zero field takes the server's default.
	HTTPLimits HTTPLimits
	XDSLimits  XDSLimits
}

// HealthQuorum is the health_quorum directive: a target is down when
// Rule says enough of the live replicas' probes see it down.
type HealthQuorum struct {
	Pos
	// Rule is "majority" (the default, also when empty), "any", "all" or
	// "percent".
	Rule string
	// Percent is the share of the voting replicas that must see a target
	// down under "percent", 1 to 100.
	Percent int
}

// HealthSource is the health_source directive: at most one local address
// per family. A probe of an IPv4 target is sent from IPv4, of an IPv6
// target from IPv6; a target of a family without a source address is
// probed from whatever address the kernel picks.
type HealthSource struct {
	Pos
	IPv4, IPv6 netip.Addr // invalid (zero) when not given
}

// Addrs returns the source addresses given, IPv4 first.
func (h HealthSource) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, a := range []netip.Addr{h.IPv4, h.IPv6} {
		if a.IsValid() {
			out = append(out, a)
		}
	}
	return out
}

// HTTPLimits is the http_limits block: timeouts and caps of the HTTP
// server (API, metrics, status page).
type HTTPLimits struct {
	Pos
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
	MaxConnections int
}

// XDSLimits is the xds_limits block: caps and keepalive of the xDS server.
type XDSLimits struct {
	Pos
	MaxConnections   int
	MaxStreams       int
	KeepaliveMinTime time.Duration
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	IdleTimeout      time.Duration
	MaxGroups        int
	GroupGrace       time.Duration
}

// KubeObject names an object in a Kubernetes cluster, reached through a
// kubeconfig (in-cluster when empty).
type KubeObject struct {
	Pos
	Namespace, Name     string
	Kubeconfig, Context string
}

// TLSFiles are a server's certificate and, for mTLS, the CAs of the
// clients it accepts.
type TLSFiles struct {
	Pos
	Cert, Key string
	ClientCA  string // empty: no client certificate asked for
}

// ClusterSecrets locates the Secrets that add member clusters.
type ClusterSecrets struct {
	Pos
	Namespace string
	// Kubeconfig and Context reach the cluster holding the Secrets;
	// without a kubeconfig, the cluster Meridian runs in.
	Kubeconfig string
	Context    string
}

// MaxNSIDLen bounds the NSID; the DNS server's limit (dns.MaxNSIDLen),
// which keeps truncated answers within 512 bytes.
const MaxNSIDLen = 128

// Cookies turns on DNS Cookies. SecretFile holds the secret replicas share
// (and the previous one while it rolls over); empty: a random secret of
// the process, which other replicas do not know.
type Cookies struct {
	Pos
	SecretFile string
}

// RRL is response-rate limiting against amplification: each client network
// may receive ResponsesPerSecond identical-class responses, averaged over
// Window; beyond it responses are dropped, except every Slip-th, which is
// sent truncated so that real clients retry over TCP.
type RRL struct {
	Pos
	ResponsesPerSecond uint32
	Window             time.Duration
	Slip               uint32
	IPv4Prefix         uint32
	IPv6Prefix         uint32
}

// Dnstap streams the DNS server's queries and responses, as BIND, Unbound,
// Knot and CoreDNS do, to a reader listening on a Unix socket or at a TCP
// address (Frame Streams).
type Dnstap struct {
	Pos
	Network string // "unix" or "tcp"
	Addr    string
	// Sample logs one query (and its response) in every Sample; 1: all.
	Sample uint32
	// Queries and Responses say which messages are sent; both when
	// neither is named.
	Queries, Responses bool
}

// GeoIP says which database locates clients.
type GeoIP struct {
	Pos
	// Path is the database file; empty means the database built into the binary.
	Path string
}

// Cluster is one member cluster and the source that describes it.
type Cluster struct {
	Pos
	Name     string
	Region   string
	Zone     string
	Location model.Location
	// Bias grows (positive) or shrinks (negative) the cluster's catchment
	// of geo clients, in percent of distance: -99..99 (see model.Site.Bias).
	Bias   int
	Static *Static
	// Kubeconfig (with Context) or InCluster make the cluster a Kubernetes
	// cluster, watched by discovery.
	Kubeconfig string
	Context    string
	InCluster  bool
	// Drain, when set, takes the cluster out of service for every service,
	// as an override by "config" with this reason.
	Drain *Drain
	// EastWestGateway is the cluster's east-west gateway, where sidecars
	// in other clusters send traffic for services in gateway mode.
	EastWestGateway netip.AddrPort
}

// Drain is a drain declared in the config file.
type Drain struct {
	Pos
	Reason string
}

// Static is a cluster described in the config file itself: VMs, the demo, tests.
type Static struct {
	Pos
	// Ingress holds the addresses shared by every service of the block that
	// does not declare its own; IngressZones the zones of those written
	// with `zone ZONE`.
	Ingress      []netip.Addr
	IngressZones []model.AddrZone
	Services     []StaticService
}

// StaticService is one global service in a static cluster.
type StaticService struct {
	Pos
	// Name is the service as written: a zone-relative name or a full name.
	Name string
	// FQDN is the global service Name refers to, filled in by validation.
	FQDN         string
	Ingress      []netip.Addr // empty: the block's shared addresses
	IngressZones []model.AddrZone
	Pods         int
	VMs          int
	// ZonePods counts the pods and VMs given with `zone ZONE`, per zone.
	ZonePods []model.ZonePods
}

// Zone is a DNS zone Meridian is authoritative for.
type Zone struct {
	Pos
	// Origin is the zone's name in lower case without the final dot.
	Origin string
	// TTL applies to the zone's own records: SOA, NS and glue, and is the
	// default TTL of static records.
	TTL      uint32
	ttlSet   bool
	SOA      SOA
	NS       []NameServer
	Services []Service
	// Records and Files hold the zone's static records, in zone-file
	// syntax; the DNS server parses them and reports errors by position.
	Records []Record
	Files   []ZoneFile
	// AllowTransfer lists the networks that may transfer the static part of
	// the zone (AXFR, IXFR); Notify lists the secondaries told of changes.
	AllowTransfer []netip.Prefix
	Notify        []netip.AddrPort
	// AllowTransferWithoutServices lets a zone with global services be
	// transferred and notified all the same: a secondary holds only the
	// static part and answers NXDOMAIN for every service, so without it
	// allow_transfer and notify are errors in such a zone.
	AllowTransferWithoutServices bool
	allowTransferPos, notifyPos  Pos
	// Map is the map of every geo service of the zone that has none of
	// its own; mapPos and entryPos are where it and its entries stand.
	Map      []model.MapEntry
	mapPos   Pos
	entryPos []Pos
	// DNSSEC, when set, signs every answer of the zone online.
	DNSSEC *DNSSEC
}

// DNSSEC is a zone's dnssec block.
type DNSSEC struct {
	Pos
	// Keys is the directory of the zone's keys, in BIND's format
	// (K<zone>.+<alg>+<tag>.key and .private): one combined signing key,
	// or a KSK and a ZSK. When it holds none, a combined signing key of
	// Algorithm is generated there on first start. Empty: the keys are in
	// the store the replicas share (overrides kubernetes), likewise.
	Keys string
	// Algorithm is the DNSSEC algorithm number of generated keys:
	// AlgorithmECDSAP256 (the default) or AlgorithmEd25519.
	Algorithm uint8
	// ZSKLifetime, when set, rolls the zone-signing key by pre-publication
	// (RFC 7583 section 3.2) each time the active one is that old.
	ZSKLifetime time.Duration
	// Propagation is how long a change takes to reach every replica and
	// every cache past its TTL (RFC 7583's Dprp), which the rollover waits
	// on top of TTLs; DefaultPropagation when not set.
	Propagation time.Duration
}

// DefaultPropagation is RFC 7583's Dprp when the dnssec block sets none.
const DefaultPropagation = time.Hour

// DNSSEC algorithms (RFC 8624 recommends both for signing).
const (
	AlgorithmECDSAP256 = 13 // ECDSA P-256 with SHA-256
	AlgorithmEd25519   = 15
)

// Record is one static record written inline: `record NAME [TTL] TYPE RDATA`.
type Record struct {
	Pos
	Text string
}

// ZoneFile is an RFC 1035 zone file of static records for the zone.
type ZoneFile struct {
	Pos
	Path string // relative paths are resolved against the config file's folder
}

// SOA is the zone's start of authority. The serial is usually not
// configured: the DNS server derives it from the zone's content and its
// history in the store the replicas share. With HasSerial, Serial is the
// operator's and is served as it is.
type SOA struct {
	Pos
	MName   string
	RName   string
	Refresh uint32
	Retry   uint32
	Expire  uint32
	// Minimum is the TTL of negative answers (RFC 2308).
	Minimum   uint32
	Serial    uint32
	HasSerial bool
}

// NameServer is an NS record of the zone apex, with glue when the name lies
// inside the zone.
type NameServer struct {
	Pos
	Name string
	Glue []netip.Addr
}

// Service is a global service: a name in the zone whose answers the engine decides.
type Service struct {
	Pos
	// Name is relative to the zone, FQDN is the full name (lower case, no final dot).
	Name   string
	FQDN   string
	Policy model.PolicyKind
	TTL    uint32
	ttlSet bool
	// Order lists the clusters of the failover policy, most preferred first.
	Order    []string
	orderPos Pos
	// Weights are explicit cluster weights for the weighted policy.
	Weights   []model.ClusterWeight
	weightPos []Pos
	// Overprovisioning and PanicThreshold tune the spill between
	// priorities as in Envoy; FailClosed answers nothing rather than every
	// target when none is healthy.
	Overprovisioning    uint32
	overprovisioningSet bool
	PanicThreshold      uint32
	panicSet            bool
	FailClosed          bool
	// Spill says what a priority's health counts: capacity (ready pods
	// behind healthy addresses, the default) or hosts (ingress addresses,
	// as Envoy does by default).
	Spill model.SpillMode
	// MaxAnswers is how many addresses one answer holds, drawn per query in
	// proportion to the Plan's shares: by default 1, all for the all policy.
	MaxAnswers    uint32
	maxAnswersSet bool
	// IgnoreECS locates clients by the resolver's address even when the
	// query carries EDNS Client Subnet.
	IgnoreECS bool
	// Map places clients by subnet, country or continent before distance
	// (geo policy only); mapPos is where the block opens, entryPos where
	// each entry stands.
	Map      []model.MapEntry
	mapPos   Pos
	entryPos []Pos
	// Matches tie the service to Kubernetes objects by name, in every
	// member cluster, besides the annotation meridian.io/global-name.
	Matches []Match
	// XDSPort is the port of the ingress addresses that gateways and gRPC
	// clients connect to; default 80.
	XDSPort uint32
	// EastWest is how sidecars reach the service in other clusters:
	// "pods" (pod IPs on EastWestPort, flat networks) or "gateway" (each
	// cluster's east-west gateway); default "pods".
	EastWest     string
	EastWestPort uint32
	eastWestPos  Pos
	// Health is how every ingress address of the service is probed; nil:
	// not probed, readiness alone decides.
	Health *HealthCheck
}

// Probed reports whether a health check probes the service's targets:
// a health block of a kind other than none. The engine's policy
// (model.ServicePolicy.Unprobed) and the checks handed to the health
// checker both follow it, so that they agree.
func (s *Service) Probed() bool {
	return s.Health != nil && s.Health.Kind != "" && s.Health.Kind != "none"
}

// HealthCheck is the active probe of a service's ingress addresses.
type HealthCheck struct {
	Pos
	Kind               string // one of HealthKinds()
	Port               uint16 // default 80 for http, 443 for https; required for tcp and grpc
	Path, Method       string // http(s): default / and GET
	Host               string // Host header and TLS server name; default the service's name
	Expect             []StatusRange
	Body               string // the response must contain it
	Interval, Timeout  time.Duration
	Jitter             time.Duration
	Rise, Fall         int
	InsecureSkipVerify bool
	CA                 string // PEM file of CAs to trust instead of the system's
	ClientCert         string
	ClientKey          string
	GRPCService        string // grpc: the service name to ask about; default "" (the server)
}

// StatusRange is a range of accepted HTTP status codes.
type StatusRange struct{ Low, High int }

// HealthKinds returns the kinds of probes.
func HealthKinds() []string { return []string{"grpc", "http", "https", "none", "tcp"} }

// Match names a Kubernetes object that serves a global service.
type Match struct {
	Pos
	Kind            string // one of MatchKinds()
	Namespace, Name string
}

// MatchKinds returns the kinds of objects a match may name.
func MatchKinds() []string { return []string{"gateway", "ingress", "istio-gateway", "service"} }

// Load reads, decodes and validates the configuration file at path. All
// mistakes found are returned together, each as an *Error naming file and line.
func Load(path string) (*Config, error) {
	nodes, err := parseFile(path)
	if err != nil {
		return nil, err
	}
	return build(path, nodes)
}

// Parse decodes and validates configuration text as if read from file.
func Parse(file string, data []byte) (*Config, error) {
	nodes, err := parse(file, data)
	if err != nil {
		return nil, err
	}
	return build(file, nodes)
}

func build(file string, nodes []*node) (*Config, error) {
	c := &Config{File: file}
	var errs errorList
	c.decode(nodes, &errs)
	c.validate(&errs)
	if err := errs.join(); err != nil {
		return nil, err
	}
	return c, nil
}

// Policies returns the routing policy of every global service.
func (c *Config) Policies() model.Policies {
	var ps []model.ServicePolicy
	for _, z := range c.Zones {
		for _, s := range z.Services {
			ps = append(ps, model.ServicePolicy{
				Service: s.FQDN, Kind: s.Policy, Order: s.Order, Weights: s.Weights,
				Overprovisioning: s.Overprovisioning, PanicThreshold: s.PanicThreshold, FailClosed: s.FailClosed,
				Spill: s.Spill, Map: s.Map, Unprobed: !s.Probed(),
			})
		}
	}
	p := model.NewPolicies(c.Meridian.StaleGrace, ps)
	for _, cl := range c.Clusters {
		if cl.Bias != 0 {
			if p.Bias == nil {
				p.Bias = map[string]int{}
			}
			p.Bias[cl.Name] = cl.Bias
		}
	}
	p.Nets = c.Meridian.Nets
	return p
}

// Overrides returns the overrides the config file declares: drains of
// clusters, authored by "config". They never expire.
func (c *Config) Overrides() []model.Override {
	var out []model.Override
	for _, cl := range c.Clusters {
		if cl.Drain != nil {
			out = append(out, model.Override{ID: "config.drain." + cl.Name, Kind: model.Drain, Cluster: cl.Name, Author: "config", Reason: cl.Drain.Reason})
		}
	}
	return out
}

// errorList collects every mistake so that one run reports them all.
type errorList []error

func (l *errorList) add(err error) {
	if err != nil {
		*l = append(*l, err)
	}
}

// join returns the errors in file order, nil if there are none.
func (l errorList) join() error {
	slices.SortStableFunc(l, func(a, b error) int {
		var ea, eb *Error
		if !errors.As(a, &ea) || !errors.As(b, &eb) {
			return 0
		}
		return cmp.Or(cmp.Compare(ea.Pos.File, eb.Pos.File), cmp.Compare(ea.Pos.Line, eb.Pos.Line))
	})
	return errors.Join(l...)
}
