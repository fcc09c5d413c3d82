package kubestore

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// updateConfigMap reads the ConfigMap namespace/name (a new, empty one
// labelled with component when it is missing), lets change edit its data,
// and writes it back with the resourceVersion it read, creating it when it
// was missing. When another writer got there first it starts again from a
// fresh read, so no write is lost and none wins blindly. change reports
// whether there is anything to write; it returns the object written (nil
// if nothing was).
func updateConfigMap(ctx context.Context, client kubernetes.Interface, namespace, name, component string,
	change func(data map[string]string) (write bool, err error)) (*corev1.ConfigMap, error) {
	cms := client.CoreV1().ConfigMaps(namespace)
	var written *corev1.ConfigMap
	err := retry.RetryOnConflict(conflictBackoff(), func() error {
		written = nil
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		create := apierrors.IsNotFound(err)
		if err != nil && !create {
			return err
		}
		if create {
			cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
				Labels: map[string]string{"app.kubernetes.io/name": "meridian", "app.kubernetes.io/component": component}}}
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		if write, err := change(cm.Data); err != nil || !write {
			return err
		}
		if create {
			written, err = cms.Create(ctx, cm, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) { // another replica created it first
				return apierrors.NewConflict(corev1.Resource("configmaps"), name, err)
			}
			return err
		}
		written, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	return written, err
}
