// Package kube discovers global services in member Kubernetes clusters and
// keeps the Inventory current: for each cluster, client-go shared informers
// watch Services, Ingresses, EndpointSlices and Nodes, and Istio Gateways
// and VirtualServices and Gateway API Gateways and HTTPRoutes where those
// APIs exist. Objects are slimmed to small structs in the informers; a pure
// builder turns a cluster's objects into its backends (ingress addresses,
// ready pods per zone, pod IPs); changes are batched into Inventory versions.
//
// Clusters come from the config file (a kubeconfig, or in-cluster, which
// follows $KUBECONFIG when it is set, as kubectl does) and from
// labelled kubeconfig Secrets, added and removed without a restart. A
// cluster whose API server stops answering keeps its last known objects
// and is marked lost with the time of its last contact; the engine decides
// what that means.
//
// client-go, Istio's client-go and the Gateway API clients are imported here
// (and in api/ stores) and nowhere else.
package kube
