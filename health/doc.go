// Package health will judge every ingress address of every global service:
// active probes (HTTP, HTTPS, TCP, gRPC health) run by a bounded scheduler,
// each target's verdict kept by a pure rise/fall state machine driven by
// explicit time, and combined with Kubernetes readiness into model.Health.
//
// Until it lands, every target's state is model.Unknown, which the engine
// treats as usable.
package health
