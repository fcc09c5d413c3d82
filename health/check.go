package health

import "time"

// Check is how every ingress address of one service is probed: the
// Checker's own copy of a service's health block, built by the caller
// (cmd/meridian from the config file), so that health does not depend on
// the config package. Defaults are the caller's: every field is used as
// it is.
type Check struct {
	// Pos is where the health block was written, FILE:LINE, for errors
	// about its files; it does not take part in comparing two checks.
	Pos string
	// Kind is grpc, http, https or tcp; "" or none: not probed.
	Kind               string
	Port               uint16
	Path, Method       string        // http(s)
	Host               string        // Host header and TLS server name
	Expect             []StatusRange // http(s): the statuses that pass
	Body               string        // the response must contain it; empty: anything
	Interval, Timeout  time.Duration
	Jitter             time.Duration
	Rise, Fall         int
	InsecureSkipVerify bool
	CA                 string // PEM file of CAs to trust instead of the system's
	ClientCert         string
	ClientKey          string
	GRPCService        string // grpc: the service name to ask about; "" the server
}

// StatusRange is a range of accepted HTTP status codes, both ends included.
type StatusRange struct{ Low, High int }
