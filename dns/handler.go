package dns

import (
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/geo"
	"github.com/meridian-gtm/meridian/model"
)

// Locator tells where a client address is; *geo.DB is one.
type Locator interface {
	Lookup(ip netip.Addr) geo.Location
}

// udpPayload is the largest UDP response we send and advertise: the size
// DNS Flag Day 2020 recommends, which avoids IP fragmentation.
const udpPayload = 1232

// Handler answers DNS queries from the current answer table.
type Handler struct {
	zones   []config.Zone
	locator Locator
	serial  uint32
	table   atomic.Pointer[table]
	metrics *Metrics
}

// NewHandler returns a handler for zones that locates clients with locator.
// It answers REFUSED until the first Plan is published: without a Plan it
// cannot know any answer. m may be nil.
func NewHandler(zones []config.Zone, locator Locator, m *Metrics) *Handler {
	return &Handler{zones: zones, locator: locator, serial: uint32(time.Now().Unix()), metrics: m}
}

// Publish compiles plan into a new answer table and swaps it in.
func (h *Handler) Publish(plan *model.Plan) {
	h.table.Store(compile(h.zones, plan, h.serial))
}

// Ready reports whether a Plan has been published.
func (h *Handler) Ready() bool { return h.table.Load() != nil }

// ServeDNS answers one query.
func (h *Handler) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	resp := h.answer(req, w.RemoteAddr())
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		resp.Truncate(udpSize(req))
	}
	h.metrics.observe(resp)
	w.WriteMsg(resp)
}

// udpSize is how large a UDP response to req may be: 512 bytes without
// EDNS, else the requestor's payload size within [512, udpPayload].
func udpSize(req *mdns.Msg) int {
	if opt := req.IsEdns0(); opt != nil {
		return int(min(max(opt.UDPSize(), mdns.MinMsgSize), udpPayload))
	}
	return mdns.MinMsgSize
}

// answer builds the response to req from a client at remote.
func (h *Handler) answer(req *mdns.Msg, remote net.Addr) *mdns.Msg {
	resp := new(mdns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = false
	if len(req.Question) != 1 {
		resp.Rcode = mdns.RcodeFormatError
		return resp
	}
	reqOpt := req.IsEdns0()
	if reqOpt != nil {
		opt := &mdns.OPT{Hdr: mdns.RR_Header{Name: ".", Rrtype: mdns.TypeOPT}}
		opt.SetUDPSize(udpPayload)
		resp.Extra = append(resp.Extra, opt)
		if reqOpt.Version() != 0 {
			resp.Rcode = mdns.RcodeBadVers
			return resp
		}
	}
	t := h.table.Load()
	q := req.Question[0]
	qname := strings.ToLower(q.Name)
	var z *zone
	if t != nil && q.Qclass == mdns.ClassINET {
		z = t.findZone(qname)
	}
	if z == nil {
		resp.Rcode = mdns.RcodeRefused
		return resp
	}
	resp.Authoritative = true
	ecs := clientSubnet(reqOpt)
	if ecs != nil {
		// Echo the option; only answers that depend on the client narrow its scope.
		echo := &mdns.EDNS0_SUBNET{Code: mdns.EDNS0SUBNET, Family: ecs.Family, SourceNetmask: ecs.SourceNetmask, Address: ecs.Address}
		opt := resp.Extra[0].(*mdns.OPT)
		opt.Option = append(opt.Option, echo)
		ecs = echo
	}
	n, ok := z.names[qname]
	if !ok {
		resp.Rcode = mdns.RcodeNameError
		resp.Ns = []mdns.RR{z.negativeSOA()}
		return resp
	}
	switch {
	case n.service != nil && (q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeAAAA || q.Qtype == mdns.TypeANY):
		bucket, scope := h.locate(t.plan, ecs, remote)
		addrs := n.service.a
		if q.Qtype == mdns.TypeAAAA {
			addrs = n.service.aaaa
		}
		if bucket < len(addrs) {
			for _, ip := range addrs[bucket] {
				resp.Answer = append(resp.Answer, addrRR(q.Name, ip, n.service.ttl))
			}
		}
		if ecs != nil {
			ecs.SourceScope = scope
		}
	case q.Qtype == mdns.TypeANY: // RFC 8482: one RRset is enough
		for _, t := range []uint16{mdns.TypeSOA, mdns.TypeA, mdns.TypeAAAA} {
			if rrs := n.rrsets[t]; len(rrs) > 0 {
				resp.Answer = withOwner(rrs, q.Name)
				break
			}
		}
	default:
		resp.Answer = withOwner(n.rrsets[q.Qtype], q.Name)
		if q.Qtype == mdns.TypeNS && qname == z.origin {
			resp.Extra = append(z.glue(), resp.Extra...)
		}
	}
	if len(resp.Answer) == 0 {
		resp.Ns = []mdns.RR{z.negativeSOA()}
	}
	return resp
}

// locate returns the client's bucket in plan and the ECS scope to answer
// with: the prefix length of the GeoIP network that decided, never more than
// the query's source prefix. The client subnet decides when the query has
// one; otherwise the resolver's own address does.
func (h *Handler) locate(plan *model.Plan, ecs *mdns.EDNS0_SUBNET, remote net.Addr) (bucket int, scope uint8) {
	ip := remoteAddr(remote)
	if ecs != nil && ecs.SourceNetmask > 0 {
		a, _ := netip.AddrFromSlice(ecs.Address)
		p, err := a.Unmap().Prefix(int(ecs.SourceNetmask))
		if err != nil {
			return len(plan.Sites), 0
		}
		ip = p.Addr()
	}
	loc := h.locator.Lookup(ip)
	if ecs != nil && ecs.SourceNetmask > 0 && loc.Network.IsValid() {
		scope = uint8(min(loc.Network.Bits(), int(ecs.SourceNetmask)))
	}
	return plan.Bucket(loc.Point, loc.HasPoint), scope
}

// clientSubnet returns the query's ECS option, if any.
func clientSubnet(opt *mdns.OPT) *mdns.EDNS0_SUBNET {
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*mdns.EDNS0_SUBNET); ok {
			return e
		}
	}
	return nil
}

func remoteAddr(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		return ip.Unmap()
	}
	return netip.Addr{}
}

// negativeSOA is the SOA for the authority section of NXDOMAIN and NODATA
// answers, its TTL the negative-caching TTL.
func (z *zone) negativeSOA() mdns.RR {
	soa := *z.soa
	soa.Hdr.Ttl = z.negTTL
	return &soa
}

// glue returns the addresses of the zone's in-zone name servers.
func (z *zone) glue() []mdns.RR {
	var out []mdns.RR
	for _, rr := range z.ns {
		if n, ok := z.names[rr.(*mdns.NS).Ns]; ok {
			out = append(out, n.rrsets[mdns.TypeA]...)
			out = append(out, n.rrsets[mdns.TypeAAAA]...)
		}
	}
	return out
}

// withOwner returns copies of rrs named as the query wrote the name, so
// that the answer echoes the question's case.
func withOwner(rrs []mdns.RR, owner string) []mdns.RR {
	out := make([]mdns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = mdns.Copy(rr)
		out[i].Header().Name = owner
	}
	return out
}
