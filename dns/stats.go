package dns

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Stats counts what the DNS server does with plain atomic counters on the
// query path, and turns them into Prometheus metrics only when scraped.
type Stats struct {
	qtypes      [len(statTypes) + 1]atomic.Uint64
	rcodes      [24]atomic.Uint64
	ecs         [2]atomic.Uint64 // without, with
	truncated   atomic.Uint64
	rateLimited atomic.Uint64
	slipped     atomic.Uint64
	latency     [len(latencyBounds) + 1]atomic.Uint64
	latencySum  atomic.Uint64 // nanoseconds

	acceptErrors atomic.Uint64
	tcpOpen      atomic.Int64
	tcpEvict     [2]atomic.Uint64 // by tcpLimits
	tcpRefuse    [2]atomic.Uint64 // by tcpLimits
	steerChanges [2]atomic.Uint64 // to steering by CPU, to spreading

	mu      sync.Mutex
	zones   map[string]*atomic.Uint64
	byAnswr map[[2]string]*atomic.Uint64
	// signers returns the signed zones' signers, when a Handler serves
	// with these Stats.
	signers func() map[string]*signer
	// udpSockets returns the packets each UDP socket read, once a
	// server serves with these Stats.
	udpSockets func() []uint64

	descs struct {
		queries, responses, ecs, truncated, limited, slipped, latency, zone, answer *prometheus.Desc
		acceptErrors, tcpOpen, tcpEvict, tcpRefuse                                  *prometheus.Desc
		signatures, signRefused                                                     *prometheus.Desc
		udpPackets, steerChanges                                                    *prometheus.Desc
	}
}

// tcpLimits label the TCP connections closed for a limit: the one of the
// client's network (tcp_max_conns_per_network), or the total (tcp_max_conns).
var tcpLimits = [...]string{"network", "total"}

// statTypes are the query types counted by name; the rest count as "other".
var statTypes = [...]uint16{mdns.TypeA, mdns.TypeAAAA, mdns.TypeNS, mdns.TypeSOA, mdns.TypeCNAME, mdns.TypeMX,
	mdns.TypeTXT, mdns.TypeSRV, mdns.TypeCAA, mdns.TypePTR, mdns.TypeDS, mdns.TypeDNSKEY, mdns.TypeHTTPS,
	mdns.TypeSVCB, mdns.TypeANY, mdns.TypeAXFR, mdns.TypeIXFR}

// latencyBounds are the histogram's upper bounds, in seconds.
var latencyBounds = [...]float64{5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 50e-3}

// NewStats registers the DNS metrics with reg.
func NewStats(reg prometheus.Registerer) *Stats {
	s := &Stats{zones: map[string]*atomic.Uint64{}, byAnswr: map[[2]string]*atomic.Uint64{}}
	d := &s.descs
	d.queries = prometheus.NewDesc("meridian_dns_queries_total", "DNS queries answered, by query type.", []string{"type"}, nil)
	d.responses = prometheus.NewDesc("meridian_dns_responses_total", "DNS responses sent, by response code.", []string{"rcode"}, nil)
	d.ecs = prometheus.NewDesc("meridian_dns_client_subnet_total", "Queries with and without EDNS Client Subnet.", []string{"ecs"}, nil)
	d.truncated = prometheus.NewDesc("meridian_dns_truncated_total", "UDP responses truncated to fit the client's payload size.", nil, nil)
	d.limited = prometheus.NewDesc("meridian_dns_rate_limited_total", "Responses dropped by response-rate limiting.", nil, nil)
	d.slipped = prometheus.NewDesc("meridian_dns_rate_limit_slipped_total", "Rate-limited responses sent truncated instead (slip).", nil, nil)
	d.latency = prometheus.NewDesc("meridian_dns_response_seconds", "Time from reading a query to writing its response.", nil, nil)
	d.zone = prometheus.NewDesc("meridian_dns_zone_queries_total", "Queries by zone.", []string{"zone"}, nil)
	d.answer = prometheus.NewDesc("meridian_dns_service_answers_total", "Answers of global services by the cluster of their first record.", []string{"service", "cluster"}, nil)
	d.acceptErrors = prometheus.NewDesc("meridian_dns_tcp_accept_errors_total",
		"Failed accepts of DNS TCP connections (such as running out of file descriptors), each retried after a back-off.", nil, nil)
	d.tcpOpen = prometheus.NewDesc("meridian_dns_tcp_connections", "Open DNS TCP connections.", nil, nil)
	d.tcpEvict = prometheus.NewDesc("meridian_dns_tcp_idle_closed_total",
		"Idle DNS TCP connections closed to make room for a new one, by the limit reached: tcp_max_conns_per_network (network) or tcp_max_conns (total).",
		[]string{"limit"}, nil)
	d.tcpRefuse = prometheus.NewDesc("meridian_dns_tcp_refused_total",
		"New DNS TCP connections closed at once because a limit was reached and every connection it counts was busy answering.",
		[]string{"limit"}, nil)
	d.signatures = prometheus.NewDesc("meridian_dnssec_signatures_total",
		"DNSSEC signatures made, by zone: when answers are compiled (new records, or signatures near expiry) and online (denials and wildcards).", []string{"zone"}, nil)
	d.signRefused = prometheus.NewDesc("meridian_dnssec_online_refused_total",
		"UDP queries that needed an online signature answered with TC instead, by zone and reason: the zone's signing budget was spent (zone), "+
			"the client network's share of it (network), or the signers had no room (busy).", []string{"zone", "reason"}, nil)
	d.udpPackets = prometheus.NewDesc("meridian_dns_udp_socket_packets_total",
		"UDP packets read, by socket (one per CPU, in the order of the CPUs).", []string{"socket"}, nil)
	d.steerChanges = prometheus.NewDesc("meridian_dns_udp_steering_changes_total",
		"Changes of how UDP packets are spread over the sockets: to spread (one CPU received most packets: its packets go to every socket) "+
			"or to cpu (each packet to the socket of the CPU that received it).", []string{"to"}, nil)
	reg.MustRegister(s)
	return s
}

// countUDPSockets reports the packets each UDP socket read (packets).
func (s *Stats) countUDPSockets(packets func() []uint64) {
	if s != nil {
		s.mu.Lock()
		s.udpSockets = packets
		s.mu.Unlock()
	}
}

// steered counts a change of the UDP steering.
func (s *Stats) steered(spread bool) {
	if s != nil {
		i := 0
		if spread {
			i = 1
		}
		s.steerChanges[i].Add(1)
	}
}

func (s *Stats) acceptError() {
	if s != nil {
		s.acceptErrors.Add(1)
	}
}

func (s *Stats) tcpOpened() {
	if s != nil {
		s.tcpOpen.Add(1)
	}
}

func (s *Stats) tcpClosed() {
	if s != nil {
		s.tcpOpen.Add(-1)
	}
}

func (s *Stats) tcpIdleClosed(limit string) {
	if s != nil {
		s.tcpEvict[tcpLimit(limit)].Add(1)
	}
}

func (s *Stats) tcpRefused(limit string) {
	if s != nil {
		s.tcpRefuse[tcpLimit(limit)].Add(1)
	}
}

// tcpLimit is the index of a limit in tcpLimits.
func tcpLimit(limit string) int {
	if limit == tcpLimits[0] {
		return 0
	}
	return 1
}

// answers returns the counter of (service, cluster), creating it.
func (s *Stats) answers(service, cluster string) *atomic.Uint64 {
	if s == nil {
		return new(atomic.Uint64)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{service, cluster}
	c, ok := s.byAnswr[k]
	if !ok {
		c = new(atomic.Uint64)
		s.byAnswr[k] = c
	}
	return c
}

// zone returns the counter of a zone, creating it.
func (s *Stats) zone(origin string) *atomic.Uint64 {
	if s == nil {
		return new(atomic.Uint64)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.zones[origin]
	if !ok {
		c = new(atomic.Uint64)
		s.zones[origin] = c
	}
	return c
}

func (s *Stats) limited() {
	if s != nil {
		s.rateLimited.Add(1)
	}
}

func (s *Stats) slip() {
	if s != nil {
		s.slipped.Add(1)
	}
}

// observeBatch counts the outcomes of one batch of UDP queries, all
// answered within took: counted locally first, then one atomic add per
// counter touched instead of one per query and counter.
func (s *Stats) observeBatch(outs []outcome, took time.Duration) {
	if s == nil {
		return
	}
	var qtypes [len(statTypes) + 1]uint64
	var rcodes [24]uint64
	var ecs [2]uint64
	var truncated, n uint64
	var zone *zoneTable
	var zoneN uint64
	for i := range outs {
		o := &outs[i]
		if o.rcode < 0 {
			continue
		}
		n++
		qtypes[statType(o.qtype)]++
		if o.rcode < len(rcodes) {
			rcodes[o.rcode]++
		}
		if o.ecs {
			ecs[1]++
		} else {
			ecs[0]++
		}
		if o.truncated {
			truncated++
		}
		if o.zone != zone { // a batch is mostly one zone
			if zoneN > 0 {
				zone.queries.Add(zoneN)
			}
			zone, zoneN = o.zone, 0
		}
		if zone != nil {
			zoneN++
		}
		if o.counter != nil {
			o.counter.Add(1)
		}
	}
	if n == 0 {
		return
	}
	if zoneN > 0 {
		zone.queries.Add(zoneN)
	}
	addNonZero(s.qtypes[:], qtypes[:])
	addNonZero(s.rcodes[:], rcodes[:])
	addNonZero(s.ecs[:], ecs[:])
	if truncated > 0 {
		s.truncated.Add(truncated)
	}
	s.latency[latencyBucket(took)].Add(n)
	s.latencySum.Add(n * uint64(took))
}

func addNonZero(dst []atomic.Uint64, src []uint64) {
	for i, v := range src {
		if v > 0 {
			dst[i].Add(v)
		}
	}
}

// statType is the index of a query type among the counted ones.
func statType(qtype uint16) int {
	for j, t := range statTypes {
		if t == qtype {
			return j
		}
	}
	return len(statTypes)
}

// latencyBucket is the histogram bucket of a response time.
func latencyBucket(took time.Duration) int {
	secs := took.Seconds()
	for j, ub := range latencyBounds {
		if secs <= ub {
			return j
		}
	}
	return len(latencyBounds)
}

// observe counts one answered query (TCP, or UDP without batches).
func (s *Stats) observe(o *outcome, took time.Duration) {
	one := [1]outcome{*o}
	s.observeBatch(one[:], took)
}

// Describe implements prometheus.Collector.
func (s *Stats) Describe(ch chan<- *prometheus.Desc) {
	d := &s.descs
	for _, x := range []*prometheus.Desc{d.queries, d.responses, d.ecs, d.truncated, d.limited, d.slipped, d.latency, d.zone, d.answer,
		d.acceptErrors, d.tcpOpen, d.tcpEvict, d.tcpRefuse, d.udpPackets, d.steerChanges} {
		ch <- x
	}
}

// Collect implements prometheus.Collector.
func (s *Stats) Collect(ch chan<- prometheus.Metric) {
	d := &s.descs
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	for i, t := range statTypes {
		counter(d.queries, s.qtypes[i].Load(), mdns.TypeToString[t])
	}
	counter(d.queries, s.qtypes[len(statTypes)].Load(), "other")
	for rc := range s.rcodes {
		if v := s.rcodes[rc].Load(); v > 0 {
			counter(d.responses, v, mdns.RcodeToString[rc])
		}
	}
	counter(d.ecs, s.ecs[0].Load(), "absent")
	counter(d.ecs, s.ecs[1].Load(), "present")
	counter(d.truncated, s.truncated.Load())
	counter(d.limited, s.rateLimited.Load())
	counter(d.slipped, s.slipped.Load())
	counter(d.acceptErrors, s.acceptErrors.Load())
	ch <- prometheus.MustNewConstMetric(d.tcpOpen, prometheus.GaugeValue, float64(s.tcpOpen.Load()))
	for i, l := range tcpLimits {
		counter(d.tcpEvict, s.tcpEvict[i].Load(), l)
		counter(d.tcpRefuse, s.tcpRefuse[i].Load(), l)
	}
	buckets := map[float64]uint64{}
	var n uint64
	for i, ub := range latencyBounds {
		n += s.latency[i].Load()
		buckets[ub] = n
	}
	n += s.latency[len(latencyBounds)].Load()
	ch <- prometheus.MustNewConstHistogram(d.latency, n, float64(s.latencySum.Load())/1e9, buckets)
	s.mu.Lock()
	for z, c := range s.zones {
		counter(d.zone, c.Load(), z)
	}
	for k, c := range s.byAnswr {
		counter(d.answer, c.Load(), k[0], k[1])
	}
	signers := s.signers
	udpSockets := s.udpSockets
	s.mu.Unlock()
	if udpSockets != nil {
		for i, n := range udpSockets() {
			counter(d.udpPackets, n, strconv.Itoa(i))
		}
	}
	counter(d.steerChanges, s.steerChanges[0].Load(), "cpu")
	counter(d.steerChanges, s.steerChanges[1].Load(), "spread")
	// Outside s.mu: the Handler's lock, which signers takes, is held
	// while compiling, which takes s.mu.
	if signers != nil {
		for zone, sg := range signers() {
			counter(d.signatures, sg.made.Load(), zone)
			for why := notRefused + 1; why < refusals; why++ {
				counter(d.signRefused, sg.refused[why].Load(), zone, refusalNames[why])
			}
		}
	}
}
