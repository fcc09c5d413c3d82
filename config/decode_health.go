package config

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-gtm/meridian/internal/duration"
)

// This file decodes a service's health block and the meridian block's
// directives of the prober: health_source and health_quorum
// (health_workers is a plain intIn).

// decode reads a service's health block.
func (h *HealthCheck) decode(n *node, errs *errorList) {
	body("health block", n, map[string]directive{
		"kind":                 h.decodeKind,
		"port":                 port(&h.Port),
		"path":                 word(&h.Path, "PATH"),
		"method":               word(&h.Method, "METHOD"),
		"host":                 word(&h.Host, "NAME"),
		"body":                 word(&h.Body, "TEXT"),
		"expect":               h.decodeExpect,
		"interval":             probeDuration(&h.Interval),
		"timeout":              probeDuration(&h.Timeout),
		"jitter":               probeDuration(&h.Jitter),
		"rise":                 count(&h.Rise),
		"fall":                 count(&h.Fall),
		"insecure_skip_verify": flag(&h.InsecureSkipVerify),
		"ca":                   word(&h.CA, "FILE"),
		"client_cert":          h.decodeClientCert,
		"grpc_service":         word(&h.GRPCService, "NAME"),
	}, []string{"kind", "port", "path", "method", "host", "body", "interval", "timeout", "jitter", "rise", "fall", "insecure_skip_verify", "ca", "client_cert", "grpc_service"}, errs)
}

func (h *HealthCheck) decodeKind(d *node, errs *errorList) {
	a, ok := oneArg(d, "KIND", errs)
	if !ok {
		return
	}
	h.Kind = strings.ToLower(a.Text)
	if !slices.Contains(HealthKinds(), h.Kind) {
		errs.add(errorf(a.Pos, "kind: unknown probe %q; valid: %s", a.Text, strings.Join(HealthKinds(), ", ")))
	}
}

// decodeExpect reads `expect STATUS|LOW-HIGH...`.
func (h *HealthCheck) decodeExpect(d *node, errs *errorList) {
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
}

func (h *HealthCheck) decodeClientCert(d *node, errs *errorList) {
	if err := args(d, 2, 2, "CERT-FILE KEY-FILE"); err != nil {
		errs.add(err)
		return
	}
	h.ClientCert, h.ClientKey = d.Args[0].Text, d.Args[1].Text
}

// probeDuration decodes a directive of one positive duration, to the
// millisecond (unlike the whole seconds of durationIn), into *dst.
func probeDuration(dst *time.Duration) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, "DURATION", errs)
		if !ok {
			return
		}
		v, ok := duration.Parse(a.Text)
		if !ok || v <= 0 {
			errs.add(errorf(a.Pos, "%s: expected a duration such as 500ms, 2s, 1m or 1d, got %q", d.Name(), a.Text))
			return
		}
		*dst = v
	}
}

// count decodes rise and fall: a count of probes from 1 to 100.
func count(dst *int) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, "N", errs)
		if !ok {
			return
		}
		v, err := strconv.Atoi(a.Text)
		if err != nil || v < 1 || v > 100 {
			errs.add(errorf(a.Pos, "%s: expected a count from 1 to 100, got %q", d.Name(), a.Text))
			return
		}
		*dst = v
	}
}

// decodeHealthSource reads `health_source ADDRESS [ADDRESS]`: at most one
// local address per family.
func (m *Meridian) decodeHealthSource(d *node, errs *errorList) {
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
}

// decodeHealthQuorum reads `health_quorum majority|any|all|PERCENT%`.
func (m *Meridian) decodeHealthQuorum(d *node, errs *errorList) {
	const usage = "majority, any, all or a percentage such as 82%"
	a, ok := oneArg(d, "RULE", errs)
	if !ok {
		return
	}
	q := HealthQuorum{Pos: d.Pos, Rule: a.Text}
	switch q.Rule {
	case "majority", "any", "all":
	default:
		n, err := strconv.Atoi(strings.TrimSuffix(q.Rule, "%"))
		if !strings.HasSuffix(q.Rule, "%") || err != nil || n < 1 || n > 100 {
			errs.add(errorf(a.Pos, "health_quorum: expected %s (of the live replicas that see a target down, 1%% to 100%%), got %q", usage, q.Rule))
			return
		}
		q.Rule, q.Percent = "percent", n
	}
	m.HealthQuorum = q
}
