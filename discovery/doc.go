// Package discovery turns the outside world into a model.Inventory: the member
// clusters, where they run, and per global service their ingress addresses and
// ready pod counts. Each source lives in its own subpackage: static (declared in
// the config file) today, kube (Kubernetes API servers) next.
package discovery
