package xds

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/meridian-gtm/meridian/model"
)

// assignment is a load assignment as plain data: what the renderers
// decide, which encode writes as Envoy's ClusterLoadAssignment. Making
// Envoy's message and encoding it with proto.Marshal cost five times as
// much (objects per endpoint, locality and weight, a generic encoder), and
// a whole cluster drained changes every gateway group's endpoints of every
// service. Encoding from it is cheap enough that the change check hashes
// the encoding itself, as publish does for the other resources, and only
// a changed one is copied out and published (see buildService).
type assignment struct {
	// policy: the message has a Policy with this overprovisioning
	// factor (gRPC's has none).
	policy           bool
	overprovisioning uint32
	localities       []assignedLocality
	endpoints        []assignedEndpoint
	scratch          struct {
		order, start []int
		localities   []assignedLocality
		endpoints    []assignedEndpoint
		ws           []uint64
		out          []uint32
		// encode's: the endpoints' addresses as text, the end of each,
		// and the sizes of the LbEndpoints and localities.
		ips                       []byte
		ipEnds, lbSizes, locSizes []int
	}
}

// assignedLocality is one member cluster's endpoints at one priority.
type assignedLocality struct {
	group    *model.Group // names the locality: region, zone, cluster as sub-zone
	priority uint32
	// weight is the locality's weight: 0 for the sum of its endpoints'
	// weights, until finish fits it.
	weight uint64
	n      int // endpoints; finish drops localities without any
}

// assignedEndpoint is one endpoint of a locality.
type assignedEndpoint struct {
	loc    int // the locality's index in localities as added, before finish
	addr   netip.AddrPort
	health core.HealthStatus
	weight uint64
}

var assignments = sync.Pool{New: func() any { return new(assignment) }}

// reset empties a for a new load assignment, keeping its memory.
func (a *assignment) reset() {
	a.policy, a.overprovisioning = false, 0
	a.localities, a.endpoints = a.localities[:0], a.endpoints[:0]
}

// setPolicy gives the load assignment a Policy with overprovisioning
// factor f.
func (a *assignment) setPolicy(f uint32) { a.policy, a.overprovisioning = true, f }

// locality adds a locality of member cluster g at priority p, weighted w
// (0: by its endpoints), and returns its index. It is sent only if it
// gets endpoints.
func (a *assignment) locality(g *model.Group, p uint32, w uint64) int {
	a.localities = append(a.localities, assignedLocality{group: g, priority: p, weight: w})
	return len(a.localities) - 1
}

// endpoint adds an endpoint to locality loc.
func (a *assignment) endpoint(loc int, addr netip.AddrPort, health core.HealthStatus, w uint64) {
	a.endpoints = append(a.endpoints, assignedEndpoint{loc: loc, addr: addr, health: health, weight: w})
	a.localities[loc].n++
}

// finish puts the load assignment in the order Envoy gets it, localities
// by priority then cluster, each locality's endpoints in the order they
// were added, and fits the weights into Envoy's bounds: each priority as a
// whole, by one factor for its endpoints and one for its localities, so
// that proportions hold across its localities (the endpoints of a priority
// sum to at most maxWeightSum, and so do its localities).
func (a *assignment) finish() {
	sc := &a.scratch
	sc.order = sc.order[:0]
	for i, l := range a.localities {
		if l.n > 0 {
			sc.order = append(sc.order, i)
		}
	}
	slices.SortFunc(sc.order, func(i, j int) int {
		x, y := &a.localities[i], &a.localities[j]
		return cmp.Or(cmp.Compare(x.priority, y.priority), cmp.Compare(x.group.Cluster, y.group.Cluster))
	})
	// Localities in order, and each endpoint moved after those of the
	// localities before its own (a counting sort, which keeps the order
	// within a locality).
	sc.start = slices.Grow(sc.start[:0], len(a.localities))[:len(a.localities)]
	sc.localities = sc.localities[:0]
	at := 0
	for _, i := range sc.order {
		sc.start[i] = at
		at += a.localities[i].n
		sc.localities = append(sc.localities, a.localities[i])
	}
	sc.endpoints = slices.Grow(sc.endpoints[:0], len(a.endpoints))[:len(a.endpoints)]
	for _, e := range a.endpoints {
		sc.endpoints[sc.start[e.loc]] = e
		sc.start[e.loc]++
	}
	a.localities, sc.localities = sc.localities, a.localities
	a.endpoints, sc.endpoints = sc.endpoints, a.endpoints

	for start, first := 0, 0; start < len(a.localities); {
		end, last := start, first
		for end < len(a.localities) && a.localities[end].priority == a.localities[start].priority {
			last += a.localities[end].n
			end++
		}
		eps := a.endpoints[first:last]
		sc.ws = sc.ws[:0]
		for _, e := range eps {
			sc.ws = append(sc.ws, e.weight)
		}
		sc.out = slices.Grow(sc.out[:0], len(sc.ws))[:len(sc.ws)]
		fitWeights(sc.ws, sc.out)
		for i := range eps {
			eps[i].weight = uint64(sc.out[i])
		}
		sc.ws = sc.ws[:0]
		for _, l := range a.localities[start:end] {
			var sum uint64
			for _, e := range eps[:l.n] {
				sum += e.weight
			}
			eps = eps[l.n:]
			sc.ws = append(sc.ws, cmp.Or(l.weight, sum))
		}
		sc.out = slices.Grow(sc.out[:0], len(sc.ws))[:len(sc.ws)]
		fitWeights(sc.ws, sc.out)
		for i := range sc.ws {
			a.localities[start+i].weight = uint64(sc.out[i])
		}
		start, first = end, last
	}
}

// check returns what Envoy's validation of the load assignment would
// reject: a priority above 128, a weight of 0, an overprovisioning factor
// of 0 (the rules of its proto that an assignment can break; its names
// and addresses always pass).
func (a *assignment) check() error {
	if a.policy && a.overprovisioning == 0 {
		return errors.New("overprovisioning factor 0")
	}
	for _, l := range a.localities {
		if l.priority > maxPriority {
			return fmt.Errorf("locality %s at priority %d, above %d", l.group.Cluster, l.priority, maxPriority)
		}
		if l.weight == 0 {
			return fmt.Errorf("locality %s of weight 0", l.group.Cluster)
		}
	}
	for _, e := range a.endpoints {
		if e.weight == 0 {
			return fmt.Errorf("endpoint %s of weight 0", e.addr)
		}
	}
	return nil
}

// maxPriority is the highest priority Envoy accepts.
const maxPriority = 128

// Field numbers of what encode writes, by message.
const (
	claClusterName, claEndpoints, claPolicy protowire.Number = 1, 2, 4 // ClusterLoadAssignment
	policyOverprovisioning                  protowire.Number = 3       // its Policy
	locLocality, locLbEndpoints             protowire.Number = 1, 2    // LocalityLbEndpoints
	locWeight, locPriority                  protowire.Number = 3, 5
	localityRegion, localityZone            protowire.Number = 1, 2 // Locality
	localitySubZone                         protowire.Number = 3
	lbHost, lbHealth, lbWeight              protowire.Number = 1, 2, 4 // LbEndpoint
	endpointAddress                         protowire.Number = 1       // Endpoint
	addressSocket                           protowire.Number = 1       // Address
	socketAddress, socketPort               protowire.Number = 2, 3    // SocketAddress
	uint32Value                             protowire.Number = 1       // UInt32Value
)

// encode appends to b the finished load assignment named eds: the very
// bytes proto.Marshal with Deterministic writes for the message the
// assignment stands for (TestAssignmentEncoding).
func (a *assignment) encode(b []byte, eds string) []byte {
	// Sizes first, innermost out, as each message's length precedes it.
	sc := &a.scratch
	sc.ips, sc.ipEnds = sc.ips[:0], sc.ipEnds[:0]
	for _, e := range a.endpoints {
		sc.ips = e.addr.Addr().AppendTo(sc.ips)
		sc.ipEnds = append(sc.ipEnds, len(sc.ips))
	}
	ipOf := func(i int) []byte {
		if i == 0 {
			return sc.ips[:sc.ipEnds[0]]
		}
		return sc.ips[sc.ipEnds[i-1]:sc.ipEnds[i]]
	}
	sc.lbSizes = sc.lbSizes[:0]
	sc.locSizes = sc.locSizes[:0]
	size := fieldSize(len(eds))
	for li, at := 0, 0; li < len(a.localities); li++ {
		l := &a.localities[li]
		n := fieldSize(localityBodySize(l.group)) + fieldSize(wrapperSize(l.weight)) + varintFieldSize(uint64(l.priority))
		for i := at; i < at+l.n; i++ {
			e := &a.endpoints[i]
			lb := fieldSize(hostSize(len(ipOf(i)), e.addr.Port())) + varintFieldSize(uint64(e.health)) + fieldSize(wrapperSize(e.weight))
			sc.lbSizes = append(sc.lbSizes, lb)
			n += fieldSize(lb)
		}
		at += l.n
		sc.locSizes = append(sc.locSizes, n)
		size += fieldSize(n)
	}
	if a.policy {
		size += fieldSize(fieldSize(wrapperSize(uint64(a.overprovisioning))))
	}

	b = slices.Grow(b, size)
	b = appendString(b, claClusterName, eds)
	for li, at := 0, 0; li < len(a.localities); li++ {
		l := &a.localities[li]
		b = appendLen(b, claEndpoints, sc.locSizes[li])
		b = appendLen(b, locLocality, localityBodySize(l.group))
		b = appendString(b, localityRegion, l.group.Locality.Region)
		b = appendString(b, localityZone, l.group.Locality.Zone)
		b = appendString(b, localitySubZone, l.group.Cluster)
		for i := at; i < at+l.n; i++ {
			e := &a.endpoints[i]
			ip := ipOf(i)
			b = appendLen(b, locLbEndpoints, sc.lbSizes[i])
			// Fields in number order, but a oneof's last, as Go's
			// protobuf writes them: the host, the port.
			b = appendVarint(b, lbHealth, uint64(e.health))
			b = appendWrapper(b, lbWeight, e.weight)
			b = appendLen(b, lbHost, hostSize(len(ip), e.addr.Port()))
			b = appendLen(b, endpointAddress, addressSize(len(ip), e.addr.Port()))
			b = appendLen(b, addressSocket, socketSize(len(ip), e.addr.Port()))
			b = appendLen(b, socketAddress, len(ip))
			b = append(b, ip...)
			b = protowire.AppendTag(b, socketPort, protowire.VarintType) // a oneof: sent even if 0
			b = protowire.AppendVarint(b, uint64(e.addr.Port()))
		}
		at += l.n
		b = appendWrapper(b, locWeight, l.weight)
		b = appendVarint(b, locPriority, uint64(l.priority))
	}
	if a.policy {
		b = appendLen(b, claPolicy, fieldSize(wrapperSize(uint64(a.overprovisioning))))
		b = appendWrapper(b, policyOverprovisioning, uint64(a.overprovisioning))
	}
	return b
}

// Sizes of what encode writes: fieldSize is a length-delimited field's with
// a body of n bytes (every field number here takes one byte of tag).
func fieldSize(n int) int { return 1 + protowire.SizeBytes(n) }

func varintFieldSize(v uint64) int {
	if v == 0 {
		return 0 // proto3: a zero scalar is not sent
	}
	return 1 + protowire.SizeVarint(v)
}

func wrapperSize(v uint64) int { return varintFieldSize(v) }

func stringFieldSize(s string) int {
	if s == "" {
		return 0
	}
	return fieldSize(len(s))
}

func localityBodySize(g *model.Group) int {
	return stringFieldSize(g.Locality.Region) + stringFieldSize(g.Locality.Zone) + stringFieldSize(g.Cluster)
}

func socketSize(ipLen int, port uint16) int {
	return fieldSize(ipLen) + 1 + protowire.SizeVarint(uint64(port))
}
func addressSize(ipLen int, port uint16) int { return fieldSize(socketSize(ipLen, port)) }
func hostSize(ipLen int, port uint16) int    { return fieldSize(addressSize(ipLen, port)) }

func appendLen(b []byte, num protowire.Number, n int) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendVarint(b, uint64(n))
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return append(appendLen(b, num, len(s)), s...)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

// appendWrapper appends a google.protobuf.UInt32Value field of value v:
// the message is sent even when v, its one field, is 0.
func appendWrapper(b []byte, num protowire.Number, v uint64) []byte {
	return appendVarint(appendLen(b, num, wrapperSize(v)), uint32Value, v)
}
