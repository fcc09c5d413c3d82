// Package kubetest runs real Kubernetes API servers for tests: one etcd
// (Debian's etcd-server) with a key prefix per cluster and one
// kube-apiserver per simulated member cluster, on loopback, each with a
// kubeconfig, and the Istio and Gateway API CRDs installed. There are no
// controllers: tests write EndpointSlices themselves, as the endpointslice
// controller would. apply.go applies manifests (server-side, or as a dry
// run) and asks the API server what an identity may do
// (SubjectAccessReview), for tests of deployment manifests.
//
// kube-apiserver is built from the k8s.io/kubernetes module pinned in
// ./apiserver (its own module, so that Meridian's go.mod stays clean) and
// cached under the user's cache directory; the first build takes minutes.
package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Version is the Kubernetes release the API servers run.
const Version = "v1.32.4"

// Env is a set of running clusters sharing one etcd.
type Env struct {
	Clusters []*Cluster
	dir      string
	etcd     *exec.Cmd
	etcdURL  string
}

// Cluster is one running kube-apiserver.
type Cluster struct {
	Name string
	// Kubeconfig is the path of a kubeconfig for the cluster (admin).
	Kubeconfig string
	// KubeconfigData is the same kubeconfig's content.
	KubeconfigData []byte
	Client         kubernetes.Interface
	Dynamic        dynamic.Interface
	Config         *rest.Config

	env  *Env
	args []string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	log  *bytes.Buffer
}

// token is the bearer token of the admin user of every cluster.
const token = "meridian-test-admin-token"

// Start runs n clusters named cluster-1 ... cluster-n and stops them when
// the test ends. It fails the test, saying what to install, when etcd is
// missing; it builds kube-apiserver if no cached binary exists.
func Start(t testing.TB, n int) *Env {
	t.Helper()
	return startT(t, n, true)
}

// StartWithoutCRDs is Start with API servers that serve neither Istio nor
// Gateway API until InstallCRDs is called, as clusters where they are
// installed later.
func StartWithoutCRDs(t testing.TB, n int) *Env {
	t.Helper()
	return startT(t, n, false)
}

func startT(t testing.TB, n int, crds bool) *Env {
	t.Helper()
	env, err := start(n, crds)
	if err != nil {
		if env != nil {
			env.Stop()
		}
		t.Fatal(err)
	}
	t.Cleanup(env.Stop)
	return env
}

// StartMain is Start for TestMain, which has no testing.TB: it returns the
// env and a stop function, or an error.
func StartMain(n int) (*Env, error) {
	env, err := start(n, true)
	if err != nil && env != nil {
		env.Stop()
	}
	return env, err
}

func start(n int, crds bool) (*Env, error) {
	bin, err := APIServerBinary()
	if err != nil {
		return nil, err
	}
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, errors.New("kubetest: etcd is not installed: run `make test` as root, or apt-get install etcd-server")
	}
	dir, err := os.MkdirTemp("", "kubetest")
	if err != nil {
		return nil, err
	}
	env := &Env{dir: dir}
	if err := env.startEtcd(etcdBin); err != nil {
		return env, err
	}
	key, err := serviceAccountKey(dir)
	if err != nil {
		return env, err
	}
	tokens := filepath.Join(dir, "tokens.csv")
	os.WriteFile(tokens, []byte(token+",admin,admin,system:masters\n"), 0o600)

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		c := &Cluster{Name: fmt.Sprintf("cluster-%d", i+1), env: env}
		env.Clusters = append(env.Clusters, c)
		c.port, err = freePort()
		if err != nil {
			return env, err
		}
		cdir := filepath.Join(dir, c.Name)
		os.MkdirAll(cdir, 0o755)
		c.args = []string{
			"--etcd-servers=" + env.etcdURL,
			"--etcd-prefix=/" + c.Name,
			"--bind-address=127.0.0.1",
			"--advertise-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(c.port),
			"--cert-dir=" + cdir,
			"--token-auth-file=" + tokens,
			"--authorization-mode=RBAC",
			"--service-account-issuer=https://kubernetes.default.svc",
			"--service-account-key-file=" + key,
			"--service-account-signing-key-file=" + key,
			"--service-cluster-ip-range=10.96.0.0/16",
			"--enable-priority-and-fairness=false",
			"--endpoint-reconciler-type=none",
			"--profiling=false",
			"--v=0",
		}
		c.Kubeconfig = filepath.Join(dir, c.Name+".kubeconfig")
		c.KubeconfigData = []byte(kubeconfig(c.Name, c.port))
		os.WriteFile(c.Kubeconfig, c.KubeconfigData, 0o600)
		if c.Config, err = clientcmd.RESTConfigFromKubeConfig(c.KubeconfigData); err != nil {
			return env, err
		}
		c.Config.QPS, c.Config.Burst = 5000, 10000 // tests write fast; client-go's default is 5/s
		c.Client = kubernetes.NewForConfigOrDie(c.Config)
		c.Dynamic = dynamic.NewForConfigOrDie(c.Config)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = c.run(bin); errs[i] == nil && crds {
				errs[i] = c.InstallCRDs()
			}
		}()
	}
	wg.Wait()
	return env, errors.Join(errs...)
}

// Stop stops every API server and etcd and removes their files.
func (e *Env) Stop() {
	for _, c := range e.Clusters {
		c.Stop()
	}
	if e.etcd != nil && e.etcd.Process != nil {
		e.etcd.Process.Kill()
		e.etcd.Wait()
	}
	os.RemoveAll(e.dir)
}

func (e *Env) startEtcd(bin string) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	e.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", client)
	e.etcd = exec.Command(bin,
		"--data-dir", filepath.Join(e.dir, "etcd"),
		"--listen-client-urls", e.etcdURL, "--advertise-client-urls", e.etcdURL,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peer),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peer),
		"--unsafe-no-fsync", "--log-level", "error")
	var out bytes.Buffer
	e.etcd.Stdout, e.etcd.Stderr = &out, &out
	if err := e.etcd.Start(); err != nil {
		return fmt.Errorf("kubetest: etcd: %w", err)
	}
	return waitFor(20*time.Second, func() error {
		resp, err := http.Get(e.etcdURL + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}, func() string { return "etcd: " + out.String() })
}

// run starts the API server and waits until it is ready.
func (c *Cluster) run(bin string) error {
	c.mu.Lock()
	c.log = &bytes.Buffer{}
	c.cmd = exec.Command(bin, c.args...)
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	err := c.cmd.Start()
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("kubetest: %s: %w", c.Name, err)
	}
	return waitFor(60*time.Second, c.ready, func() string { return c.Name + ": " + tail(c.log.String()) })
}

func (c *Cluster) ready() error {
	req, _ := http.NewRequest("GET", fmt.Sprintf("https://127.0.0.1:%d/readyz", c.port), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("readyz %d: %s", resp.StatusCode, b)
	}
	return nil
}

// Stop kills the API server, as a crash or a network partition would look
// to clients; its data stays in etcd.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd != nil && c.cmd.Process != nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
		c.cmd = nil
	}
}

// Restart starts the API server again on the same port and waits for it.
func (c *Cluster) Restart() error {
	bin, err := APIServerBinary()
	if err != nil {
		return err
	}
	return c.run(bin)
}

// InstallCRDs creates the Istio and Gateway API (standard channel) CRDs
// from the Go modules Meridian depends on, and waits until they serve.
func (c *Cluster) InstallCRDs() error {
	var files []string
	istio, err := moduleDir("istio.io/api")
	if err != nil {
		return err
	}
	files = append(files, filepath.Join(istio, "kubernetes", "customresourcedefinitions.gen.yaml"))
	gw, err := moduleDir("sigs.k8s.io/gateway-api")
	if err != nil {
		return err
	}
	std, _ := filepath.Glob(filepath.Join(gw, "config", "crd", "standard", "*.yaml"))
	files = append(files, std...)
	var objs []*unstructured.Unstructured
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		fileObjs, err := Objects(raw)
		if err != nil {
			return fmt.Errorf("kubetest: %s: %w", f, err)
		}
		objs = append(objs, fileObjs...)
	}
	return c.CreateCRDs(objs)
}

// CreateCRDs creates the CustomResourceDefinitions among objs and waits
// until the API server serves each of them.
func (c *Cluster) CreateCRDs(objs []*unstructured.Unstructured) error {
	crds := c.Dynamic.Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
	var names []string
	for _, u := range objs {
		if u.GetKind() != "CustomResourceDefinition" {
			continue
		}
		if _, err := crds.Create(context.Background(), u, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("kubetest: %s: CRD %s: %w", c.Name, u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	// Wait until every CRD is Established: its API is then served.
	return waitFor(60*time.Second, func() error {
		for _, n := range names {
			u, err := crds.Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			established := false
			for _, c := range conds {
				m, _ := c.(map[string]any)
				established = established || m["type"] == "Established" && m["status"] == "True"
			}
			if !established {
				return fmt.Errorf("CRD %s not established", n)
			}
		}
		return nil
	}, func() string { return c.Name + ": CRDs not served" })
}

// moduleDir returns the folder of a module Meridian depends on.
func moduleDir(path string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", path).Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		out, err = exec.Command("go", "mod", "download", "-json", path).Output()
		if err != nil {
			return "", fmt.Errorf("kubetest: locating module %s: %w", path, err)
		}
		_, after, _ := strings.Cut(string(out), `"Dir": "`)
		dir, _, _ := strings.Cut(after, `"`)
		return dir, nil
	}
	return strings.TrimSpace(string(out)), nil
}

var buildMu sync.Mutex

// APIServerBinary returns the path of kube-apiserver Version, building it
// into the cache when it is not there yet.
func APIServerBinary() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	bin := filepath.Join(cache, "meridian-kubetest", "kube-apiserver-"+Version+"-2")
	buildMu.Lock()
	defer buildMu.Unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// Test binaries of several packages may get here at once: one builds.
	os.MkdirAll(filepath.Dir(bin), 0o755)
	lock, err := os.OpenFile(bin+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // another process built it while we waited
	}
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "apiserver")
	tmp := bin + ".tmp"
	major, minor, _ := strings.Cut(strings.TrimPrefix(Version, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	ldflags := fmt.Sprintf("-X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=%s "+
		"-X k8s.io/component-base/version.gitMinor=%s -X k8s.io/component-base/version.gitTreeState=clean", Version, major, minor)
	cmd := exec.Command("go", "build", "-ldflags", ldflags, "-o", tmp, ".")
	cmd.Dir = src
	// Checksum lookups for these modules fail on some networks; the
	// versions are pinned in apiserver/go.mod and go.sum.
	cmd.Env = append(os.Environ(), "GONOSUMDB=k8s.io/kubernetes,k8s.io/controller-manager", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("kubetest: building kube-apiserver %s: %w\n%s", Version, err, out)
	}
	return bin, os.Rename(tmp, bin)
}

func kubeconfig(name string, port int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: https://127.0.0.1:%[2]d
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %[3]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: admin
current-context: %[1]s
`, name, port, token)
}

// serviceAccountKey writes an RSA key for signing service account tokens.
func serviceAccountKey(dir string) (string, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "sa.key")
	b := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	return path, os.WriteFile(path, b, 0o600)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitFor(d time.Duration, f func() error, what func() string) error {
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("kubetest: not ready after %v: %v\n%s", d, err, what())
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
