package kube

import (
	"testing"
	"time"

	istioapi "istio.io/api/networking/v1"
	istionet "istio.io/client-go/pkg/apis/networking/v1"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/meridian-gtm/meridian/internal/kubetest"
	"github.com/meridian-gtm/meridian/model"
)

// TestOptionalAPIsInstalledLate watches a cluster that serves neither
// Istio nor Gateway API at start; once the Istio CRDs are installed, the
// next look for them starts their informers (from the heartbeat's
// goroutine, while Inventories are being built: run it with -race), and
// an Istio Gateway's global service reaches the Inventory.
func TestOptionalAPIsInstalledLate(t *testing.T) {
	bare := kubetest.StartWithoutCRDs(t, 1)
	c := bare.Clusters[0]
	w := startDiscovery(t, Config{Clusters: []ClusterConfig{{Name: "late", KubeconfigData: c.KubeconfigData}},
		OptionalRecheck: time.Second})
	w.wait(t, "the cluster synced without Istio", func(inv model.Inventory) bool {
		cl, ok := inv.Cluster("late")
		return ok && cl.LostAt.IsZero()
	})

	if err := c.InstallCRDs(); err != nil {
		t.Fatal(err)
	}
	const ns = "late"
	c.Namespace(t, ns)
	c.Service(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "istio-ingressgateway", Namespace: ns},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"istio": "ingressgateway"}}},
		corev1.LoadBalancerIngress{IP: "192.0.2.31"})
	c.Endpoints(t, ns, "istio-ingressgateway", 2, nil)
	if _, err := istioclient.NewForConfigOrDie(c.Config).NetworkingV1().Gateways(ns).Create(ctx, &istionet.Gateway{
		ObjectMeta: metav1.ObjectMeta{Name: "public", Namespace: ns, Annotations: global("late.gslb.example.com")},
		Spec: istioapi.Gateway{Selector: map[string]string{"istio": "ingressgateway"},
			Servers: []*istioapi.Server{{Port: &istioapi.Port{Number: 80, Name: "http", Protocol: "HTTP"}, Hosts: []string{"*"}}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "the Istio Gateway's service", func(inv model.Inventory) bool {
		bs := inv.BackendsOf("late.gslb.example.com")
		return len(bs) == 1 && len(bs[0].Ingress) == 1 && bs[0].Ingress[0].String() == "192.0.2.31"
	})
}
