package config

import (
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"net"
	"net/netip"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/internal/duration"
	"github.com/meridian-gtm/meridian/model"
)

// directive decodes one directive of a block.
type directive func(n *node, errs *errorList)

// body decodes the directives of a block with the decoders of its kind.
// Unknown directives are reported with the list of valid ones, and a
// directive marked single may appear only once.
func body(block string, n *node, decoders map[string]directive, single []string, errs *errorList) {
	seen := map[string]Pos{}
	for _, d := range n.Body {
		dec, ok := decoders[d.Name()]
		if !ok {
			errs.add(errorf(d.Pos, "unknown directive %q in %s; valid: %s",
				d.Name(), block, strings.Join(slices.Sorted(maps.Keys(decoders)), ", ")))
			continue
		}
		if slices.Contains(single, d.Name()) {
			if first, dup := seen[d.Name()]; dup {
				errs.add(errorf(d.Pos, "%s: already set in this %s at line %d", d.Name(), block, first.Line))
				continue
			}
			seen[d.Name()] = d.Pos
		}
		dec(d, errs)
	}
}

// args checks that n has between min and max arguments (max < 0: no limit)
// and no body; usage names the expected arguments for the message.
func args(n *node, min, max int, usage string) error {
	if n.HasBody {
		return errorf(n.Pos, "%s: does not take a block; expected %s %s", n.Name(), n.Name(), usage)
	}
	if got := len(n.Args); got < min || (max >= 0 && got > max) {
		return errorf(n.Pos, "%s: expected %s %s, got %d argument%s", n.Name(), n.Name(), usage, got, plural(got))
	}
	return nil
}

// block checks that n has exactly the given number of arguments and a body.
func block(n *node, nargs int, usage string) error {
	if len(n.Args) != nargs || !n.HasBody {
		return errorf(n.Pos, "%s: expected %s %s { ... }", n.Name(), n.Name(), usage)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (c *Config) decode(nodes []*node, errs *errorList) {
	seenMeridian := Pos{}
	for _, n := range nodes {
		switch n.Name() {
		case "meridian":
			if seenMeridian.Line != 0 {
				errs.add(errorf(n.Pos, "meridian: already declared at %s", seenMeridian))
				continue
			}
			seenMeridian = n.Pos
			if err := block(n, 0, ""); err != nil {
				errs.add(err)
				continue
			}
			c.Meridian.Pos = n.Pos
			c.Meridian.decode(n, errs)
		case "cluster":
			if err := block(n, 1, "NAME"); err != nil {
				errs.add(err)
				continue
			}
			cl := Cluster{Pos: n.Pos, Name: strings.ToLower(n.Args[0].Text)}
			cl.decode(n, errs)
			c.Clusters = append(c.Clusters, cl)
		case "zone":
			if err := block(n, 1, "ORIGIN"); err != nil {
				errs.add(err)
				continue
			}
			z := Zone{Pos: n.Pos, Origin: canonicalName(n.Args[0].Text)}
			z.decode(n, errs)
			c.Zones = append(c.Zones, z)
		default:
			errs.add(errorf(n.Pos, "unknown block %q; valid: cluster, meridian, zone", n.Name()))
		}
	}
}

func (m *Meridian) decode(n *node, errs *errorList) {
	listen := func(dst *[]string) directive {
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
	body("meridian block", n, map[string]directive{
		"dns":  listen(&m.DNS),
		"xds":  listen(&m.XDS),
		"http": listen(&m.HTTP),
		"chaos": func(d *node, errs *errorList) {
			if err := args(d, 2, 2, "version|id TEXT"); err != nil {
				errs.add(err)
				return
			}
			if len(d.Args[1].Text) > 255 {
				// One TXT string holds 255 bytes at most.
				errs.add(errorf(d.Args[1].Pos, "chaos %s: the text has %d bytes; at most 255", d.Args[0].Text, len(d.Args[1].Text)))
				return
			}
			switch d.Args[0].Text {
			case "version":
				m.ChaosVersion = d.Args[1].Text
			case "id":
				m.ChaosID = d.Args[1].Text
			default:
				errs.add(errorf(d.Args[0].Pos, "chaos: expected version or id, got %q", d.Args[0].Text))
			}
		},
		"rrl": func(d *node, errs *errorList) {
			m.RRL = &RRL{Pos: d.Pos}
			m.RRL.decode(d, errs)
		},
		"dnstap": func(d *node, errs *errorList) {
			m.Dnstap = &Dnstap{Pos: d.Pos, Sample: 1}
			m.Dnstap.decode(d, errs)
		},
		"nsid": func(d *node, errs *errorList) {
			if err := args(d, 0, 1, "[TEXT|0xHEX]"); err != nil {
				errs.add(err)
				return
			}
			m.nsidPos = d.Pos
			if len(d.Args) == 0 {
				m.nsidReplica = true // the replica's name, once validate knows it
				return
			}
			a := d.Args[0]
			nsid := []byte(a.Text)
			if h, ok := strings.CutPrefix(a.Text, "0x"); ok { // as Knot reads it
				var err error
				if nsid, err = hex.DecodeString(h); err != nil {
					errs.add(errorf(a.Pos, "nsid: %q is not hex digits after 0x", a.Text))
					return
				}
			}
			if len(nsid) == 0 || len(nsid) > MaxNSIDLen {
				errs.add(errorf(a.Pos, "nsid: the identifier has %d bytes; give 1 to %d", len(nsid), MaxNSIDLen))
				return
			}
			m.NSID = nsid
		},
		"cookies": func(d *node, errs *errorList) {
			if err := args(d, 0, 1, "[SECRET_FILE]"); err != nil {
				errs.add(err)
				return
			}
			m.Cookies = &Cookies{Pos: d.Pos}
			if len(d.Args) == 1 {
				m.Cookies.SecretFile = d.Args[0].Text
			}
		},
		"xds_gateway_ports": func(d *node, errs *errorList) {
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
		},
		"xds_gateway_nodes": func(d *node, errs *errorList) {
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
		},
		"xds_tls":  tlsFiles(&m.XDSTLS),
		"http_tls": tlsFiles(&m.HTTPTLS),
		"api_tokens": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "FILE"); err != nil {
				errs.add(err)
				return
			}
			m.APITokens = d.Args[0].Text
		},
		"subnets": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "FILE"); err != nil {
				errs.add(err)
				return
			}
			m.Subnets, m.SubnetsPos = d.Args[0].Text, d.Pos
		},
		"audit_log": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "FILE"); err != nil {
				errs.add(err)
				return
			}
			m.AuditLog, m.AuditLogPos = d.Args[0].Text, d.Pos
		},
		"overrides": func(d *node, errs *errorList) {
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
		},
		"replica": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "NAME"); err != nil {
				errs.add(err)
				return
			}
			m.Replica = d.Args[0].Text
		},
		"health_workers": intIn(&m.HealthWorkers, 1, 100000),
		"health_source": func(d *node, errs *errorList) {
			if err := args(d, 1, 2, "ADDRESS [ADDRESS]"); err != nil {
				errs.add(err)
				return
			}
			src := HealthSource{Pos: d.Pos}
			for _, a := range d.Args {
				ip, err := netip.ParseAddr(a.Text)
				if err != nil || ip.Zone() != "" {
					errs.add(errorf(a.Pos, "health_source: %q is not an IP address", a.Text))
					continue
				}
				ip = ip.Unmap()
				if ip.IsUnspecified() || ip.IsMulticast() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
					errs.add(errorf(a.Pos, "health_source: %s is not the address of one interface; give an address of this host", ip))
					continue
				}
				dst, family := &src.IPv4, "IPv4"
				if ip.Is6() {
					dst, family = &src.IPv6, "IPv6"
				}
				if dst.IsValid() {
					errs.add(errorf(a.Pos, "health_source: two %s addresses; give at most one IPv4 and one IPv6 address", family))
					continue
				}
				*dst = ip
			}
			m.HealthSource = src
		},
		"health_quorum": func(d *node, errs *errorList) {
			const usage = "majority, any, all or a percentage such as 82%"
			if err := args(d, 1, 1, "RULE"); err != nil {
				errs.add(err)
				return
			}
			q := HealthQuorum{Pos: d.Pos, Rule: d.Args[0].Text}
			switch q.Rule {
			case "majority", "any", "all":
			default:
				n, err := strconv.Atoi(strings.TrimSuffix(q.Rule, "%"))
				if !strings.HasSuffix(q.Rule, "%") || err != nil || n < 1 || n > 100 {
					errs.add(errorf(d.Args[0].Pos, "health_quorum: expected %s (of the live replicas that see a target down, 1%% to 100%%), got %q", usage, q.Rule))
					return
				}
				q.Rule, q.Percent = "percent", n
			}
			m.HealthQuorum = q
		},
		"udp_sockets":   intIn(&m.UDPSockets, 1, 1024),
		"tcp_max_conns": intIn(&m.TCPMaxConns, 1, 1_000_000),
		"tcp_max_conns_per_network": func(d *node, errs *errorList) {
			const usage = "N [IPV4_PREFIX IPV6_PREFIX]"
			if err := args(d, 1, 3, usage); err != nil {
				errs.add(err)
				return
			}
			if len(d.Args) == 2 {
				errs.add(errorf(d.Pos, "%s: expected %s %s: both prefix lengths or neither", d.Name(), d.Name(), usage))
				return
			}
			for i, dst := range []*int{&m.TCPMaxConnsPerNetwork, &m.TCPIPv4Prefix, &m.TCPIPv6Prefix} {
				if i >= len(d.Args) {
					break
				}
				lo, hi, what := []int{1, 8, 16}[i], []int{1_000_000, 32, 128}[i], []string{"connections", "IPv4 prefix length", "IPv6 prefix length"}[i]
				v, err := strconv.Atoi(d.Args[i].Text)
				if err != nil || v < lo || v > hi {
					errs.add(errorf(d.Args[i].Pos, "%s: expected %s from %d to %d, got %q", d.Name(), what, lo, hi, d.Args[i].Text))
					return
				}
				*dst = v
			}
		},
		"http_limits": func(d *node, errs *errorList) {
			m.HTTPLimits = HTTPLimits{Pos: d.Pos}
			m.HTTPLimits.decode(d, errs)
		},
		"xds_limits": func(d *node, errs *errorList) {
			m.XDSLimits = XDSLimits{Pos: d.Pos}
			m.XDSLimits.decode(d, errs)
		},
		"resolver": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "ADDRESS[:PORT]"); err != nil {
				errs.add(err)
				return
			}
			ap, err := parseAddrPort(d.Args[0].Text, 53)
			if err != nil {
				errs.add(errorf(d.Args[0].Pos, "resolver: %q is not ADDRESS or ADDRESS:PORT", d.Args[0].Text))
				return
			}
			m.Resolver = ap.String()
		},
		"cluster_secrets": func(d *node, errs *errorList) {
			if len(d.Args) != 1 {
				errs.add(errorf(d.Pos, "cluster_secrets: expected cluster_secrets NAMESPACE [{ kubeconfig PATH; context NAME }]"))
				return
			}
			cs := &ClusterSecrets{Pos: d.Pos, Namespace: d.Args[0].Text}
			word := func(dst *string, usage string) directive {
				return func(d *node, errs *errorList) {
					if err := args(d, 1, 1, usage); err != nil {
						errs.add(err)
						return
					}
					*dst = d.Args[0].Text
				}
			}
			body("cluster_secrets block", d, map[string]directive{
				"kubeconfig": word(&cs.Kubeconfig, "PATH"),
				"context":    word(&cs.Context, "NAME"),
			}, []string{"kubeconfig", "context"}, errs)
			m.ClusterSecrets = cs
		},
		"stale_grace": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "DURATION"); err != nil {
				errs.add(err)
				return
			}
			m.StaleGrace = time.Duration(parseTTL(d.Name(), d.Args[0], errs)) * time.Second
			m.staleGraceSet = true
		},
		"geoip": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "builtin|FILE"); err != nil {
				errs.add(err)
				return
			}
			m.GeoIP = GeoIP{Pos: d.Pos}
			if p := d.Args[0].Text; p != "builtin" {
				m.GeoIP.Path = p
			}
		},
	}, []string{"dns", "xds", "http", "geoip", "stale_grace", "rrl", "dnstap", "nsid", "cookies", "resolver", "cluster_secrets", "replica", "health_workers", "health_source", "health_quorum", "udp_sockets", "tcp_max_conns", "tcp_max_conns_per_network", "xds_gateway_ports", "xds_tls", "api_tokens", "audit_log", "overrides", "subnets", "http_tls", "http_limits", "xds_limits"}, errs)
}

// intIn decodes a directive of one whole number from lo to hi into *dst.
func intIn(dst *int, lo, hi int) directive {
	return func(d *node, errs *errorList) {
		if err := args(d, 1, 1, "N"); err != nil {
			errs.add(err)
			return
		}
		v, err := strconv.Atoi(d.Args[0].Text)
		if err != nil || v < lo || v > hi {
			errs.add(errorf(d.Args[0].Pos, "%s: expected a number from %d to %d, got %q", d.Name(), lo, hi, d.Args[0].Text))
			return
		}
		*dst = v
	}
}

// durationIn decodes a directive of one duration of at least a second
// into *dst.
func durationIn(dst *time.Duration) directive {
	return func(d *node, errs *errorList) {
		if err := args(d, 1, 1, "DURATION"); err != nil {
			errs.add(err)
			return
		}
		before := len(*errs)
		secs := parseTTL(d.Name(), d.Args[0], errs)
		if len(*errs) > before {
			return
		}
		if secs == 0 {
			errs.add(errorf(d.Args[0].Pos, "%s: expected a duration of at least 1s, got %q", d.Name(), d.Args[0].Text))
			return
		}
		*dst = time.Duration(secs) * time.Second
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

func (cl *Cluster) decode(n *node, errs *errorList) {
	word := func(dst *string, usage string) directive {
		return func(d *node, errs *errorList) {
			if err := args(d, 1, 1, usage); err != nil {
				errs.add(err)
				return
			}
			*dst = d.Args[0].Text
		}
	}
	body("cluster block", n, map[string]directive{
		"region": word(&cl.Region, "REGION"),
		"zone":   word(&cl.Zone, "ZONE"),
		"location": func(d *node, errs *errorList) {
			if err := args(d, 2, 2, "LATITUDE LONGITUDE"); err != nil {
				errs.add(err)
				return
			}
			lat, err1 := strconv.ParseFloat(d.Args[0].Text, 64)
			lon, err2 := strconv.ParseFloat(d.Args[1].Text, 64)
			p := model.Point{Lat: lat, Lon: lon}
			if err1 != nil || err2 != nil || !p.Valid() {
				errs.add(errorf(d.Pos, "location: expected LATITUDE (-90 to 90) LONGITUDE (-180 to 180) in degrees, got %q %q",
					d.Args[0].Text, d.Args[1].Text))
				return
			}
			cl.Location = model.LocationAt(p)
		},
		"static": func(d *node, errs *errorList) {
			if err := block(d, 0, ""); err != nil {
				errs.add(err)
				return
			}
			cl.Static = &Static{Pos: d.Pos}
			cl.Static.decode(d, errs)
		},
		"drain": func(d *node, errs *errorList) {
			if err := args(d, 0, -1, "[REASON...]"); err != nil {
				errs.add(err)
				return
			}
			cl.Drain = &Drain{Pos: d.Pos, Reason: strings.Join(d.argStrings(), " ")}
		},
		"eastwest_gateway": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "ADDRESS:PORT"); err != nil {
				errs.add(err)
				return
			}
			ap, err := netip.ParseAddrPort(d.Args[0].Text)
			if err != nil || ap.Port() == 0 {
				errs.add(errorf(d.Args[0].Pos, "eastwest_gateway: expected an IP address and port such as 10.0.0.1:15443, got %q", d.Args[0].Text))
				return
			}
			cl.EastWestGateway = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		},
		"bias": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "PERCENT"); err != nil {
				errs.add(err)
				return
			}
			b, err := strconv.Atoi(d.Args[0].Text)
			if err != nil || b < -99 || b > 99 {
				errs.add(errorf(d.Args[0].Pos, "bias: expected a percentage from -99 to 99, got %q", d.Args[0].Text))
				return
			}
			cl.Bias = b
		},
		"kubeconfig": word(&cl.Kubeconfig, "PATH"),
		"context":    word(&cl.Context, "NAME"),
		"incluster": func(d *node, errs *errorList) {
			if err := args(d, 0, 0, ""); err != nil {
				errs.add(err)
				return
			}
			cl.InCluster = true
		},
	}, []string{"region", "zone", "location", "bias", "static", "drain", "kubeconfig", "context", "incluster"}, errs)
}

// mapUsage is the syntax of a map entry, for errors.
const mapUsage = "[fence] subnet CIDR...|country CC...|subdivision CC-SUB...|continent CODE...|default -> CLUSTER..."

// continents are the continent codes GeoIP databases use.
var continents = []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}

// decodeMap reads a map block, of a service or a zone, and where it and
// each entry stand; declared is where an earlier map block stood.
func decodeMap(d *node, declared Pos, errs *errorList) (entries []model.MapEntry, at Pos, entryPos []Pos) {
	if err := block(d, 0, ""); err != nil {
		errs.add(err)
		return nil, declared, nil
	}
	if declared.Line != 0 {
		errs.add(errorf(d.Pos, "map: already declared at %s", declared))
		return nil, declared, nil
	}
	for _, e := range d.Body {
		if m, ok := decodeMapEntry(e, errs); ok {
			entries = append(entries, m)
			entryPos = append(entryPos, e.Pos)
		}
	}
	return entries, d.Pos, entryPos
}

// decodeMapEntry reads one line of a map block: `[fence] subnet CIDR...
// -> CLUSTER...`, `country CC...`, `subdivision CC-SUB...`, `continent
// CODE...` or `default`.
// Whether its clusters exist is checked with the service.
func decodeMapEntry(n *node, errs *errorList) (model.MapEntry, bool) {
	words := append([]token{n.token}, n.Args...)
	var m model.MapEntry
	if words[0].Text == "fence" {
		m.Fence, words = true, words[1:]
	}
	arrow := slices.IndexFunc(words, func(t token) bool { return t.Text == "->" })
	if n.HasBody || len(words) == 0 || arrow < 1 || arrow == len(words)-1 {
		errs.add(errorf(n.Pos, "map: expected %s", mapUsage))
		return m, false
	}
	kind, values := strings.ToLower(words[0].Text), words[1:arrow]
	m.Source = fmt.Sprintf("%s:%d", filepath.Base(n.Pos.File), n.Pos.Line)
	for _, c := range words[arrow+1:] {
		m.Clusters = append(m.Clusters, strings.ToLower(c.Text))
	}
	ok := true
	bad := func(t token, format string, args ...any) {
		errs.add(errorf(t.Pos, "map: "+format, args...))
		ok = false
	}
	switch kind {
	case "subnet":
		m.Match = model.MatchSubnet
		for _, v := range values {
			p, err := netip.ParsePrefix(v.Text)
			switch {
			case err != nil:
				bad(v, "%q is not a CIDR such as 198.51.100.0/24 or 2001:db8::/32", v.Text)
			case p.Masked() != p:
				bad(v, "%s has host bits set; write %s", v.Text, p.Masked())
			default:
				m.Subnets = append(m.Subnets, p)
			}
		}
	case "country":
		m.Match = model.MatchCountry
		for _, v := range values {
			c, known := geo.CountryInfo(v.Text)
			if !known {
				bad(v, "country %q is not an ISO 3166-1 alpha-2 code such as DE", v.Text)
				continue
			}
			m.Codes = append(m.Codes, c.Code)
		}
	case "continent":
		m.Match = model.MatchContinent
		for _, v := range values {
			c := strings.ToUpper(v.Text)
			if !slices.Contains(continents, c) || !isASCII(v.Text) { // ToUpper makes the long s an S
				bad(v, "continent %q is not one of %s", v.Text, strings.Join(continents, " "))
				continue
			}
			m.Codes = append(m.Codes, c)
		}
	case "default":
		m.Match = model.MatchDefault
		if len(values) > 0 {
			bad(values[0], "default takes no values: default -> CLUSTER...")
		}
	case "subdivision":
		m.Match = model.MatchSubdivision
		for _, v := range values {
			code, err := subdivisionCode(v.Text)
			if err != nil {
				bad(v, "%v", err)
				continue
			}
			m.Codes = append(m.Codes, code)
		}
	default:
		bad(words[0], "unknown entry %q; expected %s", words[0].Text, mapUsage)
	}
	if ok && m.Match != model.MatchDefault && len(values) == 0 {
		bad(words[0], "%s needs at least one value before ->", kind)
	}
	return m, ok
}

// isASCII reports whether s is ASCII: strings.ToUpper turns some other
// letters into ASCII ones (the long s into S, the Kelvin sign into K),
// which would let a code match what it does not spell.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// subdivisionCode checks an ISO 3166-2 code such as US-CA or GB-ENG: a
// known country, a hyphen, and one to three letters or digits, as GeoIP
// City databases spell them. Whether the subdivision exists is the
// database's business: ISO adds and renames them every year.
func subdivisionCode(text string) (string, error) {
	cc, sub, ok := strings.Cut(strings.ToUpper(text), "-")
	country, known := geo.CountryInfo(cc)
	valid := ok && known && isASCII(text) && len(sub) >= 1 && len(sub) <= 3 && strings.Trim(sub, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
	if !valid {
		return "", fmt.Errorf("subdivision %q is not an ISO 3166-2 code such as US-CA or DE-BY", text)
	}
	return country.Code + "-" + sub, nil
}

func (s *Static) decode(n *node, errs *errorList) {
	// svc returns the service entry for name, creating it at pos.
	svc := func(name string, pos Pos) *StaticService {
		for i := range s.Services {
			if s.Services[i].Name == name {
				return &s.Services[i]
			}
		}
		s.Services = append(s.Services, StaticService{Pos: pos, Name: name})
		return &s.Services[len(s.Services)-1]
	}
	// ingress decodes `ingress ADDRESS... [zone ZONE]` into addrs and zones.
	ingress := func(addrs *[]netip.Addr, zones *[]model.AddrZone) directive {
		return func(d *node, errs *errorList) {
			rest, zone := zoneSuffix(d.Args)
			if len(rest) == 0 || d.HasBody {
				errs.add(errorf(d.Pos, "ingress: expected ingress ADDRESS... [zone ZONE]"))
				return
			}
			for _, a := range parseAddrs(d.Name(), rest, errs) {
				*addrs = append(*addrs, a)
				if zone != "" {
					*zones = append(*zones, model.AddrZone{Addr: a, Zone: zone})
				}
			}
		}
	}
	counted := map[string]bool{} // service, kind and zone of the counts seen
	body("static block", n, map[string]directive{
		"ingress": ingress(&s.Ingress, &s.IngressZones),
		// `pods SERVICE N [zone ZONE]` and `vms SERVICE N [zone ZONE]`
		"pods": func(d *node, errs *errorList) { staticCount(d, true, svc, counted, errs) },
		"vms":  func(d *node, errs *errorList) { staticCount(d, true, svc, counted, errs) },
		"service": func(d *node, errs *errorList) {
			if err := block(d, 1, "NAME"); err != nil {
				errs.add(err)
				return
			}
			ss := svc(canonicalName(d.Args[0].Text), d.Pos)
			one := func(string, Pos) *StaticService { return ss }
			body("static service block", d, map[string]directive{
				"ingress": ingress(&ss.Ingress, &ss.IngressZones),
				"pods":    func(d *node, errs *errorList) { staticCount(d, false, one, counted, errs) },
				"vms":     func(d *node, errs *errorList) { staticCount(d, false, one, counted, errs) },
			}, nil, errs)
		},
	}, nil, errs)
}

// zoneSuffix splits a trailing "zone ZONE" off a directive's arguments.
func zoneSuffix(args []token) (rest []token, zone string) {
	if n := len(args); n >= 2 && args[n-2].Text == "zone" {
		return args[:n-2], args[n-1].Text
	}
	return args, ""
}

// staticCount decodes a pods or vms line: `pods [SERVICE] COUNT [zone ZONE]`,
// the service named when withService is set. A count may be given once per
// service, kind and zone; zoned counts also add up per zone.
func staticCount(d *node, withService bool, svc func(string, Pos) *StaticService, counted map[string]bool, errs *errorList) {
	rest, zone := zoneSuffix(d.Args)
	want, usage := 1, "COUNT [zone ZONE]"
	if withService {
		want, usage = 2, "SERVICE COUNT [zone ZONE]"
	}
	if len(rest) != want || d.HasBody {
		errs.add(errorf(d.Pos, "%s: expected %s %s", d.Name(), d.Name(), usage))
		return
	}
	n, err := parseCount(d.Name(), rest[want-1])
	if err != nil {
		errs.add(err)
		return
	}
	name := ""
	if withService {
		name = canonicalName(rest[0].Text)
	}
	ss := svc(name, d.Pos)
	key := ss.Name + "\x00" + d.Name() + "\x00" + zone
	if counted[key] {
		in := ""
		if zone != "" {
			in = " in zone " + zone
		}
		errs.add(errorf(d.Pos, "%s: %s already counted for %s%s", d.Name(), d.Name(), ss.Name, in))
		return
	}
	counted[key] = true
	if d.Name() == "vms" {
		ss.VMs += n
	} else {
		ss.Pods += n
	}
	if zone != "" {
		i := slices.IndexFunc(ss.ZonePods, func(z model.ZonePods) bool { return z.Zone == zone })
		if i < 0 {
			ss.ZonePods = append(ss.ZonePods, model.ZonePods{Zone: zone})
			i = len(ss.ZonePods) - 1
		}
		ss.ZonePods[i].ReadyPods += n
	}
}

// maxCount bounds pod and VM counts so that weights cannot overflow.
const maxCount = 1 << 24

func parseCount(what string, t token) (int, error) {
	n, err := strconv.Atoi(t.Text)
	if err != nil || n < 0 || n > maxCount {
		return 0, errorf(t.Pos, "%s: expected a count from 0 to %d, got %q", what, maxCount, t.Text)
	}
	return n, nil
}

// parseAddrs parses every token as an IP address for directive what.
func parseAddrs(what string, toks []token, errs *errorList) []netip.Addr {
	var out []netip.Addr
	for _, a := range toks {
		ip, err := netip.ParseAddr(a.Text)
		if err != nil || ip.Zone() != "" {
			errs.add(errorf(a.Pos, "%s: %q is not an IP address", what, a.Text))
			continue
		}
		out = append(out, ip.Unmap())
	}
	return out
}

func (z *Zone) decode(n *node, errs *errorList) {
	body("zone block", n, map[string]directive{
		"ttl": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "TTL"); err != nil {
				errs.add(err)
				return
			}
			z.TTL, z.ttlSet = parseTTL(d.Name(), d.Args[0], errs), true
		},
		"soa": func(d *node, errs *errorList) {
			if len(d.Args) != 2 {
				errs.add(errorf(d.Pos, "soa: expected soa MNAME RNAME [{ refresh retry expire minimum }], got %d argument%s",
					len(d.Args), plural(len(d.Args))))
				return
			}
			z.SOA.Pos = d.Pos
			z.SOA.MName = canonicalName(d.Args[0].Text)
			z.SOA.RName = canonicalName(strings.Replace(d.Args[1].Text, "@", ".", 1))
			timer := func(dst *uint32) directive {
				return func(d *node, errs *errorList) {
					if err := args(d, 1, 1, "DURATION"); err != nil {
						errs.add(err)
						return
					}
					*dst = parseTTL(d.Name(), d.Args[0], errs)
				}
			}
			body("soa block", d, map[string]directive{
				"refresh": timer(&z.SOA.Refresh),
				"retry":   timer(&z.SOA.Retry),
				"expire":  timer(&z.SOA.Expire),
				"minimum": timer(&z.SOA.Minimum),
				"serial": func(d *node, errs *errorList) {
					if err := args(d, 1, 1, "NUMBER"); err != nil {
						errs.add(err)
						return
					}
					v, err := strconv.ParseUint(d.Args[0].Text, 10, 32)
					if err != nil {
						errs.add(errorf(d.Args[0].Pos, "serial: expected a number from 0 to %d, got %q", uint32(math.MaxUint32), d.Args[0].Text))
						return
					}
					z.SOA.Serial, z.SOA.HasSerial = uint32(v), true
				},
			}, []string{"refresh", "retry", "expire", "minimum", "serial"}, errs)
		},
		"ns": func(d *node, errs *errorList) {
			if err := args(d, 1, -1, "NAME [GLUE-ADDRESS...]"); err != nil {
				errs.add(err)
				return
			}
			z.NS = append(z.NS, NameServer{Pos: d.Pos, Name: canonicalName(d.Args[0].Text), Glue: parseAddrs(d.Name(), d.Args[1:], errs)})
		},
		"map": func(d *node, errs *errorList) { z.Map, z.mapPos, z.entryPos = decodeMap(d, z.mapPos, errs) },
		"service": func(d *node, errs *errorList) {
			if err := block(d, 1, "NAME"); err != nil {
				errs.add(err)
				return
			}
			s := Service{Pos: d.Pos, Name: canonicalName(d.Args[0].Text)}
			s.decode(d, errs)
			z.Services = append(z.Services, s)
		},
		"record": func(d *node, errs *errorList) {
			if err := args(d, 2, -1, "NAME [TTL] TYPE RDATA..."); err != nil {
				errs.add(err)
				return
			}
			z.Records = append(z.Records, Record{Pos: d.Pos, Text: recordText(d.Args)})
		},
		"file": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "PATH"); err != nil {
				errs.add(err)
				return
			}
			z.Files = append(z.Files, ZoneFile{Pos: d.Pos, Path: d.Args[0].Text})
		},
		"allow_transfer": func(d *node, errs *errorList) {
			if err := args(d, 1, -1, "PREFIX..."); err != nil {
				errs.add(err)
				return
			}
			for _, a := range d.Args {
				p, err := parsePrefix(a.Text)
				if err != nil {
					errs.add(errorf(a.Pos, "allow_transfer: %q is not an address or prefix such as 192.0.2.0/24", a.Text))
					continue
				}
				z.AllowTransfer = append(z.AllowTransfer, p)
			}
			if z.allowTransferPos.Line == 0 {
				z.allowTransferPos = d.Pos
			}
		},
		"notify": func(d *node, errs *errorList) {
			if err := args(d, 1, -1, "ADDRESS[:PORT]..."); err != nil {
				errs.add(err)
				return
			}
			for _, a := range d.Args {
				ap, err := parseAddrPort(a.Text, 53)
				if err != nil {
					errs.add(errorf(a.Pos, "notify: %q is not ADDRESS or ADDRESS:PORT", a.Text))
					continue
				}
				z.Notify = append(z.Notify, ap)
			}
			if z.notifyPos.Line == 0 {
				z.notifyPos = d.Pos
			}
		},
		"dnssec": func(d *node, errs *errorList) {
			if err := block(d, 0, ""); err != nil {
				errs.add(err)
				return
			}
			z.DNSSEC = &DNSSEC{Pos: d.Pos, Algorithm: AlgorithmECDSAP256}
			body("dnssec block", d, map[string]directive{
				"keys": func(d *node, errs *errorList) {
					if err := args(d, 1, 1, "DIRECTORY"); err != nil {
						errs.add(err)
						return
					}
					z.DNSSEC.Keys = d.Args[0].Text
				},
				"algorithm": func(d *node, errs *errorList) {
					if err := args(d, 1, 1, "ecdsap256sha256|ed25519"); err != nil {
						errs.add(err)
						return
					}
					switch strings.ToLower(d.Args[0].Text) {
					case "ecdsap256sha256", "13":
						z.DNSSEC.Algorithm = AlgorithmECDSAP256
					case "ed25519", "15":
						z.DNSSEC.Algorithm = AlgorithmEd25519
					default:
						errs.add(errorf(d.Args[0].Pos, "algorithm: expected ecdsap256sha256 (13) or ed25519 (15), got %q", d.Args[0].Text))
					}
				},
				"zsk_lifetime": durationIn(&z.DNSSEC.ZSKLifetime),
				"propagation":  durationIn(&z.DNSSEC.Propagation),
			}, []string{"keys", "algorithm", "zsk_lifetime", "propagation"}, errs)
		},
		"allow_transfer_without_services": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "yes|no"); err != nil {
				errs.add(err)
				return
			}
			switch d.Args[0].Text {
			case "yes":
				z.AllowTransferWithoutServices = true
			case "no":
				z.AllowTransferWithoutServices = false
			default:
				errs.add(errorf(d.Args[0].Pos, "allow_transfer_without_services: expected yes or no, got %q", d.Args[0].Text))
			}
		},
	}, []string{"ttl", "soa", "allow_transfer_without_services", "dnssec", "map"}, errs)
}

func policyNames() string {
	var names []string
	for _, k := range model.PolicyKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

// maxTTL is the largest TTL RFC 2181 allows.
const maxTTL = 1<<31 - 1

// parseTTL reads a TTL in seconds, or a duration in whole seconds (30s, 5m,
// 1h, 1d, 1w, 1h30m).
func parseTTL(what string, t token, errs *errorList) uint32 {
	d, ok := duration.Parse(t.Text)
	if !ok || d%time.Second != 0 || d/time.Second > maxTTL {
		errs.add(errorf(t.Pos, "%s: expected seconds or a duration such as 30s, 5m, 1h, 1d, 1w up to %d seconds, got %q",
			what, maxTTL, t.Text))
		return 0
	}
	return uint32(d / time.Second)
}

// canonicalName is model.CanonicalName.
func canonicalName(s string) string { return model.CanonicalName(s) }

func (s *Service) decode(n *node, errs *errorList) {
	number := func(dst *uint32, set *bool, lo, hi uint64, usage string) directive {
		return func(d *node, errs *errorList) {
			if err := args(d, 1, 1, usage); err != nil {
				errs.add(err)
				return
			}
			v, err := strconv.ParseUint(d.Args[0].Text, 10, 32)
			if err != nil || v < lo || v > hi {
				errs.add(errorf(d.Args[0].Pos, "%s: expected a number from %d to %d, got %q", d.Name(), lo, hi, d.Args[0].Text))
				return
			}
			*dst, *set = uint32(v), true
		}
	}
	body("service block", n, map[string]directive{
		"policy": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "POLICY"); err != nil {
				errs.add(err)
				return
			}
			s.Policy = model.PolicyKind(strings.ToLower(d.Args[0].Text))
			if !slices.Contains(model.PolicyKinds(), s.Policy) {
				errs.add(errorf(d.Args[0].Pos, "policy: unknown policy %q; valid: %s", d.Args[0].Text, policyNames()))
			}
		},
		"ttl": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "TTL"); err != nil {
				errs.add(err)
				return
			}
			s.TTL, s.ttlSet = parseTTL(d.Name(), d.Args[0], errs), true
		},
		"order": func(d *node, errs *errorList) {
			if err := args(d, 1, -1, "CLUSTER..."); err != nil {
				errs.add(err)
				return
			}
			s.orderPos = d.Pos
			for _, a := range d.Args {
				s.Order = append(s.Order, strings.ToLower(a.Text))
			}
		},
		"weight": func(d *node, errs *errorList) {
			if err := args(d, 2, 2, "CLUSTER WEIGHT"); err != nil {
				errs.add(err)
				return
			}
			w, err := strconv.ParseUint(d.Args[1].Text, 10, 32)
			if err != nil || w > maxExplicitWeight {
				errs.add(errorf(d.Args[1].Pos, "weight: expected a weight from 0 to %d, got %q", maxExplicitWeight, d.Args[1].Text))
				return
			}
			s.weightPos = append(s.weightPos, d.Pos)
			s.Weights = append(s.Weights, model.ClusterWeight{Cluster: strings.ToLower(d.Args[0].Text), Weight: uint32(w)})
		},
		"overprovisioning": number(&s.Overprovisioning, &s.overprovisioningSet, 1, 1<<20, "PERCENT"),
		"panic_threshold":  number(&s.PanicThreshold, &s.panicSet, 0, 100, "PERCENT"),
		"spill": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "capacity|hosts"); err != nil {
				errs.add(err)
				return
			}
			s.Spill = model.SpillMode(strings.ToLower(d.Args[0].Text))
			if !slices.Contains(model.SpillModes(), s.Spill) {
				errs.add(errorf(d.Args[0].Pos, "spill: expected capacity or hosts, got %q", d.Args[0].Text))
			}
		},
		"max_answers": number(&s.MaxAnswers, &s.maxAnswersSet, 1, 64, "N"),
		"match": func(d *node, errs *errorList) {
			if err := args(d, 2, 2, "KIND NAMESPACE/NAME"); err != nil {
				errs.add(err)
				return
			}
			kind := strings.ToLower(d.Args[0].Text)
			if !slices.Contains(MatchKinds(), kind) {
				errs.add(errorf(d.Args[0].Pos, "match: unknown kind %q; valid: %s", d.Args[0].Text, strings.Join(MatchKinds(), ", ")))
				return
			}
			ns, name, ok := strings.Cut(d.Args[1].Text, "/")
			if !ok || ns == "" || name == "" {
				errs.add(errorf(d.Args[1].Pos, "match: expected NAMESPACE/NAME, got %q", d.Args[1].Text))
				return
			}
			s.Matches = append(s.Matches, Match{Pos: d.Pos, Kind: kind, Namespace: ns, Name: name})
		},
		"health": func(d *node, errs *errorList) {
			if err := block(d, 0, ""); err != nil {
				errs.add(err)
				return
			}
			s.Health = &HealthCheck{Pos: d.Pos}
			s.Health.decode(d, errs)
		},
		"xds_port": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "PORT"); err != nil {
				errs.add(err)
				return
			}
			p, err := parsePort(d.Args[0].Text)
			if err != nil {
				errs.add(errorf(d.Args[0].Pos, "xds_port: %v", err))
				return
			}
			s.XDSPort = uint32(p)
		},
		"eastwest": func(d *node, errs *errorList) {
			if err := args(d, 1, 2, "pods PORT|gateway"); err != nil {
				errs.add(err)
				return
			}
			s.eastWestPos = d.Pos
			switch mode := strings.ToLower(d.Args[0].Text); {
			case mode == "pods" && len(d.Args) == 2:
				p, err := parsePort(d.Args[1].Text)
				if err != nil {
					errs.add(errorf(d.Args[1].Pos, "eastwest: %v", err))
					return
				}
				s.EastWest, s.EastWestPort = mode, uint32(p)
			case mode == "gateway" && len(d.Args) == 1:
				s.EastWest = mode
			default:
				errs.add(errorf(d.Pos, "eastwest: expected eastwest pods PORT or eastwest gateway"))
			}
		},
		"map": func(d *node, errs *errorList) { s.Map, s.mapPos, s.entryPos = decodeMap(d, s.mapPos, errs) },
		"ignore_ecs": func(d *node, errs *errorList) {
			if err := args(d, 0, 0, ""); err != nil {
				errs.add(err)
				return
			}
			s.IgnoreECS = true
		},
		"fail": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "open|closed"); err != nil {
				errs.add(err)
				return
			}
			switch d.Args[0].Text {
			case "open":
				s.FailClosed = false
			case "closed":
				s.FailClosed = true
			default:
				errs.add(errorf(d.Args[0].Pos, "fail: expected open or closed, got %q", d.Args[0].Text))
			}
		},
	}, []string{"policy", "ttl", "order", "map", "overprovisioning", "panic_threshold", "spill", "fail", "max_answers", "ignore_ecs", "health", "xds_port", "eastwest"}, errs)
}

// maxExplicitWeight bounds explicit cluster weights so that spreading them
// over addresses cannot overflow.
const maxExplicitWeight = 1_000_000

// decode reads `rrl RATE [{ window D; slip N; ipv4_prefix N; ipv6_prefix N }]`.
func (r *RRL) decode(d *node, errs *errorList) {
	if len(d.Args) != 1 {
		errs.add(errorf(d.Pos, "rrl: expected rrl RESPONSES_PER_SECOND [{ window D; slip N; ipv4_prefix N; ipv6_prefix N }]"))
		return
	}
	v, err := strconv.ParseUint(d.Args[0].Text, 10, 32)
	if err != nil || v == 0 {
		errs.add(errorf(d.Args[0].Pos, "rrl: expected responses per second, a number above 0, got %q", d.Args[0].Text))
		return
	}
	r.ResponsesPerSecond = uint32(v)
	number := func(dst *uint32, lo, hi uint64) directive {
		return func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "N"); err != nil {
				errs.add(err)
				return
			}
			v, err := strconv.ParseUint(d.Args[0].Text, 10, 32)
			if err != nil || v < lo || v > hi {
				errs.add(errorf(d.Args[0].Pos, "%s: expected a number from %d to %d, got %q", d.Name(), lo, hi, d.Args[0].Text))
				return
			}
			*dst = uint32(v)
		}
	}
	body("rrl block", d, map[string]directive{
		"window": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "DURATION"); err != nil {
				errs.add(err)
				return
			}
			r.Window = time.Duration(parseTTL(d.Name(), d.Args[0], errs)) * time.Second
		},
		"slip":        number(&r.Slip, 0, 10),
		"ipv4_prefix": number(&r.IPv4Prefix, 8, 32),
		"ipv6_prefix": number(&r.IPv6Prefix, 16, 128),
	}, []string{"window", "slip", "ipv4_prefix", "ipv6_prefix"}, errs)
}

func (t *Dnstap) decode(d *node, errs *errorList) {
	const usage = "unix:PATH|tcp:HOST:PORT [{ sample N; queries; responses }]"
	if len(d.Args) != 1 {
		errs.add(errorf(d.Pos, "dnstap: expected dnstap %s", usage))
		return
	}
	a := d.Args[0]
	network, addr, _ := strings.Cut(a.Text, ":")
	switch {
	case network == "unix" && addr != "":
	case network == "tcp":
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			errs.add(errorf(a.Pos, "dnstap: %q is not HOST:PORT after tcp:", addr))
			return
		}
	default:
		errs.add(errorf(a.Pos, "dnstap: expected unix:PATH or tcp:HOST:PORT, got %q", a.Text))
		return
	}
	t.Network, t.Addr = network, addr
	flag := func(dst *bool) directive {
		return func(d *node, errs *errorList) {
			if len(d.Args) > 0 || d.HasBody {
				errs.add(errorf(d.Pos, "%s: takes no arguments: it names the messages to send", d.Name()))
				return
			}
			*dst = true
		}
	}
	body("dnstap block", d, map[string]directive{
		"sample": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "N"); err != nil {
				errs.add(err)
				return
			}
			v, err := strconv.ParseUint(d.Args[0].Text, 10, 32)
			if err != nil || v == 0 || v > 1_000_000 {
				errs.add(errorf(d.Args[0].Pos, "sample: expected one query in N, N from 1 to 1000000, got %q", d.Args[0].Text))
				return
			}
			t.Sample = uint32(v)
		},
		"queries":   flag(&t.Queries),
		"responses": flag(&t.Responses),
	}, []string{"sample", "queries", "responses"}, errs)
	if !t.Queries && !t.Responses {
		t.Queries, t.Responses = true, true
	}
}

// recordText joins a record directive's words back into one zone-file
// line, quoting words that need it, for the DNS server's zone parser.
func recordText(args []token) string {
	words := make([]string, len(args))
	for i, a := range args {
		w := a.Text
		if w == "" || strings.ContainsAny(w, " \t;\"") {
			w = strconv.Quote(w)
		}
		words[i] = w
	}
	return strings.Join(words, " ")
}

// parsePrefix accepts a prefix or a single address (as a full-length prefix).
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// parsePort accepts a port number from 1 to 65535.
func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("expected a port from 1 to 65535, got %q", s)
	}
	return uint16(p), nil
}

// parseAddrPort accepts ADDRESS or ADDRESS:PORT ([v6]:PORT), with a default port.
func parseAddrPort(s string, port uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a.Unmap(), port), nil
}

// decode reads a service's health block.
func (h *HealthCheck) decode(n *node, errs *errorList) {
	word := func(dst *string, usage string) directive {
		return func(d *node, errs *errorList) {
			if err := args(d, 1, 1, usage); err != nil {
				errs.add(err)
				return
			}
			*dst = d.Args[0].Text
		}
	}
	probeDuration := func(dst *time.Duration) directive {
		return func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "DURATION"); err != nil {
				errs.add(err)
				return
			}
			v, ok := duration.Parse(d.Args[0].Text)
			if !ok || v <= 0 {
				errs.add(errorf(d.Args[0].Pos, "%s: expected a duration such as 500ms, 2s, 1m or 1d, got %q", d.Name(), d.Args[0].Text))
				return
			}
			*dst = v
		}
	}
	count := func(dst *int) directive {
		return func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "N"); err != nil {
				errs.add(err)
				return
			}
			v, err := strconv.Atoi(d.Args[0].Text)
			if err != nil || v < 1 || v > 100 {
				errs.add(errorf(d.Args[0].Pos, "%s: expected a count from 1 to 100, got %q", d.Name(), d.Args[0].Text))
				return
			}
			*dst = v
		}
	}
	body("health block", n, map[string]directive{
		"kind": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "KIND"); err != nil {
				errs.add(err)
				return
			}
			h.Kind = strings.ToLower(d.Args[0].Text)
			if !slices.Contains(HealthKinds(), h.Kind) {
				errs.add(errorf(d.Args[0].Pos, "kind: unknown probe %q; valid: %s", d.Args[0].Text, strings.Join(HealthKinds(), ", ")))
			}
		},
		"port": func(d *node, errs *errorList) {
			if err := args(d, 1, 1, "PORT"); err != nil {
				errs.add(err)
				return
			}
			p, err := parsePort(d.Args[0].Text)
			if err != nil {
				errs.add(errorf(d.Args[0].Pos, "port: %v", err))
				return
			}
			h.Port = p
		},
		"path":   word(&h.Path, "PATH"),
		"method": word(&h.Method, "METHOD"),
		"host":   word(&h.Host, "NAME"),
		"body":   word(&h.Body, "TEXT"),
		"expect": func(d *node, errs *errorList) {
			if err := args(d, 1, -1, "STATUS|LOW-HIGH..."); err != nil {
				errs.add(err)
				return
			}
			for _, a := range d.Args {
				lo, hi, isRange := strings.Cut(a.Text, "-")
				if !isRange {
					hi = lo
				}
				l, err1 := strconv.Atoi(lo)
				u, err2 := strconv.Atoi(hi)
				if err1 != nil || err2 != nil || l < 100 || u > 599 || l > u {
					errs.add(errorf(a.Pos, "expect: expected a status such as 200 or a range such as 200-399, got %q", a.Text))
					continue
				}
				h.Expect = append(h.Expect, StatusRange{Low: l, High: u})
			}
		},
		"interval": probeDuration(&h.Interval),
		"timeout":  probeDuration(&h.Timeout),
		"jitter":   probeDuration(&h.Jitter),
		"rise":     count(&h.Rise),
		"fall":     count(&h.Fall),
		"insecure_skip_verify": func(d *node, errs *errorList) {
			if err := args(d, 0, 0, ""); err != nil {
				errs.add(err)
				return
			}
			h.InsecureSkipVerify = true
		},
		"ca": word(&h.CA, "FILE"),
		"client_cert": func(d *node, errs *errorList) {
			if err := args(d, 2, 2, "CERT-FILE KEY-FILE"); err != nil {
				errs.add(err)
				return
			}
			h.ClientCert, h.ClientKey = d.Args[0].Text, d.Args[1].Text
		},
		"grpc_service": word(&h.GRPCService, "NAME"),
	}, []string{"kind", "port", "path", "method", "host", "body", "interval", "timeout", "jitter", "rise", "fall", "insecure_skip_verify", "ca", "client_cert", "grpc_service"}, errs)
}
