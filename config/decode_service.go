package config

import (
	"slices"
	"strconv"
	"strings"

	"github.com/meridian-gtm/meridian/model"
)

// This file decodes a global service's block; its health block is
// decoded in decode_health.go and its map block in decode_map.go.

func (s *Service) decode(n *node, errs *errorList) {
	body("service block", n, map[string]directive{
		"policy":           s.decodePolicy,
		"ttl":              seconds(&s.TTL, &s.ttlSet, "TTL"),
		"order":            s.decodeOrder,
		"weight":           s.decodeWeight,
		"overprovisioning": uint32In(&s.Overprovisioning, &s.overprovisioningSet, 1, 1<<20, "PERCENT"),
		"panic_threshold":  uint32In(&s.PanicThreshold, &s.panicSet, 0, 100, "PERCENT"),
		"spill":            s.decodeSpill,
		"max_answers":      uint32In(&s.MaxAnswers, &s.maxAnswersSet, 1, 64, "N"),
		"match":            s.decodeMatch,
		"health":           s.decodeHealth,
		"xds_port":         port(&s.XDSPort),
		"eastwest":         s.decodeEastWest,
		"map":              func(d *node, errs *errorList) { s.Map, s.mapPos, s.entryPos = decodeMap(d, s.mapPos, errs) },
		"ignore_ecs":       flag(&s.IgnoreECS),
		"fail":             either(&s.FailClosed, "open", "closed", false),
	}, []string{"policy", "ttl", "order", "map", "overprovisioning", "panic_threshold", "spill", "fail", "max_answers", "ignore_ecs", "health", "xds_port", "eastwest"}, errs)
}

func (s *Service) decodePolicy(d *node, errs *errorList) {
	a, ok := oneArg(d, "POLICY", errs)
	if !ok {
		return
	}
	s.Policy = model.PolicyKind(strings.ToLower(a.Text))
	if !slices.Contains(model.PolicyKinds(), s.Policy) {
		errs.add(errorf(a.Pos, "policy: unknown policy %q; valid: %s", a.Text, policyNames()))
	}
}

func policyNames() string {
	var names []string
	for _, k := range model.PolicyKinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}

func (s *Service) decodeOrder(d *node, errs *errorList) {
	if err := args(d, 1, -1, "CLUSTER..."); err != nil {
		errs.add(err)
		return
	}
	s.orderPos = d.Pos
	for _, a := range d.Args {
		s.Order = append(s.Order, strings.ToLower(a.Text))
	}
}

// maxExplicitWeight bounds explicit cluster weights so that spreading them
// over addresses cannot overflow.
const maxExplicitWeight = 1_000_000

func (s *Service) decodeWeight(d *node, errs *errorList) {
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
}

func (s *Service) decodeSpill(d *node, errs *errorList) {
	a, ok := oneArg(d, "capacity|hosts", errs)
	if !ok {
		return
	}
	s.Spill = model.SpillMode(strings.ToLower(a.Text))
	if !slices.Contains(model.SpillModes(), s.Spill) {
		errs.add(errorf(a.Pos, "spill: expected capacity or hosts, got %q", a.Text))
	}
}

// decodeMatch reads `match KIND NAMESPACE/NAME`.
func (s *Service) decodeMatch(d *node, errs *errorList) {
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
}

func (s *Service) decodeHealth(d *node, errs *errorList) {
	if err := block(d, 0, ""); err != nil {
		errs.add(err)
		return
	}
	s.Health = &HealthCheck{Pos: d.Pos}
	s.Health.decode(d, errs)
}

// decodeEastWest reads `eastwest pods PORT` or `eastwest gateway`.
func (s *Service) decodeEastWest(d *node, errs *errorList) {
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
}
