// Package api is Meridian's HTTP side: liveness and readiness probes,
// Prometheus metrics, the authenticated /api/v1 for reading the Plan and
// writing Overrides (with its OpenAPI document, an audit log and durable
// stores), and the status page.
//
// Overrides are kept by a Store: FileStore here, a Kubernetes ConfigMap in
// api/kubestore for replicas that must agree.
package api
