package xds

import (
	"maps"
	"strconv"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// xdsType is one of the four resource types Meridian serves. Their order
// is the order a stream sends what is due: clusters first, then their
// endpoints, then the listeners and routes that may refer to them, so
// that a client learns of a new cluster before a route sends traffic to
// it (make before break, as Envoy recommends for ADS).
type xdsType uint8

const (
	cdsType xdsType = iota
	edsType
	ldsType
	rdsType
	numTypes
)

var typeURLs = [numTypes]string{resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType}

// typeOf returns the xdsType of a type URL; ok is false for a type
// Meridian does not serve.
func typeOf(url string) (t xdsType, ok bool) {
	for i, u := range typeURLs {
		if u == url {
			return xdsType(i), true
		}
	}
	return 0, false
}

// fullState reports whether a state-of-the-world response of the type
// carries every resource the client subscribes to (listeners, clusters),
// not only those that changed (xDS protocol, "Grouping Resources into
// Responses").
func (t xdsType) fullState() bool { return t == cdsType || t == ldsType }

// encoded is a resource as rendered: its deterministic encoding, and the
// hash of it, which is its version.
type encoded struct {
	bytes []byte
	hash  uint64
}

// entry is a resource as sent: its encoding in an Any that every response
// carrying it shares, and its version.
type entry struct {
	any     *anypb.Any
	version string
}

// groupResources are one node group's resources, by type and name, as
// every stream of the group is sent them, and the group's streams, which
// hear of each change. A stream computes its responses from here when it
// is ready to send, so a change costs the publisher a mark per stream,
// and each stream only the resources it is due.
type groupResources struct {
	// prefix starts the group's versions: the process's epoch and a count
	// of the groups made, so that a client never takes a version of a
	// group dropped earlier, or of another process, for the current one's.
	prefix string

	mu       sync.RWMutex
	res      [numTypes]map[string]entry
	versions [numTypes]uint64 // counts the changes of each type

	smu     sync.Mutex // guards streams; taken before a stream's mu, never after
	streams map[*adsStream]struct{}
}

func newGroupResources(prefix string) *groupResources {
	g := &groupResources{prefix: prefix, streams: map[*adsStream]struct{}{}}
	for t := range g.res {
		g.res[t] = map[string]entry{}
	}
	return g
}

// version is the version of the group's resources of type t. Callers
// hold g.mu.
func (g *groupResources) version(t xdsType) string {
	return g.prefix + strconv.FormatUint(g.versions[t], 10)
}

// apply sets and removes resources of type t, then tells the group's
// streams that subscribe to t.
func (g *groupResources) apply(t xdsType, update map[string]encoded, remove []string) {
	if len(update) == 0 && len(remove) == 0 {
		return
	}
	g.mu.Lock()
	m := g.res[t]
	for name, e := range update {
		m[name] = entry{any: &anypb.Any{TypeUrl: typeURLs[t], Value: e.bytes}, version: strconv.FormatUint(e.hash, 36)}
	}
	for _, name := range remove {
		delete(m, name)
	}
	g.versions[t]++
	g.mu.Unlock()

	g.smu.Lock()
	defer g.smu.Unlock()
	for st := range g.streams {
		st.changed(t)
	}
}

// join and leave add and remove a stream of the group.
func (g *groupResources) join(st *adsStream) {
	g.smu.Lock()
	g.streams[st] = struct{}{}
	g.smu.Unlock()
}

func (g *groupResources) leave(st *adsStream) {
	g.smu.Lock()
	delete(g.streams, st)
	g.smu.Unlock()
}

// held returns the group's resources of type t, for tests.
func (g *groupResources) held(t xdsType) map[string]entry {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return maps.Clone(g.res[t])
}
