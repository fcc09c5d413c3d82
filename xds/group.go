package xds

import (
	"path"
	"slices"
	"strings"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// Role is the kind of xDS client a node is; it decides which resources the
// node gets.
type Role uint8

const (
	// Sidecar: sidecars and east-west gateways inside member clusters,
	// sent to pods or to other clusters' east-west gateways.
	Sidecar Role = iota
	// Gateway: an Envoy or Istio ingress gateway in front of every
	// cluster, sent to the clusters' ingress addresses.
	Gateway
	// GRPC: a proxyless gRPC client, which gets api_listeners and the
	// Plan's shares already spilled, since it cannot compute Envoy's spill.
	GRPC
)

var roleNames = [...]string{Sidecar: "sidecar", Gateway: "gateway", GRPC: "grpc"}

func (r Role) String() string { return roleNames[r] }

// Metadata keys a node may set to say what it is.
const (
	// RoleKey is node metadata naming the node's role: "gateway",
	// "sidecar" or "grpc".
	RoleKey = "meridian.io/role"
	// noOverprovisioning is the client feature of gRPC clients (gRFC A27):
	// they ignore the overprovisioning factor and priorities' health.
	noOverprovisioning = "envoy.lb.does_not_support_overprovisioning"
)

// Group is a set of nodes that get the same resources: the same role in
// the same locality. Resources are kept per group, not per node, so a
// thousand gateways in five regions share five sets.
type Group struct {
	Role   Role
	Region string
	Zone   string
}

// String names the group, as used in resource names and metrics.
func (g Group) String() string { return g.Role.String() + "/" + g.Region + "/" + g.Zone }

// Classifier tells the group of a node.
type Classifier struct {
	// GatewayNodes are path.Match patterns of node clusters or ids whose
	// nodes are gateways.
	GatewayNodes []string
}

// GroupOf returns the group of a node: its role from its metadata
// (meridian.io/role), else from its client features (gRPC), else from the
// gateway patterns, else Sidecar; its locality as it declares it.
func (c Classifier) GroupOf(n *core.Node) Group {
	g := Group{Role: Sidecar, Region: n.GetLocality().GetRegion(), Zone: n.GetLocality().GetZone()}
	switch {
	case roleFromMetadata(n, &g.Role):
	case slices.Contains(n.GetClientFeatures(), noOverprovisioning):
		g.Role = GRPC
	case c.isGateway(n):
		g.Role = Gateway
	}
	return g
}

func roleFromMetadata(n *core.Node, role *Role) bool {
	v, ok := n.GetMetadata().GetFields()[RoleKey]
	if !ok {
		return false
	}
	i := slices.Index(roleNames[:], strings.ToLower(v.GetStringValue()))
	if i < 0 {
		return false
	}
	*role = Role(i)
	return true
}

func (c Classifier) isGateway(n *core.Node) bool {
	for _, p := range c.GatewayNodes {
		if ok, _ := path.Match(p, n.GetCluster()); ok {
			return true
		}
		if ok, _ := path.Match(p, n.GetId()); ok {
			return true
		}
	}
	return false
}
