package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/internal/kubetest"
)

// helm is the helm release the chart is rendered with, run as a Go module
// so that no binary needs installing.
const helm = "helm.sh/helm/v3/cmd/helm@v3.22.0"

const (
	chartDir       = "../../deploy/helm/meridian"
	exampleValues  = "../../deploy/helm/examples/production-values.yaml"
	chartNamespace = "meridian" // where docs/production.md installs it, and create-cluster-secret writes
	chartSA        = "system:serviceaccount:" + chartNamespace + ":meridian"
	memberSA       = "system:serviceaccount:meridian:meridian-reader"
)

// helmTemplate renders the chart as release "meridian" in chartNamespace,
// as `helm template` does, with the given values files.
func helmTemplate(t *testing.T, values ...string) []*unstructured.Unstructured {
	t.Helper()
	args := []string{"run", helm, "template", "meridian", chartDir, "--namespace", chartNamespace}
	for _, v := range values {
		args = append(args, "--values", v)
	}
	cmd := exec.Command("go", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", values, err, stderr.String())
	}
	objs, err := kubetest.Objects(out)
	if err != nil {
		t.Fatalf("helm template %v: the output is not YAML: %v", values, err)
	}
	return objs
}

// find returns the rendered object of kind and name, failing if absent.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("the chart renders no %s %s", kind, name)
	return nil
}

// typed converts a rendered object into its API type.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	raw, err := yaml.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := yaml.UnmarshalStrict(raw, &v); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &v
}

// checkRendered checks what the chart promises whatever the values: a
// config Meridian accepts with the shared overrides store, replicas spread
// over zones, hardened pods with probes and resources, DNS on 53.
func checkRendered(t *testing.T, objs []*unstructured.Unstructured) *config.Config {
	t.Helper()
	conf := localConf(t, objs, t.TempDir())
	cfg, err := config.Parse("meridian.conf", []byte(conf))
	if err != nil {
		t.Fatalf("the chart's config is rejected: %v\n%s", err, conf)
	}
	store := cfg.Meridian.OverridesKube
	if store == nil || store.Namespace != chartNamespace || store.Kubeconfig != "" {
		t.Fatalf("overrides store %+v: want the release's namespace, in-cluster", store)
	}
	find(t, objs, "ConfigMap", store.Name)
	find(t, objs, "ConfigMap", store.Name+"-serials")
	find(t, objs, "ConfigMap", store.Name+"-inventory")
	find(t, objs, "Secret", store.Name+"-dnssec")
	role := find(t, objs, "Role", "meridian")
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	for _, name := range []string{store.Name, store.Name + "-serials", store.Name + "-inventory", store.Name + "-dnssec"} {
		writable := false
		for _, r := range rules {
			names, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "resourceNames")
			verbs, _, _ := unstructured.NestedStringSlice(r.(map[string]any), "verbs")
			writable = writable || slices.Contains(verbs, "update") && slices.Equal(names, []string{name})
		}
		if !writable {
			t.Errorf("the Role does not let Meridian update %s alone: %v", name, rules)
		}
	}
	if cfg.Meridian.Replica != os.Getenv("POD_NAME") {
		t.Errorf("replica %q: want the pod's name", cfg.Meridian.Replica)
	}

	dep := typed[appsv1.Deployment](t, find(t, objs, "Deployment", "meridian"))
	if r := dep.Spec.Replicas; r == nil || *r < 2 {
		t.Errorf("replicas: %v", r)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.TopologySpreadConstraints) == 0 || pod.TopologySpreadConstraints[0].TopologyKey != "topology.kubernetes.io/zone" {
		t.Errorf("replicas are not spread over zones: %+v", pod.TopologySpreadConstraints)
	}
	if sc := pod.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("the pod may run as root")
	}
	// The tokens Secret is readable by Meridian's group alone: no warning
	// at start, no secret for any other user of the node.
	for _, v := range pod.Volumes {
		if v.Secret == nil {
			continue
		}
		if m := v.Secret.DefaultMode; m == nil || *m&0o007 != 0 {
			t.Errorf("volume %s: others may read the Secret's files (defaultMode %v)", v.Name, m)
		}
		if sc := pod.SecurityContext; sc == nil || sc.FSGroup == nil || sc.RunAsGroup == nil || *sc.FSGroup != *sc.RunAsGroup {
			t.Errorf("volume %s: the Secret's files are not given Meridian's group (fsGroup = runAsGroup)", v.Name)
		}
	}
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container security context %+v", sc)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("probes: %+v %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	if len(c.Resources.Requests) == 0 || len(c.Resources.Limits) == 0 {
		t.Errorf("resources %+v", c.Resources)
	}
	find(t, objs, "PodDisruptionBudget", "meridian")
	find(t, objs, "NetworkPolicy", "meridian")

	dns := typed[corev1.Service](t, find(t, objs, "Service", "meridian-dns"))
	protocols := map[corev1.Protocol]bool{}
	for _, p := range dns.Spec.Ports {
		protocols[p.Protocol] = p.Port == 53
	}
	if dns.Spec.Type != corev1.ServiceTypeLoadBalancer || !protocols[corev1.ProtocolUDP] || !protocols[corev1.ProtocolTCP] {
		t.Errorf("DNS service: %s %v", dns.Spec.Type, dns.Spec.Ports)
	}
	find(t, objs, "Service", "meridian-xds")
	find(t, objs, "Service", "meridian-http")
	return cfg
}

// TestHelmChart renders the chart with its default and its example values,
// applies both with a server-side dry run to a real kube-apiserver, installs
// the example with the member manifest, checks the RBAC it grants, and runs
// Meridian with the rendered config under the chart's service account: it
// finds a member cluster from a Secret, shares overrides in the ConfigMap.
func TestHelmChart(t *testing.T) {
	t.Setenv("POD_NAME", "meridian-5d8f7c9b4-x2k7p")
	defaults := helmTemplate(t)
	example := helmTemplate(t, exampleValues)
	exampleCfg := checkRendered(t, example)
	// The example enables the optional ServiceMonitor; the default not.
	for _, r := range []struct {
		objs []*unstructured.Unstructured
		want int
	}{{defaults, 0}, {example, 1}} {
		monitors := 0
		for _, o := range r.objs {
			if o.GetKind() == "ServiceMonitor" {
				monitors++
			}
		}
		if monitors != r.want {
			t.Errorf("%d ServiceMonitors, want %d", monitors, r.want)
		}
	}
	// The example shares a cookie secret from a Secret and sends NSID;
	// the default does neither.
	defaultCfg := checkRendered(t, defaults)
	if c := exampleCfg.Meridian.Cookies; c == nil || !strings.HasSuffix(c.SecretFile, "cookie-secret") || string(exampleCfg.Meridian.NSID) != os.Getenv("POD_NAME") {
		t.Errorf("example: cookies %+v, NSID %q: want the mounted secret and the pod's name", c, exampleCfg.Meridian.NSID)
	}
	if defaultCfg.Meridian.Cookies != nil || defaultCfg.Meridian.NSID != nil {
		t.Errorf("defaults: cookies %+v, NSID %q: want both off", defaultCfg.Meridian.Cookies, defaultCfg.Meridian.NSID)
	}
	if t.Failed() {
		return
	}

	env := kubetest.Start(t, 2)
	home, member := env.Clusters[0], env.Clusters[1]
	home.Namespace(t, chartNamespace)
	if err := home.CreateCRDs(manifestObjects(t, "testdata/servicemonitor-crd.yaml")); err != nil {
		t.Fatal(err)
	}
	for name, objs := range map[string][]*unstructured.Unstructured{"default": defaults, "example": example} {
		if err := home.Apply(objs, true); err != nil {
			t.Errorf("server-side dry run of the chart with %s values: %v", name, err)
		}
	}
	memberObjs := manifestObjects(t, "../../deploy/member/meridian-reader.yaml")
	if err := member.Apply(memberObjs[:1], false); err != nil { // its Namespace, which the rest needs
		t.Fatal(err)
	}
	if err := member.Apply(memberObjs, true); err != nil {
		t.Errorf("server-side dry run of the member manifest: %v", err)
	}
	if t.Failed() {
		return
	}
	if err := home.Apply(example, false); err != nil {
		t.Fatal(err)
	}
	if err := member.Apply(memberObjs, false); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		cluster *kubetest.Cluster
		access  kubetest.Access
		want    bool
	}{
		// The chart: reads the cluster it runs in, ...
		{home, kubetest.Access{User: chartSA, Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "watch", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "shop"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "watch", Resource: "nodes"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "list", Group: "networking.istio.io", Resource: "gateways"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "list", Group: "gateway.networking.k8s.io", Resource: "httproutes"}, true},
		// ... writes none of it, ...
		{home, kubetest.Access{User: chartSA, Verb: "create", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "shop"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "update", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "shop", Name: "app-1"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "delete", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "shop", Name: "app-1"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "patch", Resource: "services", Namespace: "shop", Name: "app"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "list", Resource: "pods"}, false},
		// ... reads Secrets only in its namespace, ...
		{home, kubetest.Access{User: chartSA, Verb: "watch", Resource: "secrets", Namespace: chartNamespace}, true},
		{home, kubetest.Access{User: chartSA, Verb: "get", Resource: "secrets", Namespace: "kube-system", Name: "any"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "list", Resource: "secrets", Namespace: "default"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "list", Resource: "secrets"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "create", Resource: "secrets", Namespace: chartNamespace}, false},
		// ... writes its overrides object and its serials and inventory beside it, ...
		{home, kubetest.Access{User: chartSA, Verb: "update", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name}, true},
		{home, kubetest.Access{User: chartSA, Verb: "update", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-serials"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "get", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-serials"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "delete", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-serials"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "update", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-inventory"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "get", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-inventory"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "delete", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-inventory"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "watch", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name}, true},
		// ... and no other ConfigMap: not its own config, ...
		{home, kubetest.Access{User: chartSA, Verb: "update", Resource: "configmaps", Namespace: chartNamespace, Name: "meridian-config"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "delete", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name}, false},
		{home, kubetest.Access{User: chartSA, Verb: "create", Resource: "configmaps", Namespace: chartNamespace}, false},
		{home, kubetest.Access{User: chartSA, Verb: "list", Resource: "configmaps", Namespace: chartNamespace}, false},
		{home, kubetest.Access{User: chartSA, Verb: "delete", Resource: "configmaps", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-health-meridian-0"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "create", Resource: "configmaps", Namespace: "default"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "update", Resource: "configmaps", Namespace: "kube-system", Name: "any"}, false},
		// ... but the health reports' Leases, two per pod: their names
		// follow the pods, so these rights are namespace-wide (see the
		// comment on the Role), and nowhere else.
		{home, kubetest.Access{User: chartSA, Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: chartNamespace}, true},
		{home, kubetest.Access{User: chartSA, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-report-meridian-0"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-health-meridian-0"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "delete", Group: "coordination.k8s.io", Resource: "leases", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-report-meridian-0"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "get", Group: "coordination.k8s.io", Resource: "leases", Namespace: chartNamespace, Name: exampleCfg.Meridian.OverridesKube.Name + "-health-meridian-0"}, true},
		{home, kubetest.Access{User: chartSA, Verb: "list", Group: "coordination.k8s.io", Resource: "leases", Namespace: chartNamespace}, true},
		{home, kubetest.Access{User: chartSA, Verb: "watch", Group: "coordination.k8s.io", Resource: "leases", Namespace: chartNamespace}, true},
		{home, kubetest.Access{User: chartSA, Verb: "create", Group: "coordination.k8s.io", Resource: "leases", Namespace: "default"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-system", Name: "any"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "delete", Group: "coordination.k8s.io", Resource: "leases", Namespace: "kube-node-lease", Name: "any"}, false},
		{home, kubetest.Access{User: chartSA, Verb: "list", Group: "coordination.k8s.io", Resource: "leases"}, false},
		// The member manifest: reads, never writes, no Secrets at all.
		{member, kubetest.Access{User: memberSA, Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices"}, true},
		{member, kubetest.Access{User: memberSA, Verb: "watch", Resource: "services", Namespace: "shop"}, true},
		{member, kubetest.Access{User: memberSA, Verb: "update", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "shop", Name: "app-1"}, false},
		{member, kubetest.Access{User: memberSA, Verb: "create", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "shop"}, false},
		{member, kubetest.Access{User: memberSA, Verb: "get", Resource: "secrets", Namespace: "meridian", Name: "any"}, false},
		{member, kubetest.Access{User: memberSA, Verb: "list", Resource: "secrets"}, false},
	} {
		got, err := c.cluster.Allowed(c.access)
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("%s: %s allowed = %v, want %v", c.cluster.Name, c.access, got, c.want)
		}
	}

	runChartConfig(t, home, member, example)
}

// runChartConfig runs Meridian as the chart's pod would: with the rendered
// config and the chart's service account's identity (a kubeconfig in
// $KUBECONFIG stands in for the pod's mounted token). Only listeners and
// file paths change, to loopback and the test's directory.
func runChartConfig(t *testing.T, home, member *kubetest.Cluster, objs []*unstructured.Unstructured) {
	shopApp(t, member, "203.0.113.77", 2)

	// Onboard the member the documented way; and take the chart's own
	// identity from a TokenRequest for its service account.
	secretYAML := ctlOK(t, "create-cluster-secret", "-kubeconfig", member.Kubeconfig, "-name", "singapore", "-region", "ap-southeast")
	var secret corev1.Secret
	if err := yaml.Unmarshal([]byte(secretYAML), &secret); err != nil {
		t.Fatal(err)
	}
	if _, err := home.Client.CoreV1().Secrets(chartNamespace).Create(context.Background(), &secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var own corev1.Secret
	if err := yaml.Unmarshal([]byte(ctlOK(t, "create-cluster-secret", "-kubeconfig", home.Kubeconfig, "-name", "home",
		"-service-account", chartNamespace+"/meridian")), &own); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, own.Data["kubeconfig"], 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)

	p := startMeridian(t, localConf(t, objs, dir))
	waitAnswer(t, p.dnsPort, "203.0.113.77", 30*time.Second, "app.gslb.example.com")

	// The zone's serial is recorded in the serials ConfigMap the chart made,
	// through the only verbs the Role grants on it.
	serials, err := home.Client.CoreV1().ConfigMaps(chartNamespace).Get(context.Background(), "meridian-overrides-serials", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec := serials.Data["gslb.example.com"]; !strings.Contains(rec, fmt.Sprintf(`"serial":%d`, soaSerial(t, p.dnsPort, "gslb.example.com"))) {
		t.Errorf("the serials ConfigMap holds %q for gslb.example.com", rec)
	}

	// The published Inventory is saved, for a warm start, in the inventory
	// ConfigMap the chart made, through the only verbs the Role grants on it.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		inv, err := home.Client.CoreV1().ConfigMaps(chartNamespace).Get(context.Background(), "meridian-overrides-inventory", metav1.GetOptions{})
		if err == nil && strings.Contains(inv.Data["inventory.json"], "203.0.113.77") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the inventory ConfigMap: %v %v", inv, err)
		}
	}

	// An override is stored in the shared ConfigMap, through the Role's
	// single writable object ...
	server := "http://" + p.httpAddr
	if out, errOut, code := runCtl(t, server, "admin-secret", "drain", "singapore", "-reason", "chart test"); code != 0 {
		t.Fatalf("drain: exit %d: %s%s", code, out, errOut)
	}
	if rec := waitLog(t, p, "override changed"); rec["identity"] != "alice" || rec["id"] != "drain-singapore" {
		t.Errorf("the pod's log has %v; want who changed what", rec)
	}
	cms := home.Client.CoreV1().ConfigMaps(chartNamespace)
	cm, err := cms.Get(context.Background(), "meridian-overrides", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cm.Data["drain-singapore"]; !ok {
		t.Fatalf("the drain is not in the ConfigMap: %v", cm.Data)
	}
	// ... and a change another replica makes there arrives by the watch the
	// Role allows on that object alone.
	cm.Data = nil
	if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _, _ := runCtl(t, server, "read-secret", "overrides")
		if !strings.Contains(out, "drain-singapore") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the override removed from the ConfigMap is still applied:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// localConf returns the rendered config as a pod would read it, but
// listening on loopback and with its files in dir: the API tokens of
// writeTokens and the audit log.
func localConf(t *testing.T, objs []*unstructured.Unstructured, dir string) string {
	t.Helper()
	conf := typed[corev1.ConfigMap](t, find(t, objs, "ConfigMap", "meridian-config")).Data["meridian.conf"]
	for old, repl := range map[string]string{
		"dns  :8053":     "dns  127.0.0.1:0",
		"http :8080":     "http 127.0.0.1:0",
		"xds  :18000":    "xds  127.0.0.1:0",
		"/tmp/audit.log": filepath.Join(dir, "audit.log"),
	} {
		if !strings.Contains(conf, old) {
			t.Fatalf("the rendered config has no %q:\n%s", old, conf)
		}
		conf = strings.ReplaceAll(conf, old, repl)
	}
	const tokens = "/etc/meridian/tokens/tokens" // where the Deployment mounts apiTokensSecret
	if strings.Contains(conf, tokens) {
		writeTokens(t, filepath.Join(dir, "tokens"))
		conf = strings.ReplaceAll(conf, tokens, filepath.Join(dir, "tokens"))
	}
	const cookies = "/etc/meridian/cookies/cookie-secret" // where the Deployment mounts cookiesSecret
	if strings.Contains(conf, cookies) {
		if err := os.WriteFile(filepath.Join(dir, "cookie-secret"), []byte("000102030405060708090a0b0c0d0e0f\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		conf = strings.ReplaceAll(conf, cookies, filepath.Join(dir, "cookie-secret"))
	}
	return conf
}

// ctlOK runs `meridian ctl` without a server and returns its output,
// failing the test on a non-zero exit.
func ctlOK(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := runCtl(t, "", "", args...)
	if code != 0 {
		t.Fatalf("meridian ctl %v: exit %d: %s", args, code, errOut)
	}
	return out
}
