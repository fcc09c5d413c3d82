package config

import (
	"cmp"
	"errors"
	"net/netip"
	"slices"

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
	Name        string
	Region      string
	Zone        string
	Location    model.Point
	HasLocation bool
	Static      *Static
}

// Static is a cluster described in the config file itself: VMs, the demo, tests.
type Static struct {
	Pos
	// Ingress holds the addresses shared by every service of the block that
	// does not declare its own.
	Ingress  []netip.Addr
	Services []StaticService
}

// StaticService is one global service in a static cluster.
type StaticService struct {
	Pos
	// Name is the service as written: a zone-relative name or a full name.
	Name string
	// FQDN is the global service Name refers to, filled in by validation.
	FQDN    string
	Ingress []netip.Addr // empty: the block's shared addresses
	Pods    int
	VMs     int
}

// Zone is a DNS zone Meridian is authoritative for.
type Zone struct {
	Pos
	// Origin is the zone's name in lower case without the final dot.
	Origin string
	// TTL applies to the zone's own records: SOA, NS and glue.
	TTL      uint32
	ttlSet   bool
	SOA      SOA
	NS       []NameServer
	Services []Service
}

// SOA is the zone's start of authority. The serial is not configured: the
// DNS server derives it from the zone's content.
type SOA struct {
	Pos
	MName   string
	RName   string
	Refresh uint32
	Retry   uint32
	Expire  uint32
	// Minimum is the TTL of negative answers (RFC 2308).
	Minimum uint32
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
}

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
			ps = append(ps, model.ServicePolicy{Service: s.FQDN, Kind: s.Policy})
		}
	}
	return model.NewPolicies(ps)
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
