// Package kubestore keeps Meridian's overrides in a Kubernetes ConfigMap,
// so that every replica serving the same zone applies the same overrides:
// writes use optimistic concurrency (resourceVersion), and every replica
// watches the object. Beside it, in ConfigMaps NAME-serials and
// NAME-inventory, the replicas share the zones' SOA serials (Serials) and
// their last Inventory, for a warm start (Inventory); in the Secret
// NAME-dnssec, the DNSSEC keys of signed zones (Keys), a Secret because
// they are.
//
// The replicas also share what their probes see (HealthReports), in two
// coordination.k8s.io Leases per replica, found by the label
// meridian.io/health-reports=NAME: NAME-report-REPLICA holds the
// replica's report in an annotation, written only when it changes and at
// most once per Batch, and NAME-health-REPLICA is its heartbeat, renewed
// every second. The heartbeat is apart because a renewal writes a few
// hundred bytes where the report may take up to 250 kB, and etcd keeps
// every revision until compaction (kubelet's node heartbeats moved to
// Leases for that reason, KEP-589). Leases, because their names follow the
// replicas, so RBAC must grant them namespace-wide, and Leases hold
// nothing else of Meridian's, where ConfigMaps hold its config; not a CRD,
// so that the store works on any cluster with nothing to install. A
// replica renews its heartbeat only while its report in the store is
// current, and judges the others' heartbeats on its own clock, from when
// it observed each renewal, so clock skew neither keeps a dead replica
// live nor kills a live one.
package kubestore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/model"
)

// Store keeps overrides in one ConfigMap: a key per override ID, its value
// the override as JSON. It implements api.Store.
type Store struct {
	client          kubernetes.Interface
	namespace, name string

	mu       sync.Mutex
	items    map[string]model.Override
	version  string   // resourceVersion of the ConfigMap items came from
	onChange []func() // told when items change

	now func() time.Time // when expired overrides are pruned
}

// Open connects to the cluster of kubeconfig (with context; in-cluster
// when kubeconfig is empty) and reads NAMESPACE/NAME, which need not exist
// yet.
func Open(ctx context.Context, kubeconfig, kubeContext, namespace, name string) (*Store, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("overrides kubernetes: %w", err)
	}
	cfg.UserAgent = "meridian-overrides"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("overrides kubernetes: %w", err)
	}
	return New(ctx, client, namespace, name)
}

// New returns a store on an existing client, with the overrides read.
func New(ctx context.Context, client kubernetes.Interface, namespace, name string) (*Store, error) {
	s := &Store{client: client, namespace: namespace, name: name, items: map[string]model.Override{}, now: time.Now}
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("overrides kubernetes %s/%s: %w", namespace, name, err)
	default:
		if err := s.load(cm); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// OnChange registers fn to be called, from any goroutine, whenever the
// overrides change: by this replica's writes or another's.
func (s *Store) OnChange(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange = append(s.onChange, fn)
}

// Watch follows the ConfigMap until ctx ends, so that writes by other
// replicas arrive here within the API server's watch latency.
func (s *Store) Watch(ctx context.Context) {
	lw := cache.NewListWatchFromClient(s.client.CoreV1().RESTClient(), "configmaps", s.namespace,
		fields.OneTermEqualSelector("metadata.name", s.name))
	_, informer := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw,
		ObjectType:    &corev1.ConfigMap{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.observe(obj.(*corev1.ConfigMap)) },
			UpdateFunc: func(_, obj any) { s.observe(obj.(*corev1.ConfigMap)) },
			DeleteFunc: func(any) { s.observe(&corev1.ConfigMap{}) },
		},
	})
	informer.RunWithContext(ctx)
}

// observe takes a ConfigMap from the watch. One that does not parse (a
// bad edit by hand) is ignored: the last good overrides stay, rather than
// every drain being dropped at once.
func (s *Store) observe(cm *corev1.ConfigMap) { _ = s.load(cm) }

// load replaces the items with the ConfigMap's and tells the listeners
// when they changed. A ConfigMap older than the one items came from (a
// late watch event after our own write) is ignored.
func (s *Store) load(cm *corev1.ConfigMap) error {
	items := map[string]model.Override{}
	for id, raw := range cm.Data {
		var o api.Override
		if err := json.Unmarshal([]byte(raw), &o); err != nil {
			return fmt.Errorf("overrides kubernetes %s/%s: key %s: %w", s.namespace, s.name, id, err)
		}
		m, err := o.Model()
		if err != nil {
			return fmt.Errorf("overrides kubernetes %s/%s: %w", s.namespace, s.name, err)
		}
		items[id] = m
	}
	s.mu.Lock()
	if cm.ResourceVersion != "" && s.version != "" && olderVersion(cm.ResourceVersion, s.version) {
		s.mu.Unlock()
		return nil
	}
	changed := !maps.EqualFunc(items, s.items, sameOverride)
	s.items, s.version = items, cm.ResourceVersion
	listeners := slices.Clone(s.onChange)
	s.mu.Unlock()
	if changed {
		for _, fn := range listeners {
			fn()
		}
	}
	return nil
}

// olderVersion compares resourceVersions. They are opaque by contract, but
// etcd-backed servers use increasing integers; anything else is treated as
// newer.
func olderVersion(a, b string) bool {
	var x, y uint64
	if _, err := fmt.Sscan(a, &x); err != nil {
		return false
	}
	if _, err := fmt.Sscan(b, &y); err != nil {
		return false
	}
	return x < y
}

func sameOverride(a, b model.Override) bool {
	ja, _ := json.Marshal(api.OverrideOf(a))
	jb, _ := json.Marshal(api.OverrideOf(b))
	return string(ja) == string(jb)
}

// List returns every override, sorted by ID.
func (s *Store) List() []model.Override {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Collect(maps.Values(s.items))
	slices.SortFunc(out, func(a, b model.Override) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Put stores o, replacing the override of its ID, which it returns.
func (s *Store) Put(o model.Override) (*model.Override, error) {
	raw, err := json.Marshal(api.OverrideOf(o))
	if err != nil {
		return nil, err
	}
	return s.modify(o.ID, func(data map[string]string) { data[o.ID] = string(raw) })
}

// Delete removes the override id and returns it.
func (s *Store) Delete(id string) (*model.Override, error) {
	return s.modify(id, func(data map[string]string) { delete(data, id) })
}

// writeTimeout bounds one write, retries included.
const writeTimeout = 10 * time.Second

// conflictBackoff spaces the retries of writes that lost a race with
// another replica's: enough of them, jittered, for a burst of writers.
func conflictBackoff() wait.Backoff {
	return wait.Backoff{Steps: 30, Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: time.Second}
}

// modify reads the ConfigMap, changes its data and writes it back with the
// resourceVersion it read; on a conflict (another replica wrote between)
// it starts again from a fresh read, so no replica's write is lost.
func (s *Store) modify(id string, change func(map[string]string)) (*model.Override, error) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	var before *model.Override
	written, err := updateConfigMap(ctx, s.client, s.namespace, s.name, "overrides", func(data map[string]string) (bool, error) {
		before = nil
		if raw, ok := data[id]; ok {
			var o api.Override
			if json.Unmarshal([]byte(raw), &o) == nil {
				if m, err := o.Model(); err == nil {
					before = &m
				}
			}
		}
		change(data)
		// Expired overrides go with the next write; the audit log keeps them.
		for key, raw := range data {
			var o api.Override
			if json.Unmarshal([]byte(raw), &o) == nil && o.Expires != nil && !o.Expires.After(s.now()) {
				delete(data, key)
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("overrides kubernetes %s/%s: %w", s.namespace, s.name, err)
	}
	if err := s.load(written); err != nil {
		return nil, err
	}
	return before, nil
}

var _ api.Store = (*Store)(nil)
