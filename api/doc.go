// Package api is Meridian's HTTP side: liveness and readiness probes and
// Prometheus metrics today; the authenticated /api/v1 for reading the Plan and
// writing Overrides, and the status page, as they arrive.
package api
