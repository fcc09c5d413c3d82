package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNotReadyPodsAreCountedTerminatingOnesAreNot counts the endpoints of
// two slices of one Service (dual-stack: each pod in both) by their
// conditions: ready, not ready (expected capacity, as capacity spill
// counts it), terminating (leaving on purpose: neither, even while still
// serving), and a pod ready in one slice and not in the other (ready).
func TestNotReadyPodsAreCountedTerminatingOnesAreNot(t *testing.T) {
	yes, no := true, false
	ep := func(pod, addr string, ready, serving, terminating *bool) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: []string{addr}, TargetRef: &corev1.ObjectReference{Namespace: "ns", Name: pod},
			Conditions: discoveryv1.EndpointConditions{Ready: ready, Serving: serving, Terminating: terminating}}
	}
	v4 := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app-v4", Labels: map[string]string{discoveryv1.LabelServiceName: "app"}},
		Endpoints: []discoveryv1.Endpoint{
			ep("ready", "10.0.0.1", &yes, &yes, &no),
			ep("unset", "10.0.0.2", nil, nil, nil), // conditions unknown: ready, as Kubernetes says
			ep("starting", "10.0.0.3", &no, &no, &no),
			ep("failing", "10.0.0.4", &no, &no, nil),
			ep("leaving", "10.0.0.5", &no, &yes, &yes),
			ep("leaving-done", "10.0.0.6", &no, &no, &yes),
			ep("flapping", "10.0.0.7", &yes, &yes, &no),
		}}
	v6 := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app-v6", Labels: map[string]string{discoveryv1.LabelServiceName: "app"}},
		Endpoints: []discoveryv1.Endpoint{
			ep("starting", "fd00::3", &no, &no, &no),
			ep("flapping", "fd00::7", &no, &no, &no), // ready in the other slice
		}}
	key := objectKey{"ns", "app"}
	s := &snapshot{slices: map[objectKey][]*slimEndpointSlice{key: {
		slimEndpointSliceOf(v4).(*slimEndpointSlice), slimEndpointSliceOf(v6).(*slimEndpointSlice)}}}
	pc := s.readyPods(map[objectKey]bool{key: true})
	if pc.total != 3 || pc.notReady != 2 {
		t.Errorf("ready %d, not ready %d; want 3 ready (ready, unset, flapping) and 2 not ready (starting, failing)", pc.total, pc.notReady)
	}
}
