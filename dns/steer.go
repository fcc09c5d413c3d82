package dns

import "time"

// How the UDP readers share the load when packets are steered by CPU
// (steerByCPU): a packet goes to the socket of the CPU that received it,
// which is cheapest while the load arrives on every CPU (a query read on
// the CPU that received it cost 4.2 µs of the server's CPU time here, one
// moved to another CPU 5.3 to 7.2 µs: bench/RESULTS.md). When it arrives
// on one CPU (one busy sender, a single-queue NIC, a veth from a
// node-local proxy), that one socket gets everything while the other
// readers idle. So the server counts each socket's packets and reads, and
// every steerInterval it decides (nextSteering) whether to spread: the
// packets received on the busy CPU then go to every socket by their DNS
// message ID (a spread per query, even within one client flow), and the
// other CPUs' packets still to their own sockets.
//
// Spreading costs CPU time per query, so it is worth it only when the
// busy CPU's reader falls behind and another CPU has room for a reader:
// on a machine whose other CPUs are busy with other work, the reader on
// the receiving CPU alone answers more.
const (
	steerInterval = 200 * time.Millisecond
	// steerMinPackets: with fewer packets in an interval (5,000 a second)
	// the readers keep up however the packets fall, and the steering
	// stays as it is.
	steerMinPackets = 1000
	// spreadFrom: spread once one CPU receives this share of the packets
	// (and its reader is behind, and another CPU has room).
	spreadFrom = 0.75
	// spreadUntil: steer by CPU again once the spread CPU receives less
	// than this share: lower than spreadFrom, so that a load near the
	// threshold does not flip the program every interval.
	spreadUntil = 0.6
	// behindBatch: a reader whose reads return this many packets on
	// average had them queued: it is behind (reads return at most
	// batchSize; a reader that keeps up gets one or two).
	behindBatch = 4
	// roomToSpread, roomToStay: the share of a CPU that is idle or runs
	// that CPU's own reader, over the interval, for the CPU to count as
	// having room for a reader: when deciding to spread, and while spread
	// (lower: its reader now takes part of the idle time). Readers are not
	// kept on their CPU, so a reader's time counts as its CPU's room
	// wherever the scheduler ran it: an estimate, which errs towards not
	// spreading when the scheduler already moved a busy CPU's reader to an
	// idle one.
	roomToSpread = 0.5
	roomToStay   = 0.3
)

// steerSample is what the sockets of a group did in one interval, each
// index a socket (and the CPU it is steered from, in order).
type steerSample struct {
	packets []uint64  // packets read
	reads   []uint64  // reads that returned packets
	room    []float64 // share of the interval that the CPU was idle or ran this socket's reader; <0: unknown
}

// nextSteering decides the steering for the next interval from the last
// interval's sample. spreading is the socket whose CPU's packets are
// spread over all sockets, or -1 when every packet goes to its CPU's
// socket; so is the result.
//
// While steering by CPU, the packets are what each CPU received. While
// spreading socket b's CPU, each socket got an equal part of what b's CPU
// received (so b's count is that part) plus what its own CPU received: b's
// CPU received len(packets) times packets[b], CPU i packets[i]-packets[b].
func nextSteering(spreading int, s steerSample) int {
	n := len(s.packets)
	if n < 2 || spreading >= n || len(s.reads) != n || len(s.room) != n {
		return -1
	}
	var total uint64
	top := 0
	for i, c := range s.packets {
		total += c
		if c > s.packets[top] {
			top = i
		}
	}
	if total < steerMinPackets {
		return spreading
	}
	if spreading < 0 {
		behind := s.reads[top] > 0 && s.packets[top] >= behindBatch*s.reads[top]
		if float64(s.packets[top]) >= spreadFrom*float64(total) && behind && roomElsewhere(s.room, top, roomToSpread) {
			return top
		}
		return -1
	}
	part := s.packets[spreading]
	busy := float64(part) * float64(n)
	var others float64
	for i, c := range s.packets {
		if i != spreading && c > part {
			others += float64(c - part)
		}
	}
	if busy < spreadUntil*(busy+others) || !roomElsewhere(s.room, spreading, roomToStay) {
		return -1
	}
	return spreading
}

// roomElsewhere reports whether a CPU other than the busy one has at least
// the given room; an unknown room counts as enough (steering then depends
// on the packets alone).
func roomElsewhere(room []float64, busy int, least float64) bool {
	for i, r := range room {
		if i != busy && (r < 0 || r >= least) {
			return true
		}
	}
	return false
}
