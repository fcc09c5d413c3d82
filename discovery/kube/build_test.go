package kube

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	istioapi "istio.io/api/networking/v1"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	gwapi "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/meridian-gtm/meridian/model"
)

// TestBuild runs the pure builder on objects as the informers hold them
// (slimmed by the same functions), without an API server. Each backend is
// written as one line:
//
//	SERVICE CLUSTER ingress=ADDR[@ZONE],... pods=READY notready=N zones=ZONE:N,... ips=ADDR,...
func TestBuild(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objects []any
		named   []Named
		want    []string
	}{{
		name:    "nothing global",
		objects: []any{lbService("web", "app", nil, "192.0.2.1"), endpoints("web", "app", "s1", pod("p1", "10.0.0.1", "a", "", ready))},
		want:    nil,
	}, {
		name: "a load balancer Service counts its ready pods, and its not ready ones apart",
		objects: []any{
			lbService("web", "app", global("App.GSLB.example.com."), "192.0.2.2", "192.0.2.1"),
			endpoints("web", "app", "s1",
				pod("p1", "10.0.0.1", "zone-a", "", ready), pod("p2", "10.0.0.2", "zone-b", "", ready),
				pod("p3", "10.0.0.3", "zone-b", "", notReady), pod("p4", "10.0.0.4", "zone-a", "", terminating)),
		},
		want: []string{"app.gslb.example.com c1 ingress=192.0.2.1,192.0.2.2 pods=2 notready=1 zones=zone-a:1,zone-b:1 ips=10.0.0.1,10.0.0.2"},
	}, {
		name: "one object, two names",
		objects: []any{
			lbService("web", "app", global("b.example.com, a.example.com"), "192.0.2.1"),
			endpoints("web", "app", "s1", pod("p1", "10.0.0.1", "", "", ready)),
		},
		want: []string{
			"a.example.com c1 ingress=192.0.2.1 pods=1 notready=0 zones= ips=10.0.0.1",
			"b.example.com c1 ingress=192.0.2.1 pods=1 notready=0 zones= ips=10.0.0.1",
		},
	}, {
		name: "a dual-stack pod in two slices counts once",
		objects: []any{
			lbService("web", "app", global("app.example.com"), "192.0.2.1"),
			endpoints("web", "app", "v4", pod("p1", "10.0.0.1", "z", "", ready)),
			endpoints("web", "app", "v6", pod("p1", "fd00::1", "z", "", ready)),
			// Not ready in one slice, ready in the other: ready.
			endpoints("web", "app", "v4b", pod("p2", "10.0.0.2", "z", "", notReady)),
			endpoints("web", "app", "v6b", pod("p2", "fd00::2", "z", "", ready)),
		},
		want: []string{"app.example.com c1 ingress=192.0.2.1 pods=2 notready=0 zones=z:2 ips=10.0.0.1,fd00::1,fd00::2"},
	}, {
		name: "a Service named in the config, without the annotation",
		objects: []any{
			lbService("web", "app", nil, "192.0.2.1"),
			lbService("web", "other", nil, "192.0.2.9"),
			endpoints("web", "app", "s1", pod("p1", "10.0.0.1", "", "", ready)),
		},
		named: []Named{{Kind: KindService, Namespace: "web", Name: "app", Service: "named.example.com"},
			{Kind: KindIngress, Namespace: "web", Name: "other", Service: "wrong-kind.example.com"}},
		want: []string{"named.example.com c1 ingress=192.0.2.1 pods=1 notready=0 zones= ips=10.0.0.1"},
	}, {
		name: "load balancer hostnames are resolved",
		objects: []any{
			lbServiceHost("web", "app", global("app.example.com"), "LB.Example.NET."),
			endpoints("web", "app", "s1", pod("p1", "10.0.0.1", "", "", ready)),
		},
		want: []string{"app.example.com c1 ingress=198.51.100.1,198.51.100.2 pods=1 notready=0 zones= ips=10.0.0.1"},
	}, {
		name: "a NodePort Service leads in through the ready nodes of its ready pods",
		objects: []any{
			nodePortService("web", "app", global("np.example.com")),
			endpoints("web", "app", "s1",
				pod("p1", "10.0.0.1", "zone-a", "n1", ready), pod("p2", "10.0.0.2", "zone-b", "n2", ready),
				pod("p3", "10.0.0.3", "zone-b", "n3", ready), pod("p4", "10.0.0.4", "zone-c", "n4", notReady)),
			node("n1", "eu", "zone-a", true, "203.0.113.1", "172.16.0.1"),
			node("n2", "eu", "zone-b", true, "", "172.16.0.2"),   // no external address: the internal one
			node("n3", "eu", "zone-b", false, "203.0.113.3", ""), // not ready
			node("n4", "eu", "zone-c", true, "203.0.113.4", ""),  // runs no ready pod
		},
		want: []string{"np.example.com c1 ingress=172.16.0.2@zone-b,203.0.113.1@zone-a pods=3 notready=1 zones=zone-a:1,zone-b:2 ips=10.0.0.1,10.0.0.2,10.0.0.3"},
	}, {
		name: "the backend-service annotation takes the pods of another Service",
		objects: []any{
			lbService("edge", "lb", map[string]string{AnnotationGlobalName: "here.example.com", AnnotationBackend: "pods"}, "192.0.2.1"),
			lbService("edge", "lb2", map[string]string{AnnotationGlobalName: "there.example.com", AnnotationBackend: "web/app"}, "192.0.2.2"),
			endpoints("edge", "lb", "s0", pod("x", "10.9.9.9", "", "", ready)),
			endpoints("edge", "pods", "s1", pod("p1", "10.0.0.1", "", "", ready)),
			endpoints("web", "app", "s2", pod("p2", "10.0.0.2", "", "", ready), pod("p3", "10.0.0.3", "", "", ready)),
		},
		want: []string{
			"here.example.com c1 ingress=192.0.2.1 pods=1 notready=0 zones= ips=10.0.0.1",
			"there.example.com c1 ingress=192.0.2.2 pods=2 notready=0 zones= ips=10.0.0.2,10.0.0.3",
		},
	}, {
		name: "an Ingress: its load balancer, the pods of the Services it routes to",
		objects: []any{
			ingress("web", "in", global("in.example.com"), []string{"a", "b", "a"}, "192.0.2.5"),
			endpoints("web", "a", "s1", pod("p1", "10.0.0.1", "", "", ready)),
			endpoints("web", "b", "s2", pod("p2", "10.0.0.2", "", "", ready)),
			endpoints("web", "c", "s3", pod("p3", "10.0.0.3", "", "", ready)),
		},
		want: []string{"in.example.com c1 ingress=192.0.2.5 pods=2 notready=0 zones= ips=10.0.0.1,10.0.0.2"},
	}, {
		name: "an Istio Gateway: the Services fronting its pods, the destinations of its VirtualServices",
		objects: []any{
			istioGateway("istio-system", "gw", global("mesh.example.com"), map[string]string{"istio": "ingress"}),
			selecting(lbService("istio-system", "ingress", nil, "192.0.2.7"), map[string]string{"istio": "ingress", "app": "x"}),
			selecting(lbService("istio-system", "other", nil, "192.0.2.8"), map[string]string{"istio": "egress"}),
			virtualService("web", "vs", []string{"istio-system/gw"}, "app", "api.shop.svc.cluster.local", "external.example.org"),
			virtualService("web", "unrelated", []string{"istio-system/other"}, "c"),
			endpoints("web", "app", "s1", pod("p1", "10.0.0.1", "", "", ready)),
			endpoints("shop", "api", "s2", pod("p2", "10.0.0.2", "", "", ready)),
			endpoints("web", "c", "s3", pod("p3", "10.0.0.3", "", "", ready)),
		},
		want: []string{"mesh.example.com c1 ingress=192.0.2.7 pods=2 notready=0 zones= ips=10.0.0.1,10.0.0.2"},
	}, {
		name: "a Gateway API Gateway: its addresses, the backends of its HTTPRoutes",
		objects: []any{
			gateway("infra", "gw", global("gw.example.com"), "192.0.2.9", "lb.example.net"),
			httpRoute("web", "r", []string{"infra/gw"}, "app"),
			httpRoute("web", "other", []string{"infra/elsewhere"}, "c"),
			endpoints("web", "app", "s1", pod("p1", "10.0.0.1", "", "", ready)),
			endpoints("web", "c", "s2", pod("p2", "10.0.0.2", "", "", ready)),
		},
		want: []string{"gw.example.com c1 ingress=192.0.2.9,198.51.100.1,198.51.100.2 pods=1 notready=0 zones= ips=10.0.0.1"},
	}, {
		name: "objects of different kinds with one name add up",
		objects: []any{
			lbService("a", "app", global("one.example.com"), "192.0.2.1"),
			ingress("b", "in", global("one.example.com"), []string{"app"}, "192.0.2.2"),
			endpoints("a", "app", "s1", pod("p1", "10.0.0.1", "", "", ready)),
			endpoints("b", "app", "s2", pod("p2", "10.0.0.2", "", "", ready)),
		},
		want: []string{"one.example.com c1 ingress=192.0.2.1,192.0.2.2 pods=2 notready=0 zones= ips=10.0.0.1,10.0.0.2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, b := range build("c1", snapshotOf(tc.objects...), tc.named, fakeResolver) {
				got = append(got, describe(b))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("backends:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// fakeResolver knows one name.
func fakeResolver(host string) []netip.Addr {
	if host == "lb.example.net" {
		return []netip.Addr{netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.1")}
	}
	return nil
}

// describe writes a backend as one line (the form TestBuild's cases use).
func describe(b model.Backend) string {
	zoneOf := map[netip.Addr]string{}
	for _, z := range b.IngressZones {
		zoneOf[z.Addr] = z.Zone
	}
	var ingress, zones, ips []string
	for _, a := range b.Ingress {
		s := a.String()
		if z, ok := zoneOf[a]; ok {
			s += "@" + z
		}
		ingress = append(ingress, s)
	}
	for _, z := range b.ZonePods {
		zones = append(zones, fmt.Sprintf("%s:%d", z.Zone, z.ReadyPods))
	}
	for _, a := range b.PodIPs {
		ips = append(ips, a.String())
	}
	slices.Sort(ingress) // IngressZones are sorted by NewInventory, not build
	return fmt.Sprintf("%s %s ingress=%s pods=%d notready=%d zones=%s ips=%s", b.Service, b.Cluster,
		strings.Join(ingress, ","), b.ReadyPods, b.NotReadyPods, strings.Join(zones, ","), strings.Join(ips, ","))
}

// snapshotOf slims Kubernetes objects as the informers' transforms do and
// files them as cluster.snapshot does.
func snapshotOf(objs ...any) *snapshot {
	s := &snapshot{services: map[objectKey]*slimService{}, slices: map[objectKey][]*slimEndpointSlice{}, nodes: map[string]*slimNode{}}
	for _, o := range objs {
		switch o := o.(type) {
		case *corev1.Service:
			v := slimServiceOf(o).(*slimService)
			s.services[v.objectKey] = v
		case *discoveryv1.EndpointSlice:
			v := slimEndpointSliceOf(o).(*slimEndpointSlice)
			s.slices[v.service] = append(s.slices[v.service], v)
		case *corev1.Node:
			v := slimNodeOf(o).(*slimNode)
			s.nodes[v.name] = v
		case *networkingv1.Ingress:
			s.ingresses = append(s.ingresses, slimIngressOf(o).(*slimIngress))
		case *istionet.Gateway:
			s.istioGateways = append(s.istioGateways, slimIstioGatewayOf(o).(*slimIstioGateway))
		case *istionet.VirtualService:
			s.virtualServices = append(s.virtualServices, slimVirtualServiceOf(o).(*slimVirtualService))
		case *gwapi.Gateway:
			s.gateways = append(s.gateways, slimGatewayOf(o).(*slimGateway))
		case *gwapi.HTTPRoute:
			s.routes = append(s.routes, slimHTTPRouteOf(o).(*slimHTTPRoute))
		default:
			panic(fmt.Sprintf("snapshotOf: %T", o))
		}
	}
	return s
}

func meta(ns, name string, annotations map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations}
}

func lbService(ns, name string, annotations map[string]string, ips ...string) *corev1.Service {
	s := &corev1.Service{ObjectMeta: meta(ns, name, annotations), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func selecting(s *corev1.Service, selector map[string]string) *corev1.Service {
	s.Spec.Selector = selector
	return s
}

func lbServiceHost(ns, name string, annotations map[string]string, hostname string) *corev1.Service {
	s := lbService(ns, name, annotations)
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{Hostname: hostname}}
	return s
}

func nodePortService(ns, name string, annotations map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: meta(ns, name, annotations), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}
}

// Endpoint conditions.
const (
	ready = iota
	notReady
	terminating
)

func pod(name, addr, zone, node string, state int) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{addr}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "pods", Name: name},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr(state == ready), Terminating: ptr(state == terminating)}}
	if zone != "" {
		e.Zone = ptr(zone)
	}
	if node != "" {
		e.NodeName = ptr(node)
	}
	return e
}

func endpoints(ns, service, name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		Endpoints: eps}
}

func node(name, region, zone string, isReady bool, external, internal string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelTopologyRegion: region, corev1.LabelTopologyZone: zone}}}
	status := corev1.ConditionFalse
	if isReady {
		status = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status}}
	if external != "" {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: external})
	}
	if internal != "" {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: internal})
	}
	return n
}

func ingress(ns, name string, annotations map[string]string, services []string, ip string) *networkingv1.Ingress {
	in := &networkingv1.Ingress{ObjectMeta: meta(ns, name, annotations)}
	var paths []networkingv1.HTTPIngressPath
	for _, s := range services {
		paths = append(paths, networkingv1.HTTPIngressPath{Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: s}}})
	}
	in.Spec.Rules = []networkingv1.IngressRule{{IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}}
	in.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: ip}}
	return in
}

func istioGateway(ns, name string, annotations, selector map[string]string) *istionet.Gateway {
	g := &istionet.Gateway{ObjectMeta: meta(ns, name, annotations)}
	g.Spec.Selector = selector
	return g
}

func virtualService(ns, name string, gateways []string, hosts ...string) *istionet.VirtualService {
	vs := &istionet.VirtualService{ObjectMeta: meta(ns, name, nil)}
	vs.Spec.Gateways = gateways
	route := &istioapi.HTTPRoute{}
	for _, h := range hosts {
		route.Route = append(route.Route, &istioapi.HTTPRouteDestination{Destination: &istioapi.Destination{Host: h}})
	}
	vs.Spec.Http = []*istioapi.HTTPRoute{route}
	return vs
}

func gateway(ns, name string, annotations map[string]string, ip, hostname string) *gwapi.Gateway {
	g := &gwapi.Gateway{ObjectMeta: meta(ns, name, annotations)}
	g.Status.Addresses = []gwapi.GatewayStatusAddress{{Type: ptr(gwapi.IPAddressType), Value: ip}, {Type: ptr(gwapi.HostnameAddressType), Value: hostname}}
	return g
}

func httpRoute(ns, name string, parents []string, backends ...string) *gwapi.HTTPRoute {
	r := &gwapi.HTTPRoute{ObjectMeta: meta(ns, name, nil)}
	for _, p := range parents {
		pns, pname, _ := strings.Cut(p, "/")
		r.Spec.ParentRefs = append(r.Spec.ParentRefs, gwapi.ParentReference{Namespace: ptr(gwapi.Namespace(pns)), Name: gwapi.ObjectName(pname)})
	}
	var refs []gwapi.HTTPBackendRef
	for _, b := range backends {
		refs = append(refs, gwapi.HTTPBackendRef{BackendRef: gwapi.BackendRef{BackendObjectReference: gwapi.BackendObjectReference{Name: gwapi.ObjectName(b)}}})
	}
	r.Spec.Rules = []gwapi.HTTPRouteRule{{BackendRefs: refs}}
	return r
}
