package api

import (
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/internal/conncap"
)

// connCap bounds the open connections of each HTTP listener (conncap, as
// DNS over TCP does): when a listener is full, a new connection takes the
// place of the one that has waited longest for a request, one that has
// sent nothing yet or a kept-alive one between requests. So clients that
// open connections and send nothing (slowloris) cannot lock out the
// others, the kubelet's probes included. A new connection is refused only
// when every open one is in the middle of a request.
type connCap struct {
	table   *conncap.Table[int] // grouped by listener
	evicted prometheus.Counter
	refused prometheus.Counter
}

// newConnCap returns a cap of perListener connections on each listener.
func newConnCap(perListener, listeners int) *connCap {
	return &connCap{
		table: conncap.New[int](conncap.Limits{Max: perListener * max(1, listeners), MaxPerGroup: perListener}),
		evicted: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_http_idle_closed_total",
			Help: "HTTP connections waiting for a request that were closed to make room for a new one at max_connections."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_http_refused_total",
			Help: "HTTP connections refused at max_connections because every open one was serving a request."}),
	}
}

// capListener is a listener whose connections count in its group.
type capListener struct {
	net.Listener
	cap   *connCap
	group int
}

// listener wraps ln, the group-th listener, with the cap. It must be the
// outermost wrapper (after TLS), so that the cap counts the connections
// net/http reports to connState.
func (k *connCap) listener(ln net.Listener, group int) net.Listener {
	return &capListener{Listener: ln, cap: k, group: group}
}

// Accept returns the next connection admitted within the cap.
func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc, a := l.cap.table.Admit(c, l.group)
		if a.Evicted {
			l.cap.evicted.Inc()
		}
		if tc != nil {
			return c, nil // net/http needs c itself: it looks for a *tls.Conn
		}
		l.cap.refused.Inc()
		c.Close()
	}
}

// connState follows net/http's view of each connection (http.Server's
// ConnState hook): serving a request, waiting for one, or gone.
func (k *connCap) connState(c net.Conn, s http.ConnState) {
	tc := k.table.Lookup(c)
	if tc == nil {
		return // closed to make room
	}
	switch s {
	case http.StateActive:
		tc.Busy()
	case http.StateIdle:
		tc.Waiting()
	case http.StateClosed, http.StateHijacked:
		k.table.Release(tc)
	}
}
