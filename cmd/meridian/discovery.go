package main

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/discovery/kube"
	"github.com/meridian-gtm/meridian/model"
)

// discoveryInputs turns the config into what discovery needs: the member
// clusters it watches, the statically declared inventory, and the objects
// the config names.
func discoveryInputs(cfg *config.Config) ([]kube.ClusterConfig, []config.Cluster, []kube.Named) {
	var clusters []kube.ClusterConfig
	var statics []config.Cluster
	for _, c := range cfg.Clusters {
		if c.Static != nil {
			statics = append(statics, c)
			continue
		}
		clusters = append(clusters, kube.ClusterConfig{
			Name: c.Name, Kubeconfig: c.Kubeconfig, Context: c.Context, InCluster: c.InCluster,
			Locality: model.Locality{Region: c.Region, Zone: c.Zone}, Location: c.Location,
		})
	}
	var named []kube.Named
	for _, z := range cfg.Zones {
		for _, s := range z.Services {
			for _, m := range s.Matches {
				named = append(named, kube.Named{Kind: m.Kind, Namespace: m.Namespace, Name: m.Name, Service: s.FQDN})
			}
		}
	}
	return clusters, statics, named
}

func newDiscovery(cfg *config.Config, publish func(model.Inventory), logger *slog.Logger) *kube.Discovery {
	clusters, statics, named := discoveryInputs(cfg)
	dc := kube.Config{
		Clusters: clusters, Static: config.StaticInventory(statics), Named: named,
		Resolver: cfg.Meridian.Resolver, Logger: logger, Publish: publish,
	}
	if cs := cfg.Meridian.ClusterSecrets; cs != nil {
		dc.Secrets = &kube.SecretsConfig{Namespace: cs.Namespace, Cluster: kube.ClusterConfig{
			Name: "cluster-secrets", Kubeconfig: cs.Kubeconfig, Context: cs.Context, InCluster: cs.Kubeconfig == ""}}
	}
	return kube.New(dc)
}

// registerDiscoveryMetrics exports what discovery counts.
func registerDiscoveryMetrics(reg prometheus.Registerer, d *kube.Discovery) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "meridian_discovery_cluster_losses_total",
			Help: "Times a member cluster's API server stopped answering."}, func() float64 { return float64(d.Metrics.Losses()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "meridian_discovery_cluster_recoveries_total",
			Help: "Times a lost member cluster answered again."}, func() float64 { return float64(d.Metrics.Recoveries()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "meridian_discovery_inventories_total",
			Help: "Inventory versions published."}, func() float64 { return float64(d.Metrics.Inventories()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "meridian_discovery_clusters_lost",
			Help: "Member clusters whose API server does not answer now."}, func() float64 {
			n := 0
			for _, s := range d.Status() {
				if !s.LostAt.IsZero() || s.Error != "" && !s.Synced {
					n++
				}
			}
			return float64(n)
		}),
	)
}
