package kubetest

import (
	"context"
	corev1 "k8s.io/api/core/v1"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStartTwoClusters(t *testing.T) {
	env := Start(t, 2)
	for _, c := range env.Clusters {
		v, err := c.Client.Discovery().ServerVersion()
		if err != nil || v.GitVersion != Version {
			t.Fatalf("%s: version %v, %v", c.Name, v, err)
		}
	}
	// Each cluster has its own etcd prefix: a namespace made in one is not in the other.
	ctx := context.Background()
	if _, err := env.Clusters[0].Client.CoreV1().Namespaces().Create(ctx, &corev1Namespace, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clusters[1].Client.CoreV1().Namespaces().Get(ctx, corev1Namespace.Name, metav1.GetOptions{}); err == nil {
		t.Error("a namespace created in cluster-1 exists in cluster-2")
	}
}

var corev1Namespace = corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "only-in-one"}}
