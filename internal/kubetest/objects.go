package kubetest

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Namespace creates a namespace.
func (c *Cluster) Namespace(t testing.TB, name string) {
	t.Helper()
	_, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// Service creates a Service and, when lb is given, sets its load balancer
// status, as a cloud controller would.
func (c *Cluster) Service(t testing.TB, svc *corev1.Service, lb ...corev1.LoadBalancerIngress) {
	t.Helper()
	ctx := context.Background()
	if svc.Spec.Ports == nil {
		svc.Spec.Ports = []corev1.ServicePort{{Port: 80}}
	}
	created, err := c.Client.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lb) > 0 {
		created.Status.LoadBalancer.Ingress = lb
		if _, err := c.Client.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// Endpoints writes the EndpointSlice of a Service as the endpointslice
// controller would: ready pods spread over zones and nodes in turn, and one
// terminating pod, which must never count.
func (c *Cluster) Endpoints(t testing.TB, ns, service string, ready int, zones []string, nodes ...string) {
	t.Helper()
	ctx := context.Background()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-abc", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	yes, no := true, false
	for i := range ready {
		e := discoveryv1.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.1.%d.%d", len(service), i+1)},
			Conditions: discoveryv1.EndpointConditions{Ready: &yes},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", service, i)},
		}
		if len(zones) > 0 {
			e.Zone = &zones[i%len(zones)]
		}
		if len(nodes) > 0 {
			e.NodeName = &nodes[i%len(nodes)]
		}
		es.Endpoints = append(es.Endpoints, e)
	}
	es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.9.9.9"},
		Conditions: discoveryv1.EndpointConditions{Ready: &no, Terminating: &yes}})
	slices := c.Client.DiscoveryV1().EndpointSlices(ns)
	cur, err := slices.Get(ctx, es.Name, metav1.GetOptions{})
	if err == nil {
		es.ResourceVersion = cur.ResourceVersion
		_, err = slices.Update(ctx, es, metav1.UpdateOptions{})
	} else {
		_, err = slices.Create(ctx, es, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatal(err)
	}
}
