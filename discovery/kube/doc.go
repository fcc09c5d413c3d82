// Package kube discovers global services in member Kubernetes clusters and
// keeps the Inventory current: for each cluster, client-go shared informers
// watch Services, Ingresses, EndpointSlices and Nodes, and Istio Gateways
// and VirtualServices and Gateway API Gateways and HTTPRoutes where those
// APIs exist. Objects are slimmed to small structs in the informers; a pure
// builder turns a cluster's objects into its backends (ingress addresses,
// ready pods per zone, pod IPs); a change is built into a new Inventory at
// once, without a hold-off (the weights loop is the one debounce; see
// internal/debounce), and changes that follow it closely are built together.
//
// Clusters come from the config file (a kubeconfig, or in-cluster, which
// follows $KUBECONFIG when it is set, as kubectl does) and from
// labelled kubeconfig Secrets, added and removed without a restart. A
// cluster whose API server stops answering keeps its last known objects
// and is marked lost with the time of its last contact; the engine decides
// what that means.
//
// A member that answers again is caught up at once, whatever the length of
// its outage. client-go's reflectors retry a lost API server with a
// back-off that grows to [30, 60) s and resets only after 2 min without a
// failure, and shared informers cannot be given another; so the first
// heartbeat that succeeds after a loss starts a new set of informers (a
// fresh factory) and the old set keeps serving its objects meanwhile.
// Until the new set has listed, the cluster stays lost, since its state
// is still the last known one, and is resyncing (ClusterStatus.Resyncing,
// model.Cluster.Resyncing; "resyncing" in the API's cluster list); then
// its stores are swapped in under the cluster's lock, the old set is
// stopped, and the cluster is found again: never an empty answer in
// between. A heartbeat that fails while the new set lists stops it; the
// next success starts another.
//
// A member that is down does not hold up the others. The first Inventory
// waits for each cluster until it has listed its objects, or has failed
// to answer (a closed port at once; a black hole after the 2 s heartbeat
// deadline), or has said nothing for Config.StartWait (2 s); a cluster
// that answered and is still listing is worth Config.SyncTimeout (10 s).
// A cluster left out is in the Inventory without backends, lost since it
// was started if it did not answer: unknown, never zero pods. Its backends
// join when it has listed its objects. A cluster restarted by a reload or
// a changed Secret keeps its backends until the new watch has listed.
//
// Every question to a member runs in that member's own goroutines and has
// a deadline: the heartbeat 2 s, the look for optional APIs 5 s per API;
// Reconfigure and the Secret handler ask members nothing. The informers'
// list and watch requests have no overall timeout (one would cut the
// watches); client-go's transport bounds them instead: 30 s to connect,
// 10 s for the TLS handshake, HTTP/2 pings on an idle connection.
//
// client-go, Istio's client-go and the Gateway API clients are imported here
// (and in api/ stores) and nowhere else.
package kube
