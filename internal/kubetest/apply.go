package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
)

// Objects decodes a multi-document YAML manifest, skipping empty documents.
func Objects(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var objs []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, err
		}
		if len(obj) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
}

// Apply applies objects with server-side apply, as `kubectl apply
// --server-side` does; with dryRun, as `--dry-run=server`: the API server
// validates, defaults and admits every object and stores none. The error
// names the object that failed.
func (c *Cluster) Apply(objs []*unstructured.Unstructured, dryRun bool) error {
	// A fresh mapper: kinds of CRDs installed a moment ago are known.
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	opts := metav1.ApplyOptions{FieldManager: "kubetest", Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
		}
		ri := c.Dynamic.Resource(m.Resource)
		if ns := u.GetNamespace(); ns != "" {
			_, err = ri.Namespace(ns).Apply(context.Background(), u.GetName(), u, opts)
		} else {
			_, err = ri.Apply(context.Background(), u.GetName(), u, opts)
		}
		if err != nil {
			return fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
	}
	return nil
}

// Access is one question to the API server's authorizer: may User do
// Verb on Resource (in Group; in Namespace and Name when set)?
type Access struct {
	User                  string
	Verb, Group, Resource string
	Namespace, Name       string
}

func (a Access) String() string {
	where := "cluster-wide"
	if a.Namespace != "" {
		where = "in " + a.Namespace
	}
	what := a.Resource
	if a.Group != "" {
		what += "." + a.Group
	}
	if a.Name != "" {
		what += "/" + a.Name
	}
	return fmt.Sprintf("%s %s %s %s", a.User, a.Verb, what, where)
}

// Allowed asks the API server with a SubjectAccessReview, so the answer
// is the one its RBAC authorizer gives a real request.
func (c *Cluster) Allowed(a Access) (bool, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: a.User,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.Verb, Group: a.Group, Resource: a.Resource, Namespace: a.Namespace, Name: a.Name,
		},
	}}
	if strings.HasPrefix(a.User, "system:serviceaccount:") {
		ns, _, _ := strings.Cut(strings.TrimPrefix(a.User, "system:serviceaccount:"), ":")
		sar.Spec.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	}
	got, err := c.Client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("SubjectAccessReview %s: %w", a, err)
	}
	return got.Status.Allowed, nil
}
