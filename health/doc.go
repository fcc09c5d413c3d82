// Package health judges every ingress address of every global service.
//
// A Checker probes each target (HTTP, HTTPS, TCP connect or gRPC health)
// from one scheduler goroutine that hands probes to a bounded pool of
// workers; each target keeps its own place in the interval, so that ten
// thousand targets spread evenly instead of probing in bursts. On Linux
// the scheduler runs TCP probes itself, in rounds of non-blocking connects
// polled together at the next round, the few still in flight then waited
// on by one epoll instance (connect_linux.go): four system calls a probe,
// less than half the CPU of a worker's dial, and no allocation. Each result
// feeds a pure rise/fall state machine driven by explicit time (Thresholds).
// The Checker publishes probe verdicts only; readiness (no ready pods behind
// an address means down whatever the probes say) is the engine's, read from
// the Inventory (model.ReadyState), so a change of ready pods makes one Plan.
// A target of a service without a health check is up (model.NotProbed). A
// probed target starts as model.Unknown, which the engine treats as usable,
// so a restart never empties an answer.
//
// Replicas share their probe verdicts (Config.Share, SetPeers) and each
// counts every live replica's by a Quorum (majority, any, all, or a
// percentage) before it publishes the result, so that one
// replica's broken path to a target fails nothing over and every replica
// serves the same verdict. The vote is a pure function (quorum.go);
// readiness is never voted on.
//
// Probes may be sent from chosen local addresses (Config.Source, at most
// one per family): every kind of probe dials from the source of its
// target's family, and a target of another family from the kernel's
// choice. CheckSource tells at start whether an address is the host's.
//
// health imports model, not config (checks come as Check, built in
// cmd/meridian), nor the DNS or xDS libraries (internal/importrules).
package health
