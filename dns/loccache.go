package dns

import (
	"net/netip"
	"sync/atomic"
)

// locCacheBits sets the cache's size: 4,096 slots of 8 bytes per table,
// in 2,048 sets of two (two-way associative: 1,000 client subnets hashed
// to 4,096 single slots collided for 11% of them, which then missed on
// every other query; in sets of two, 1% would).
const locCacheBits = 12

// locCache remembers, per IPv4 lookup address (an ECS subnet, or a
// resolver's own address), its placement (an index in table.classes, kept
// here as "bucket") and the width of the network over which that placement
// holds (the GeoIP network's, narrowed by subnet lists and maps). A resolver asks again and again for the
// same subnets, so a repeat costs one atomic load instead of a GeoIP tree
// walk and a nearest-site lookup. Each slot is one word, written and read
// whole: no lock, and a collision only overwrites. It lives in a table,
// so a new Plan or a reloaded GeoIP database starts with an empty one.
// IPv6 addresses are not cached: they do not fit a word with the answer.
type locCache [1 << locCacheBits]atomic.Uint64

// A slot holds the address (high 32 bits), the bucket (16 bits), the
// network width plus one (8 bits; 0: no network) and a valid bit.
const locValid = 1

// locSet is the first of the two slots where ip may be cached; both are
// in one cache line.
func locSet(ip uint32) uint32 { return ip * 0x9E3779B1 >> (32 - locCacheBits + 1) << 1 }

// get returns the bucket and network width (-1: none) cached for ip.
func (c *locCache) get(ip netip.Addr) (bucket, bits int, ok bool) {
	if !ip.Is4() {
		return 0, 0, false
	}
	key := key4(ip)
	set := locSet(key)
	w := c[set].Load()
	if w&locValid == 0 || uint32(w>>32) != key {
		if w = c[set+1].Load(); w&locValid == 0 || uint32(w>>32) != key {
			return 0, 0, false
		}
	}
	return int(w >> 16 & 0xffff), int(w>>8&0xff) - 1, true
}

// put caches the bucket and network width (-1: none) of ip.
func (c *locCache) put(ip netip.Addr, bucket, bits int) {
	if !ip.Is4() || bucket < 0 || bucket > 0xffff || bits < -1 || bits > 32 {
		return
	}
	key := key4(ip)
	set := locSet(key)
	w := uint64(key)<<32 | uint64(bucket)<<16 | uint64(bits+1)<<8 | locValid
	// The newest goes first and the one it displaces second, so that of
	// three addresses taking turns the last two stay. Two writers may
	// race: each slot is still a whole entry, at worst one is lost.
	if first := c[set].Load(); first&locValid != 0 && uint32(first>>32) != key {
		c[set+1].Store(first)
	}
	c[set].Store(w)
}

// key4 is an IPv4 address as a number.
func key4(ip netip.Addr) uint32 {
	a := ip.As4()
	return uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
}
