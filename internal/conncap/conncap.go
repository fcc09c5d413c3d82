// Package conncap bounds a server's open connections so that clients that
// hold connections without using them cannot lock out the others.
//
// At a limit, a new connection takes the place of the one that has waited
// longest for a request (a query, an HTTP request); it is refused only
// when every connection that counts is serving one. NSD and Knot bound
// their TCP clients and close idle ones after a timeout; closing the one
// waiting longest at once when full means that a client that keeps its
// connections just busy enough to beat the timeout churns only its own
// (RFC 7766, section 6.2.3, lets a DNS server close an idle connection at
// any time; an HTTP client reconnects as well). DNS over TCP and the HTTP
// server both use it.
package conncap

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Limits are the caps of a Table: Max connections in all and, when
// MaxPerGroup is above zero, at most MaxPerGroup of one group (a client
// network, say).
type Limits struct {
	Max, MaxPerGroup int
}

// Table counts the open connections of a server by group G.
type Table[G comparable] struct {
	limits Limits
	mu     sync.Mutex
	conns  map[net.Conn]*Conn[G]
	groups map[G]int
}

// Conn is an open connection as the table knows it.
type Conn[G comparable] struct {
	net.Conn
	group G
	// waitingSince is when the connection began waiting for a request
	// (Unix nanoseconds); 0 while it serves one.
	waitingSince atomic.Int64
}

// Waiting marks c as waiting for its next request, a candidate to make
// room. A new connection starts waiting. It takes no lock.
func (c *Conn[G]) Waiting() { c.waitingSince.Store(time.Now().UnixNano()) }

// Busy marks c as serving a request: not to be closed to make room.
func (c *Conn[G]) Busy() { c.waitingSince.Store(0) }

// New returns an empty table with the given limits.
func New[G comparable](l Limits) *Table[G] {
	return &Table[G]{limits: l, conns: map[net.Conn]*Conn[G]{}, groups: map[G]int{}}
}

// Admission says what Admit did.
type Admission struct {
	// Limit is the limit that was reached ("" when none was): "group" or
	// "total".
	Limit string
	// Evicted is set when a waiting connection was closed to make room.
	Evicted bool
}

// Admit counts c in group, closing the connection that has waited longest
// (of the group when the group is full, else of all) when a limit is
// reached. It returns nil when every candidate is busy: the caller closes
// c.
func (t *Table[G]) Admit(c net.Conn, group G) (*Conn[G], Admission) {
	tc := &Conn[G]{Conn: c, group: group}
	tc.Waiting()
	var a Admission
	var victim *Conn[G]
	t.mu.Lock()
	switch {
	case t.limits.MaxPerGroup > 0 && t.groups[group] >= t.limits.MaxPerGroup:
		a.Limit, victim = "group", t.longestWaiting(group, true)
	case len(t.conns) >= t.limits.Max:
		a.Limit, victim = "total", t.longestWaiting(group, false)
	}
	if a.Limit != "" && victim == nil {
		t.mu.Unlock()
		return nil, a
	}
	if victim != nil {
		t.forget(victim)
	}
	t.conns[c] = tc
	t.groups[group]++
	t.mu.Unlock()
	if victim != nil {
		a.Evicted = true
		go victim.Close() // a TLS close may wait to send its alert
	}
	return tc, a
}

// longestWaiting returns the connection waiting longest, of group only when
// inGroup; nil when all are busy. t.mu is held.
func (t *Table[G]) longestWaiting(group G, inGroup bool) *Conn[G] {
	var found *Conn[G]
	oldest := int64(0)
	for _, c := range t.conns {
		if inGroup && c.group != group {
			continue
		}
		if w := c.waitingSince.Load(); w != 0 && (found == nil || w < oldest) {
			found, oldest = c, w
		}
	}
	return found
}

// Lookup returns the table's entry for c, nil when c is not counted (it
// was closed to make room, or released).
func (t *Table[G]) Lookup(c net.Conn) *Conn[G] {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.conns[c]
}

// Release stops counting c; releasing it again, or after it was closed to
// make room, does nothing. It reports whether c was counted.
func (t *Table[G]) Release(c *Conn[G]) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns[c.Conn] != c {
		return false
	}
	t.forget(c)
	return true
}

// forget removes c from the counts. t.mu is held.
func (t *Table[G]) forget(c *Conn[G]) {
	delete(t.conns, c.Conn)
	if n := t.groups[c.group] - 1; n > 0 {
		t.groups[c.group] = n
	} else {
		delete(t.groups, c.group)
	}
}

// Each calls fn for every counted connection, under the table's lock.
func (t *Table[G]) Each(fn func(net.Conn)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for c := range t.conns {
		fn(c)
	}
}
