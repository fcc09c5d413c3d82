package config

import "github.com/meridian-gtm/meridian/model"

// StaticInventory returns the inventory the static blocks of clusters
// describe, as Policies and Overrides turn the config into the model's terms.
// Clusters without a static block contribute their locality only. A service
// without addresses of its own uses the block's shared ingress addresses,
// and its VMs count as ready pods. Counts and addresses written with `zone
// ZONE` become the backend's per-zone pods and address zones.
func StaticInventory(clusters []Cluster) model.Inventory {
	var cs []model.Cluster
	var bs []model.Backend
	for _, c := range clusters {
		cs = append(cs, model.Cluster{
			Name:     c.Name,
			Locality: model.Locality{Region: c.Region, Zone: c.Zone},
			Location: c.Location,
		})
		if c.Static == nil {
			continue
		}
		for _, s := range c.Static.Services {
			ingress, zones := s.Ingress, s.IngressZones
			if len(ingress) == 0 {
				ingress, zones = c.Static.Ingress, c.Static.IngressZones
			}
			bs = append(bs, model.Backend{
				Service:   s.FQDN,
				Cluster:   c.Name,
				Ingress:   ingress,
				ReadyPods: s.Pods + s.VMs,
				// A static cluster declares the capacity it has: what is
				// configured is expected and ready, NotReadyPods 0.
				ZonePods:     s.ZonePods,
				IngressZones: zones,
			})
		}
	}
	return model.NewInventory(cs, bs)
}
