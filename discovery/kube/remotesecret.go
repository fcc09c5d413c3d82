package kube

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// RemoteSecretOptions describe the kubeconfig Secret of a member cluster.
type RemoteSecretOptions struct {
	// Name is the cluster's name in Meridian; Region, Zone and Location
	// ("LAT,LON") become the Secret's annotations.
	Name, Region, Zone, Location string
	// Namespace is where the Secret goes in Meridian's home cluster;
	// default "meridian".
	Namespace string
	// ServiceAccount (NAMESPACE/NAME) is the member cluster's identity for
	// Meridian, from deploy/member; default "meridian/meridian-reader".
	ServiceAccount string
	// TokenTTL is how long the token lives; default a year.
	TokenTTL time.Duration
}

// RemoteSecret connects to a member cluster (kubeconfig and context as
// kubectl takes them), asks it for a token of Meridian's service account,
// and returns the Secret that, applied in Meridian's home cluster, makes
// discovery watch the member, as istioctl create-remote-secret does.
func RemoteSecret(ctx context.Context, kubeconfig, kubeContext string, o RemoteSecretOptions) (*corev1.Secret, error) {
	if err := checkRemoteSecretOptions(&o); err != nil {
		return nil, err
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("member cluster: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("member cluster: %w", err)
	}
	saNamespace, saName, _ := strings.Cut(o.ServiceAccount, "/")
	secs := int64(o.TokenTTL / time.Second)
	tr, err := client.CoreV1().ServiceAccounts(saNamespace).CreateToken(ctx, saName,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("member cluster: a token for service account %s (apply deploy/member/meridian-reader.yaml there first): %w", o.ServiceAccount, err)
	}
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		return nil, fmt.Errorf("member cluster: the kubeconfig names its CA by file (%s); embed it (kubectl config view --raw --flatten)", cfg.CAFile)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters[o.Name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: ca, InsecureSkipTLSVerify: cfg.Insecure, TLSServerName: cfg.ServerName}
	kc.AuthInfos[o.Name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts[o.Name] = &clientcmdapi.Context{Cluster: o.Name, AuthInfo: o.Name}
	kc.CurrentContext = o.Name
	raw, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, err
	}
	s := &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "meridian-cluster-" + o.Name, Namespace: o.Namespace,
			Labels:      map[string]string{LabelCluster: o.Name},
			Annotations: map[string]string{}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"kubeconfig": raw},
	}
	for k, v := range map[string]string{AnnotationRegion: o.Region, AnnotationZone: o.Zone, AnnotationLocation: o.Location} {
		if v != "" {
			s.Annotations[k] = v
		}
	}
	return s, nil
}

func checkRemoteSecretOptions(o *RemoteSecretOptions) error {
	if o.Name == "" || strings.ContainsAny(o.Name, " /") {
		return fmt.Errorf("the cluster needs a name without spaces or slashes, got %q", o.Name)
	}
	if o.Location != "" {
		lat, lon, ok := strings.Cut(o.Location, ",")
		x, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
		y, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
		if !ok || err1 != nil || err2 != nil || x < -90 || x > 90 || y < -180 || y > 180 {
			return fmt.Errorf("location %q: expected LAT,LON in degrees, such as 1.29,103.85", o.Location)
		}
	}
	if o.Namespace == "" {
		o.Namespace = "meridian"
	}
	if o.ServiceAccount == "" {
		o.ServiceAccount = "meridian/meridian-reader"
	}
	if ns, name, ok := strings.Cut(o.ServiceAccount, "/"); !ok || ns == "" || name == "" {
		return fmt.Errorf("service account %q: expected NAMESPACE/NAME", o.ServiceAccount)
	}
	if o.TokenTTL == 0 {
		o.TokenTTL = 365 * 24 * time.Hour
	}
	return nil
}
