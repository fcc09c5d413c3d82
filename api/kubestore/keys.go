package kubestore

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Keys keeps the DNSSEC keys of the signed zones in a Secret beside the
// overrides ConfigMap, NAME-dnssec, so that every replica signs with the
// same keys: a Secret because the private keys are secrets (RBAC and
// encryption at rest treat them so), one of its own so that the chart can
// grant it by name. Each key file of BIND's format is an entry, its name
// with the '+' that Secret keys cannot hold written as '_'.
type Keys struct {
	client          kubernetes.Interface
	namespace, name string
	ctx             context.Context
}

// KeysSuffix names the keys Secret after the overrides ConfigMap.
const KeysSuffix = "-dnssec"

// Keys returns the keys kept beside the store's overrides, in the Secret
// NAME-dnssec of the same namespace, through the same client; ctx bounds
// every call.
func (s *Store) Keys(ctx context.Context) *Keys {
	return NewKeys(ctx, s.client, s.namespace, s.name+KeysSuffix)
}

// NewKeys returns the keys kept in the Secret NAMESPACE/NAME, which need
// not exist yet: the first key generated creates it.
func NewKeys(ctx context.Context, client kubernetes.Interface, namespace, name string) *Keys {
	return &Keys{client: client, namespace: namespace, name: name, ctx: ctx}
}

// keyFileRe is a key file of BIND's format: K<zone>+<alg>+<tag>.key or .private.
var keyFileRe = regexp.MustCompile(`^K(.+\.)\+(\d{3})\+(\d{5})\.(key|private)$`)

// secretKey is the Secret entry of a key file.
func secretKey(file string) string { return strings.ReplaceAll(file, "+", "_") }

// Files returns the key files of zone (lower case, final dot) in the
// Secret, after adding those ensure says are missing, with the
// resourceVersion it read: of two replicas that start together, one
// writes its key and the other, on the conflict, reads again and finds
// nothing missing.
func (k *Keys) Files(zone string, ensure func(map[string][]byte) (map[string][]byte, error)) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(k.ctx, writeTimeout)
	defer cancel()
	secrets := k.client.CoreV1().Secrets(k.namespace)
	var files map[string][]byte
	err := retry.RetryOnConflict(conflictBackoff(), func() error {
		s, err := secrets.Get(ctx, k.name, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return err
		}
		if create {
			s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: k.namespace, Name: k.name,
				Labels: map[string]string{"app.kubernetes.io/name": "meridian", "app.kubernetes.io/component": "dnssec"}}}
		}
		files = zoneFiles(s.Data, zone)
		made, err := ensure(files)
		if err != nil || len(made) == 0 {
			return err
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for name, data := range made {
			if data == nil { // a file to remove
				delete(s.Data, secretKey(name))
			} else {
				s.Data[secretKey(name)] = data
			}
		}
		if create {
			_, err = secrets.Create(ctx, s, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) { // another replica created it first
				return apierrors.NewConflict(corev1.Resource("secrets"), k.name, err)
			}
		} else {
			_, err = secrets.Update(ctx, s, metav1.UpdateOptions{})
		}
		for name, data := range made {
			if data == nil {
				delete(files, name)
			} else {
				files[name] = data
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dnssec keys in Secret %s/%s: %w", k.namespace, k.name, err)
	}
	return files, nil
}

// zoneFiles returns the key files of zone among a Secret's entries, by
// their file names.
func zoneFiles(data map[string][]byte, zone string) map[string][]byte {
	out := map[string][]byte{}
	for key, value := range data {
		file := key
		if i := strings.LastIndex(key, "._"); i >= 0 {
			file = key[:i] + ".+" + strings.Replace(key[i+2:], "_", "+", 1)
		}
		if m := keyFileRe.FindStringSubmatch(file); m != nil && strings.EqualFold(m[1], zone) {
			out[file] = value
		}
	}
	return out
}
