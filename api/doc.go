// Package api is Meridian's HTTP side: liveness and readiness probes,
// Prometheus metrics, the authenticated /api/v1 for reading the Plan and
// writing Overrides (with its OpenAPI document, an audit log and durable
// stores), and the status page.
//
// Overrides are kept by a Store: FileStore here, a Kubernetes ConfigMap in
// api/kubestore for replicas that must agree. A write is acknowledged only
// after its audit record is synced; bad input is refused with a JSON error
// and changes nothing. Beside the overrides live the other state replicas
// keep: the zones' SOA serials (FileSerials, dns.SerialBook) and the last
// Inventory, for a warm start (FileInventory); files shared by processes
// are updated under an flock.
//
// The server bounds what clients hold (Limits: timeouts, header size, a
// connection cap that gives a new client the place of the connection
// waiting longest for a request) and waits out accept errors.
//
// api imports the components' packages (model, weights' explain, dns's
// answers) but not config: cmd/meridian hands it what it serves. Only its
// kubestore subpackage may import client-go (internal/importrules).
package api
