package config

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/meridian-gtm/meridian/model"
)

// This file decodes a cluster block and its static block.

func (cl *Cluster) decode(n *node, errs *errorList) {
	body("cluster block", n, map[string]directive{
		"region":           word(&cl.Region, "REGION"),
		"zone":             word(&cl.Zone, "ZONE"),
		"location":         cl.decodeLocation,
		"static":           cl.decodeStatic,
		"drain":            cl.decodeDrain,
		"eastwest_gateway": cl.decodeEastWestGateway,
		"bias":             cl.decodeBias,
		"kubeconfig":       word(&cl.Kubeconfig, "PATH"),
		"context":          word(&cl.Context, "NAME"),
		"incluster":        flag(&cl.InCluster),
	}, []string{"region", "zone", "location", "bias", "static", "drain", "kubeconfig", "context", "incluster"}, errs)
}

func (cl *Cluster) decodeLocation(d *node, errs *errorList) {
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
}

func (cl *Cluster) decodeStatic(d *node, errs *errorList) {
	if err := block(d, 0, ""); err != nil {
		errs.add(err)
		return
	}
	cl.Static = &Static{Pos: d.Pos}
	cl.Static.decode(d, errs)
}

func (cl *Cluster) decodeDrain(d *node, errs *errorList) {
	if err := args(d, 0, -1, "[REASON...]"); err != nil {
		errs.add(err)
		return
	}
	cl.Drain = &Drain{Pos: d.Pos, Reason: strings.Join(d.argStrings(), " ")}
}

func (cl *Cluster) decodeEastWestGateway(d *node, errs *errorList) {
	a, ok := oneArg(d, "ADDRESS:PORT", errs)
	if !ok {
		return
	}
	ap, err := netip.ParseAddrPort(a.Text)
	if err != nil || ap.Port() == 0 {
		errs.add(errorf(a.Pos, "eastwest_gateway: expected an IP address and port such as 10.0.0.1:15443, got %q", a.Text))
		return
	}
	cl.EastWestGateway = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func (cl *Cluster) decodeBias(d *node, errs *errorList) {
	a, ok := oneArg(d, "PERCENT", errs)
	if !ok {
		return
	}
	b, err := strconv.Atoi(a.Text)
	if err != nil || b < -99 || b > 99 {
		errs.add(errorf(a.Pos, "bias: expected a percentage from -99 to 99, got %q", a.Text))
		return
	}
	cl.Bias = b
}

func (s *Static) decode(n *node, errs *errorList) {
	counted := map[string]bool{} // service, kind and zone of the counts seen
	body("static block", n, map[string]directive{
		"ingress": ingress(&s.Ingress, &s.IngressZones),
		// `pods SERVICE N [zone ZONE]` and `vms SERVICE N [zone ZONE]`
		"pods": func(d *node, errs *errorList) { staticCount(d, true, s.service, counted, errs) },
		"vms":  func(d *node, errs *errorList) { staticCount(d, true, s.service, counted, errs) },
		"service": func(d *node, errs *errorList) {
			if err := block(d, 1, "NAME"); err != nil {
				errs.add(err)
				return
			}
			ss := s.service(canonicalName(d.Args[0].Text), d.Pos)
			one := func(string, Pos) *StaticService { return ss }
			body("static service block", d, map[string]directive{
				"ingress": ingress(&ss.Ingress, &ss.IngressZones),
				"pods":    func(d *node, errs *errorList) { staticCount(d, false, one, counted, errs) },
				"vms":     func(d *node, errs *errorList) { staticCount(d, false, one, counted, errs) },
			}, nil, errs)
		},
	}, nil, errs)
}

// service returns the service entry for name, creating it at pos.
func (s *Static) service(name string, pos Pos) *StaticService {
	for i := range s.Services {
		if s.Services[i].Name == name {
			return &s.Services[i]
		}
	}
	s.Services = append(s.Services, StaticService{Pos: pos, Name: name})
	return &s.Services[len(s.Services)-1]
}

// ingress decodes `ingress ADDRESS... [zone ZONE]` into addrs and zones.
func ingress(addrs *[]netip.Addr, zones *[]model.AddrZone) directive {
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
