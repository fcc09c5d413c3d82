package xds

import (
	"time"
)

// Limits bound what xDS clients can make the server hold, so that idle,
// chatty or hostile clients cannot take it down. A zero field takes its
// default.
type Limits struct {
	// MaxConnections caps the open connections per listener; beyond it,
	// new connections wait in the kernel's backlog until one closes. The
	// default admits a fleet of 10,000 clients with room for as many
	// reconnecting while their old connections are still open (a rolling
	// restart, until keepalive finds the old ones dead). A client's
	// connection and stream cost the server about 50 KB of heap
	// (BenchmarkPlanToACK at 10,000 clients), so 20,000 cost about 1 GB.
	MaxConnections int
	// MaxStreams caps the concurrent streams of one connection (HTTP/2
	// SETTINGS_MAX_CONCURRENT_STREAMS); an ADS client needs one.
	MaxStreams uint32
	// KeepaliveMinTime is the shortest interval between a client's pings
	// the server accepts; a client that pings more often is sent GOAWAY
	// "too_many_pings" and disconnected.
	KeepaliveMinTime time.Duration
	// KeepaliveTime and KeepaliveTimeout: a connection idle for
	// KeepaliveTime is pinged, and closed if the ping is not answered
	// within KeepaliveTimeout.
	KeepaliveTime    time.Duration
	KeepaliveTimeout time.Duration
	// IdleTimeout closes a connection that has had no stream that long.
	IdleTimeout time.Duration
	// MaxGroups caps the node groups (role × locality), each of which has
	// its own resources rebuilt on every Plan. Nodes beyond it join the
	// group of their region, or of unknown location.
	MaxGroups int
	// GroupGrace is how long a group without streams keeps its resources
	// before it is dropped (sooner when a new group needs its place).
	GroupGrace time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxConnections   = 20000
	DefaultMaxStreams       = 100
	DefaultKeepaliveMinTime = 10 * time.Second
	DefaultKeepaliveTime    = 30 * time.Second
	DefaultKeepaliveTimeout = 10 * time.Second
	DefaultIdleTimeout      = 5 * time.Minute
	DefaultMaxGroups        = 512
	DefaultGroupGrace       = time.Minute
)

// handshakeTimeout bounds a new connection's TLS and HTTP/2 handshakes, so
// that a client that connects and says nothing does not hold a connection.
const handshakeTimeout = 10 * time.Second

func (l Limits) withDefaults() Limits {
	or := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if l.MaxStreams == 0 {
		l.MaxStreams = DefaultMaxStreams
	}
	if l.MaxGroups <= 0 {
		l.MaxGroups = DefaultMaxGroups
	}
	or(&l.KeepaliveMinTime, DefaultKeepaliveMinTime)
	or(&l.KeepaliveTime, DefaultKeepaliveTime)
	or(&l.KeepaliveTimeout, DefaultKeepaliveTimeout)
	or(&l.IdleTimeout, DefaultIdleTimeout)
	or(&l.GroupGrace, DefaultGroupGrace)
	return l
}
