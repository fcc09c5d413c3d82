package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// applyManifest applies every object of a multi-document YAML file with
// the cluster's admin client, as kubectl apply --server-side would.
func applyManifest(t *testing.T, c *kubetest.Cluster, path string) {
	t.Helper()
	if err := c.Apply(manifestObjects(t, path), false); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// manifestObjects reads the objects of a multi-document YAML file.
func manifestObjects(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := kubetest.Objects(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return objs
}

// TestCreateClusterSecret onboards a member cluster the documented way:
// apply deploy/member there, run `meridian ctl create-cluster-secret`, apply
// its output in Meridian's home cluster; Meridian then watches the member
// with the member's read-only identity and answers with its ingress.
func TestCreateClusterSecret(t *testing.T) {
	env := kubetest.Start(t, 2)
	home, member := env.Clusters[0], env.Clusters[1]
	applyManifest(t, member, "../../deploy/member/meridian-reader.yaml")
	shopApp(t, member, "203.0.113.77", 2)
	home.Namespace(t, "meridian")

	out, errOut, code := runCtl(t, "", "", "create-cluster-secret", "-kubeconfig", member.Kubeconfig,
		"-name", "singapore", "-region", "ap-southeast", "-location", "1.29,103.85")
	if code != 0 {
		t.Fatalf("create-cluster-secret: exit %d: %s", code, errOut)
	}
	var secret corev1.Secret
	if err := yaml.Unmarshal([]byte(out), &secret); err != nil {
		t.Fatalf("the output is not a Secret: %v\n%s", err, out)
	}
	if secret.Labels["meridian.io/cluster"] != "singapore" || secret.Annotations["meridian.io/region"] != "ap-southeast" ||
		strings.Contains(string(secret.Data["kubeconfig"]), "meridian-test-admin-token") {
		t.Fatalf("secret %+v", secret.ObjectMeta)
	}
	if _, err := home.Client.CoreV1().Secrets("meridian").Create(context.Background(), &secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	p := startMeridian(t, fmt.Sprintf(`
meridian {
    dns  127.0.0.1:0
    http 127.0.0.1:0
    cluster_secrets meridian {
        kubeconfig %s
    }
}
zone gslb.example.com {
    ns ns1.gslb.example.com 127.0.0.1
    service app {
        ttl 5
    }
}
`, home.Kubeconfig))
	waitAnswer(t, p.dnsPort, "203.0.113.77", 30*time.Second, "app.gslb.example.com", "+subnet=13.250.0.0/24")

	// A service account the member does not have gets an error that says
	// what to apply.
	bad, errOut, code := runCtl(t, "", "", "create-cluster-secret", "-kubeconfig", member.Kubeconfig, "-name", "x", "-service-account", "meridian/nobody")
	if code != 1 || !strings.Contains(errOut, "apply deploy/member/meridian-reader.yaml") {
		t.Errorf("without the service account: exit %d, %q %q", code, bad, errOut)
	}
}
