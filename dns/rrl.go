package dns

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// Limiter is response-rate limiting (RRL) against amplification attacks
// that spoof a victim's address: each client network may receive a few
// responses of each kind per second over UDP; the rest are dropped, but
// every slip-th one is sent truncated so that a real client behind the
// network retries over TCP, which is never limited.
type Limiter struct {
	rate   float64 // responses per second, also the burst
	window time.Duration
	slip   uint32
	v4, v6 int
	seed   maphash.Seed
	shards [64]rrlShard
}

type rrlShard struct {
	mu      sync.Mutex
	entries map[rrlKey]*rrlEntry
	swept   time.Time
}

// rrlKey is a client network and a kind of response.
type rrlKey struct {
	net  [16]byte
	kind uint8
}

type rrlEntry struct {
	tokens  float64
	last    time.Time
	limited uint32
}

type rrlVerdict uint8

const (
	rrlSend rrlVerdict = iota
	rrlDrop
	rrlSlip
)

// NewLimiter returns a limiter for c; nil c means no limit.
func NewLimiter(c *LimiterConfig) *Limiter {
	if c == nil {
		return nil
	}
	l := &Limiter{rate: float64(c.ResponsesPerSecond), window: c.Window, slip: c.Slip,
		v4: int(c.IPv4Prefix), v6: int(c.IPv6Prefix), seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].entries = map[rrlKey]*rrlEntry{}
	}
	return l
}

// decide says whether the response to client may go out at time now.
func (l *Limiter) decide(client netip.Addr, o *outcome, now time.Time) rrlVerdict {
	bits := l.v6
	if client.Is4() {
		bits = l.v4
	}
	p, _ := client.Prefix(bits)
	k := rrlKey{net: p.Addr().As16(), kind: responseKind(o)}
	sh := &l.shards[maphash.Comparable(l.seed, k)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.swept) > l.window {
		for key, e := range sh.entries {
			if now.Sub(e.last) > l.window {
				delete(sh.entries, key)
			}
		}
		sh.swept = now
	}
	e := sh.entries[k]
	if e == nil {
		e = &rrlEntry{tokens: l.rate, last: now}
		sh.entries[k] = e
	}
	e.tokens = min(l.rate, e.tokens+now.Sub(e.last).Seconds()*l.rate)
	e.last = now
	if e.tokens >= 1 {
		e.tokens--
		return rrlSend
	}
	e.limited++
	if l.slip > 0 && e.limited%l.slip == 0 {
		return rrlSlip
	}
	return rrlDrop
}

// responseKind groups responses as RRL does: answers, negative answers,
// and errors are limited separately.
func responseKind(o *outcome) uint8 {
	switch o.rcode {
	case rcodeOK:
		return 0
	case nxDomain:
		return 1
	default:
		return 2
	}
}
