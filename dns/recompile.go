package dns

import (
	"slices"

	"github.com/meridian-gtm/meridian/model"
)

// A Plan usually differs from the one before in a few services: an
// EndpointSlice, a probe verdict or an override moves one service's
// shares, and the Solver hands on the plans of the others as they were
// (the same *model.ServicePlan). So the table of a new Plan is built from
// the one served (withPlan): the zones, their names, templates, chains and
// proofs are shared, compiled once per version of the zones; only the
// services whose plan is not the same pointer are compiled again, and the
// services' answers are held in chunks, so that the new table copies the
// chunks it changes and shares the rest. A new version of the zones (a
// reload, a serial, a key), new chaos texts, a Plan that places clients
// differently, or a signature refresh compiles the table from scratch
// (compile).

// serviceID names a global service's slot in a table's layout: its index
// plus one; 0 is none (a node or chain without a service).
type serviceID int32

// serviceSlot is where a global service is answered: its zone, owner and
// config. Its answers are the table's (table.service).
type serviceSlot struct {
	zone  *zoneTable
	owner string // as the zone's services map has it: lower case, final dot
	cfg   ServiceConfig
}

// layout is what the tables of one version of the zones share: the zones
// compiled, the chaos texts, and the global services' slots.
type layout struct {
	zones                 *Zones
	chaosVersion, chaosID string
	stats                 *Stats
	slots                 []serviceSlot          // by serviceID-1
	byFQDN                map[string][]serviceID // the slots of each service, by its FQDN
}

// addSlot gives the global service at owner in zt a slot.
func (l *layout) addSlot(zt *zoneTable, owner string, cfg ServiceConfig) serviceID {
	l.slots = append(l.slots, serviceSlot{zone: zt, owner: owner, cfg: cfg})
	id := serviceID(len(l.slots))
	l.byFQDN[cfg.FQDN] = append(l.byFQDN[cfg.FQDN], id)
	return id
}

// compileService compiles the answers of slot id for plan, signed when its
// zone is.
func (l *layout) compileService(id serviceID, plan *model.Plan) (*service, error) {
	slot := &l.slots[id-1]
	svc := compileService(slot.owner, slot.cfg, plan, slot.zone, l.stats)
	if err := signService(svc, slot.owner); err != nil {
		return nil, err
	}
	return svc, nil
}

// serviceChunkBits sets the chunks of a serviceSet: 64 services each, so
// that a table of 2,000 services copies 32 chunk pointers and one chunk for
// a Plan that changes one service.
const serviceChunkBits = 6

type serviceChunk [1 << serviceChunkBits]*service

// serviceSet holds a table's services by serviceID, in chunks that the
// tables of later Plans share while their services are unchanged. It is
// immutable once built.
type serviceSet []*serviceChunk

func newServiceSet(svcs []*service) serviceSet {
	s := make(serviceSet, (len(svcs)+len(serviceChunk{})-1)>>serviceChunkBits)
	chunks := make([]serviceChunk, len(s))
	for i := range s {
		s[i] = &chunks[i]
		copy(s[i][:], svcs[i<<serviceChunkBits:])
	}
	return s
}

// get returns the service of id, which is not 0.
func (s serviceSet) get(id serviceID) *service {
	i := int(id - 1)
	return s[i>>serviceChunkBits][i&(len(serviceChunk{})-1)]
}

// with returns a copy of s in which the services of ids are svcs; the
// chunks it does not touch are shared.
func (s serviceSet) with(ids []serviceID, svcs []*service) serviceSet {
	if len(ids) == 0 {
		return s
	}
	out := slices.Clone(s)
	copied := make([]bool, len(s))
	for k, id := range ids {
		i := int(id - 1)
		c := i >> serviceChunkBits
		if !copied[c] {
			chunk := *out[c]
			out[c], copied[c] = &chunk, true
		}
		out[c][i&(len(serviceChunk{})-1)] = svcs[k]
	}
	return out
}

// service returns the answers of the global service id (not 0).
func (t *table) service(id serviceID) *service { return t.services.get(id) }

// reusable reports whether the table of plan, with zones and the chaos
// texts, can be built from t (withPlan): t was compiled for the same
// version of the zones and texts, plan places clients as t's Plan does,
// and no signer asks for the sweep only a full compile does.
func (t *table) reusable(zs *Zones, plan *model.Plan, chaosVersion, chaosID string) bool {
	l := t.layout
	return l.zones == zs && l.chaosVersion == chaosVersion && l.chaosID == chaosID &&
		t.plan != nil && plan != nil && samePlacement(t.plan, plan) && !zs.signaturesPiledUp()
}

// withPlan returns the table of plan built from t, which is reusable for
// it: the services whose plan plan changed are compiled again, the rest
// shared.
func (t *table) withPlan(plan *model.Plan) (*table, error) {
	next := &table{plan: plan, layout: t.layout, zones: t.zones, chaos: t.chaos}
	next.placeBy(plan)
	var ids []serviceID
	var svcs []*service
	for _, name := range changedServices(t.plan, plan) {
		for _, id := range t.layout.byFQDN[name] {
			svc, err := t.layout.compileService(id, plan)
			if err != nil {
				return nil, err
			}
			ids, svcs = append(ids, id), append(svcs, svc)
		}
	}
	next.services = t.services.with(ids, svcs)
	return next, nil
}

// changedServices returns the names of the services whose plan differs
// between old and next: added, removed, or not the same *ServicePlan (a
// plan is immutable, and the Solver hands on an unchanged service's).
// Both list their services sorted by name.
func changedServices(old, next *model.Plan) []string {
	var out []string
	a, b := old.Services, next.Services
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && a[i].Name < b[j].Name:
			out = append(out, a[i].Name)
			i++
		case i == len(a) || b[j].Name < a[i].Name:
			out = append(out, b[j].Name)
			j++
		default:
			if a[i] != b[j] {
				out = append(out, b[j].Name)
			}
			i++
			j++
		}
	}
	return out
}

// samePlacement reports whether a and b place every client in the same
// bucket: the same sites, subnet list and map subnets, by identity (the
// Solver hands them on while they are unchanged). A service's answers are
// per bucket, so those of a service whose plan is unchanged hold.
func samePlacement(a, b *model.Plan) bool {
	return sameSlice(a.Sites, b.Sites) && sameSlice(a.Nets, b.Nets) && sameSlice(a.NetLists, b.NetLists) &&
		sameSlice(a.MapNets, b.MapNets) && a.NetIndex == b.NetIndex
}

// sameSlice reports whether a and b are the same slice: the same array
// and length.
func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// signaturesPiledUp reports whether a signed zone's signer holds many more
// signatures than the last full compile used: the incremental compiles,
// which sweep nothing, made them for records since replaced. The next
// compile is then a full one, whose sweep drops them.
func (zs *Zones) signaturesPiledUp() bool {
	if zs == nil {
		return false
	}
	for _, z := range zs.zones {
		if z.signer != nil && z.signer.piledUp() {
			return true
		}
	}
	return false
}
