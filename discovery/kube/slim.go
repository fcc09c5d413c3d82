package kube

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meridian-gtm/meridian/model"
)

// The informers store these small structs, not the Kubernetes objects: each
// keeps only what building the Inventory needs, so that memory stays flat
// as clusters grow. Add a field only when the builder reads it.

// Annotations Meridian reads.
const (
	// AnnotationGlobalName names the global services an object serves,
	// comma-separated: "app.gslb.example.com,www.gslb.example.com".
	AnnotationGlobalName = "meridian.io/global-name"
	// AnnotationBackend names the Service whose ready endpoints count as
	// the global service's pods: "name" (same namespace) or "namespace/name".
	AnnotationBackend = "meridian.io/backend-service"
	// AnnotationIngressNodes, "true" on a Service, makes the nodes that run
	// its ready endpoints its ingress addresses: ingress controllers on
	// hostNetwork. NodePort Services get this without the annotation.
	AnnotationIngressNodes = "meridian.io/ingress-nodes"
)

// objectKey is namespace/name.
type objectKey struct{ namespace, name string }

func (k objectKey) String() string { return k.namespace + "/" + k.name }

// GetObjectMeta gives informer stores the key of a slim object: they index
// objects by namespace and name through metav1.Object, and would drop a
// struct without it.
func (k objectKey) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: k.namespace, Name: k.name}
}

// source is what every kind of global-service object has in common.
type source struct {
	key         objectKey
	objectKey            // the same, for GetObjectMeta
	globalNames []string // from the annotation, lower case, without final dots
	backend     string   // the backend-service annotation
}

// address is a load balancer ingress entry: an IP or a hostname.
type address struct {
	ip       netip.Addr
	hostname string
}

type slimService struct {
	source
	nodePort     bool // type NodePort, or ingress on nodes by annotation
	loadBalancer []address
	selector     map[string]string
}

type slimIngress struct {
	source
	backends     []objectKey
	loadBalancer []address
}

type slimEndpointSlice struct {
	objectKey // the slice's own
	service   objectKey
	endpoints []slimEndpoint
}

type slimEndpoint struct {
	pod   string // the target pod's name, to count dual-stack pods once
	addrs []netip.Addr
	zone  string
	node  string
	ready bool // ready and not terminating
	// notReady: should serve but is not ready (starting, or failing its
	// readiness probe). Kubernetes marks a terminating endpoint not ready
	// too (conditions.terminating true, serving perhaps still true); it is
	// leaving on purpose, so it is neither ready nor expected.
	notReady bool
}

type slimIstioGateway struct {
	source
	selector map[string]string
}

type slimVirtualService struct {
	objectKey
	gateways []objectKey
	hosts    []objectKey // route destinations, as services
}

type slimGateway struct {
	source
	addresses []address
}

type slimHTTPRoute struct {
	objectKey
	parents  []objectKey
	backends []objectKey
}

type slimNode struct {
	objectKey    // the name; nodes have no namespace
	name         string
	region, zone string
	ready        bool
	external     []netip.Addr
	internal     []netip.Addr
}

// transform returns a TransformFunc that slims objects of one kind with f,
// tombstones included.
func transform[T any](f func(T) any) cache.TransformFunc {
	return func(obj any) (any, error) {
		switch o := obj.(type) {
		case T:
			return f(o), nil
		case cache.DeletedFinalStateUnknown:
			if t, ok := o.Obj.(T); ok {
				o.Obj = f(t)
			}
			return o, nil
		}
		return obj, nil // already slim: informers may transform twice
	}
}

func sourceOf(namespace, name string, annotations map[string]string) source {
	s := source{objectKey: objectKey{namespace, name}, backend: annotations[AnnotationBackend]}
	for _, n := range strings.Split(annotations[AnnotationGlobalName], ",") {
		if n = model.CanonicalName(strings.TrimSpace(n)); n != "" {
			s.globalNames = append(s.globalNames, n)
		}
	}
	slices.Sort(s.globalNames)
	return s
}

func slimServiceOf(s *corev1.Service) any {
	out := &slimService{
		source:   sourceOf(s.Namespace, s.Name, s.Annotations),
		nodePort: s.Spec.Type == corev1.ServiceTypeNodePort || s.Annotations[AnnotationIngressNodes] == "true",
		selector: s.Spec.Selector,
	}
	for _, in := range s.Status.LoadBalancer.Ingress {
		out.loadBalancer = appendAddress(out.loadBalancer, in.IP, in.Hostname)
	}
	return out
}

func appendAddress(out []address, ip, hostname string) []address {
	if a, err := netip.ParseAddr(ip); err == nil {
		return append(out, address{ip: a.Unmap()})
	}
	if hostname != "" {
		return append(out, address{hostname: model.CanonicalName(hostname)})
	}
	return out
}

func slimIngressOf(in *networkingv1.Ingress) any {
	out := &slimIngress{source: sourceOf(in.Namespace, in.Name, in.Annotations)}
	add := func(b *networkingv1.IngressBackend) {
		if b != nil && b.Service != nil {
			k := objectKey{in.Namespace, b.Service.Name}
			if !slices.Contains(out.backends, k) {
				out.backends = append(out.backends, k)
			}
		}
	}
	add(in.Spec.DefaultBackend)
	for _, r := range in.Spec.Rules {
		if r.HTTP != nil {
			for _, p := range r.HTTP.Paths {
				add(&p.Backend)
			}
		}
	}
	for _, lb := range in.Status.LoadBalancer.Ingress {
		out.loadBalancer = appendAddress(out.loadBalancer, lb.IP, lb.Hostname)
	}
	return out
}

func slimEndpointSliceOf(es *discoveryv1.EndpointSlice) any {
	out := &slimEndpointSlice{objectKey: objectKey{es.Namespace, es.Name}, service: objectKey{es.Namespace, es.Labels[discoveryv1.LabelServiceName]}}
	for _, e := range es.Endpoints {
		terminating := e.Conditions.Terminating != nil && *e.Conditions.Terminating
		ready := e.Conditions.Ready == nil || *e.Conditions.Ready
		se := slimEndpoint{ready: ready && !terminating, notReady: !ready && !terminating}
		if e.TargetRef != nil {
			se.pod = e.TargetRef.Namespace + "/" + e.TargetRef.Name
		}
		if e.Zone != nil {
			se.zone = *e.Zone
		}
		if e.NodeName != nil {
			se.node = *e.NodeName
		}
		for _, a := range e.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				se.addrs = append(se.addrs, ip.Unmap())
			}
		}
		out.endpoints = append(out.endpoints, se)
	}
	return out
}

func slimIstioGatewayOf(g *istionet.Gateway) any {
	return &slimIstioGateway{source: sourceOf(g.Namespace, g.Name, g.Annotations), selector: g.Spec.GetSelector()}
}

func slimVirtualServiceOf(vs *istionet.VirtualService) any {
	out := &slimVirtualService{objectKey: objectKey{vs.Namespace, vs.Name}}
	for _, g := range vs.Spec.GetGateways() {
		ns, name, ok := strings.Cut(g, "/")
		if !ok {
			ns, name = vs.Namespace, g
		}
		out.gateways = append(out.gateways, objectKey{ns, name})
	}
	for _, h := range vs.Spec.GetHttp() {
		for _, r := range h.GetRoute() {
			if d := r.GetDestination(); d != nil {
				if k, ok := serviceHost(d.GetHost(), vs.Namespace); ok && !slices.Contains(out.hosts, k) {
					out.hosts = append(out.hosts, k)
				}
			}
		}
	}
	return out
}

// serviceHost reads a VirtualService destination host as a Service:
// "name", "name.namespace" or "name.namespace.svc[.cluster.local]".
func serviceHost(host, namespace string) (objectKey, bool) {
	parts := strings.Split(host, ".")
	switch {
	case len(parts) == 1:
		return objectKey{namespace, parts[0]}, true
	case len(parts) == 2 || len(parts) >= 3 && parts[2] == "svc":
		return objectKey{parts[1], parts[0]}, true
	}
	return objectKey{}, false // an external host
}

func slimGatewayOf(g *gwapi.Gateway) any {
	out := &slimGateway{source: sourceOf(g.Namespace, g.Name, g.Annotations)}
	for _, a := range g.Status.Addresses {
		if a.Type != nil && *a.Type == gwapi.HostnameAddressType {
			out.addresses = appendAddress(out.addresses, "", a.Value)
		} else {
			out.addresses = appendAddress(out.addresses, a.Value, "")
		}
	}
	return out
}

func slimHTTPRouteOf(r *gwapi.HTTPRoute) any {
	out := &slimHTTPRoute{objectKey: objectKey{r.Namespace, r.Name}}
	for _, p := range r.Spec.ParentRefs {
		ns := r.Namespace
		if p.Namespace != nil {
			ns = string(*p.Namespace)
		}
		out.parents = append(out.parents, objectKey{ns, string(p.Name)})
	}
	for _, rule := range r.Spec.Rules {
		for _, b := range rule.BackendRefs {
			if b.Kind != nil && *b.Kind != "Service" {
				continue
			}
			ns := r.Namespace
			if b.Namespace != nil {
				ns = string(*b.Namespace)
			}
			if k := (objectKey{ns, string(b.Name)}); !slices.Contains(out.backends, k) {
				out.backends = append(out.backends, k)
			}
		}
	}
	return out
}

func slimNodeOf(n *corev1.Node) any {
	out := &slimNode{objectKey: objectKey{name: n.Name}, name: n.Name, region: n.Labels[corev1.LabelTopologyRegion], zone: n.Labels[corev1.LabelTopologyZone]}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			out.ready = c.Status == corev1.ConditionTrue
		}
	}
	for _, a := range n.Status.Addresses {
		ip, err := netip.ParseAddr(a.Address)
		if err != nil {
			continue
		}
		switch a.Type {
		case corev1.NodeExternalIP:
			out.external = append(out.external, ip.Unmap())
		case corev1.NodeInternalIP:
			out.internal = append(out.internal, ip.Unmap())
		}
	}
	return out
}
