// Package discovery turns the outside world into a model.Inventory: the member
// clusters, where they run, and per global service their ingress addresses and
// ready pod counts. Its source is the kube subpackage (Kubernetes API
// servers); clusters declared in the config file are turned into an
// Inventory by config.StaticInventory.
//
// Only the kube subpackage may import client-go, and no discovery package
// imports config: clusters come as kube.ClusterConfig, and the config's
// static clusters become an Inventory in config itself (StaticInventory).
package discovery
