package kube

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// hostResolver turns load balancer hostnames (a cloud provider's ELB name)
// into addresses, caching each for its TTL and re-resolving it when the TTL
// runs out; a change calls onChange, so that the Inventory follows. It asks
// one recursive resolver directly, because the system resolver hides TTLs.
//
// A host is resolved for as long as some cluster's objects name it: each
// build of a cluster says which hosts it used (keep), and a host no cluster
// uses any more stops being refreshed, so that load balancers that come
// and go leave no goroutine behind.
type hostResolver struct {
	server   string // ADDRESS:PORT of a recursive resolver
	onChange func()
	mu       sync.Mutex
	hosts    map[string]*hostEntry
	ctx      context.Context
	running  sync.WaitGroup // the refresh goroutines
}

type hostEntry struct {
	addrs   []netip.Addr
	expires time.Time
	pending bool
	users   map[string]bool // the clusters whose last build named the host
	stop    context.CancelFunc
}

// TTL bounds: answers are re-resolved at least this often and at most.
const (
	minResolveTTL = 5 * time.Second
	maxResolveTTL = time.Hour
	failRetry     = 10 * time.Second
)

// systemResolver returns the first nameserver of /etc/resolv.conf.
func systemResolver() string {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "nameserver" {
				if a, err := netip.ParseAddr(f[1]); err == nil {
					return netip.AddrPortFrom(a, 53).String()
				}
			}
		}
	}
	return "127.0.0.1:53"
}

func newHostResolver(ctx context.Context, server string, onChange func()) *hostResolver {
	if server == "" {
		server = systemResolver()
	}
	return &hostResolver{server: server, onChange: onChange, hosts: map[string]*hostEntry{}, ctx: ctx}
}

// lookup returns the addresses host has now, starting its resolution when
// it is new; a new host's addresses arrive later, with onChange.
func (r *hostResolver) lookup(host string) []netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.hosts[host]
	if !ok {
		ctx, stop := context.WithCancel(r.ctx)
		e = &hostEntry{pending: true, users: map[string]bool{}, stop: stop}
		r.hosts[host] = e
		r.running.Go(func() { r.refresh(ctx, host, e) })
	}
	return e.addrs
}

// keep records that cluster's objects now name exactly hosts (nil: none,
// for a cluster removed), and stops resolving the hosts that no cluster
// names any more.
func (r *hostResolver) keep(cluster string, hosts map[string]bool) {
	if r == nil {
		return // not running yet: nothing resolved
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for host, e := range r.hosts {
		if hosts[host] {
			e.users[cluster] = true
			continue
		}
		delete(e.users, cluster)
		if len(e.users) == 0 {
			e.stop()
			delete(r.hosts, host)
		}
	}
}

// refresh resolves host now and again when its TTL runs out, until ctx
// ends: the resolver's, or the host's when no cluster names it any more.
func (r *hostResolver) refresh(ctx context.Context, host string, e *hostEntry) {
	for {
		addrs, ttl, err := r.resolve(ctx, host)
		wait := min(max(ttl, minResolveTTL), maxResolveTTL)
		r.mu.Lock()
		changed := false
		if err == nil {
			changed = !slices.Equal(e.addrs, addrs)
			e.addrs = addrs
		} else {
			wait = failRetry // keep the last addresses; try again soon
		}
		e.pending, e.expires = false, time.Now().Add(wait)
		r.mu.Unlock()
		if changed && r.onChange != nil {
			r.onChange()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// resolve asks for A and AAAA records and returns the addresses, sorted,
// and the smallest TTL.
func (r *hostResolver) resolve(ctx context.Context, host string) ([]netip.Addr, time.Duration, error) {
	var out []netip.Addr
	ttl := maxResolveTTL
	for _, t := range []dnsmessage.Type{dnsmessage.TypeA, dnsmessage.TypeAAAA} {
		addrs, tt, err := r.query(ctx, host, t)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, addrs...)
		if len(addrs) > 0 {
			ttl = min(ttl, tt)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out), ttl, nil
}

func (r *hostResolver) query(ctx context.Context, host string, t dnsmessage.Type) ([]netip.Addr, time.Duration, error) {
	name, err := dnsmessage.NewName(strings.TrimSuffix(host, ".") + ".")
	if err != nil {
		return nil, 0, err
	}
	id := uint16(rand.Uint32())
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: name, Type: t, Class: dnsmessage.ClassINET}},
	}
	req, err := msg.Pack()
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", r.server)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	if _, err := c.Write(req); err != nil {
		return nil, 0, err
	}
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, 0, err
		}
		var resp dnsmessage.Message
		if err := resp.Unpack(buf[:n]); err != nil || resp.ID != id {
			continue // not our answer
		}
		if resp.RCode == dnsmessage.RCodeNameError {
			return nil, maxResolveTTL, nil
		}
		if resp.RCode != dnsmessage.RCodeSuccess {
			return nil, 0, errors.New("resolving " + host + ": " + resp.RCode.String())
		}
		var out []netip.Addr
		ttl := maxResolveTTL
		for _, a := range resp.Answers {
			switch b := a.Body.(type) {
			case *dnsmessage.AResource:
				out = append(out, netip.AddrFrom4(b.A))
			case *dnsmessage.AAAAResource:
				out = append(out, netip.AddrFrom16(b.AAAA).Unmap())
			default:
				continue
			}
			ttl = min(ttl, time.Duration(a.Header.TTL)*time.Second)
		}
		return out, ttl, nil
	}
}
