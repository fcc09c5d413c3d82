package api

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connCap bounds the open connections of each HTTP listener. When a
// listener is full, a new connection takes the place of the one that has
// waited longest for a request: a connection that has sent nothing yet
// or a kept-alive one between requests. So clients that open connections
// and send nothing (slowloris) cannot lock out the others, the kubelet's
// probes included; they only churn among themselves, as DNS over TCP does
// (see dns.Server). A new connection is refused only when every open one
// is in the middle of a request.
type connCap struct {
	mu      sync.Mutex
	conns   map[net.Conn]*cappedConn
	open    map[*capListener]int
	evicted prometheus.Counter
	refused prometheus.Counter
}

// cappedConn is what the cap knows of an open connection.
type cappedConn struct {
	ln *capListener
	// waitingSince is when the connection began waiting for a request;
	// zero while one is being served.
	waitingSince time.Time
}

func newConnCap() *connCap {
	return &connCap{
		conns: map[net.Conn]*cappedConn{}, open: map[*capListener]int{},
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_http_idle_closed_total",
			Help: "HTTP connections waiting for a request that were closed to make room for a new one at max_connections."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_http_refused_total",
			Help: "HTTP connections refused at max_connections because every open one was serving a request."}),
	}
}

// capListener is a listener whose connections count against max.
type capListener struct {
	net.Listener
	cap *connCap
	max int
}

// listener wraps ln with a cap of max open connections.
func (k *connCap) listener(ln net.Listener, max int) net.Listener {
	return &capListener{Listener: ln, cap: k, max: max}
}

// Accept returns the next connection admitted within the cap.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.cap.admit(l, c) {
			return c, nil
		}
		c.Close()
	}
}

// admit counts c on l, making room by closing the connection of l that has
// waited longest for a request; false when all of them are serving one.
func (k *connCap) admit(l *capListener, c net.Conn) bool {
	k.mu.Lock()
	var victim net.Conn
	if k.open[l] >= l.max {
		if victim = k.longestWaiting(l); victim == nil {
			k.mu.Unlock()
			k.refused.Inc()
			return false
		}
		k.forget(victim)
	}
	k.conns[c] = &cappedConn{ln: l, waitingSince: time.Now()}
	k.open[l]++
	k.mu.Unlock()
	if victim != nil {
		k.evicted.Inc()
		go victim.Close() // a TLS close may wait to send its alert
	}
	return true
}

// longestWaiting returns l's connection that has waited longest for a
// request, nil when all are serving one. k.mu is held.
func (k *connCap) longestWaiting(l *capListener) net.Conn {
	var found net.Conn
	var since time.Time
	for c, e := range k.conns {
		if e.ln == l && !e.waitingSince.IsZero() && (found == nil || e.waitingSince.Before(since)) {
			found, since = c, e.waitingSince
		}
	}
	return found
}

// forget stops counting c. k.mu is held.
func (k *connCap) forget(c net.Conn) {
	if e, ok := k.conns[c]; ok {
		delete(k.conns, c)
		k.open[e.ln]--
	}
}

// connState follows net/http's view of each connection (http.Server's
// ConnState hook): serving a request, waiting for one, or gone.
func (k *connCap) connState(c net.Conn, s http.ConnState) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.conns[c]
	if !ok {
		return // closed to make room, or not counted
	}
	switch s {
	case http.StateActive:
		e.waitingSince = time.Time{}
	case http.StateIdle:
		e.waitingSince = time.Now()
	case http.StateClosed, http.StateHijacked:
		k.forget(c)
	}
}
