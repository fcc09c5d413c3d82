package geo

import "sync/atomic"

// recordCache maps a record's data offset to its decoded Location, so that
// each record is decoded once. It is a direct-mapped array of immutable
// entries: a hit costs one atomic load and allocates nothing; a collision
// replaces the older entry, which bounds its memory whatever the database.
type recordCache struct {
	slots [1 << 14]atomic.Pointer[cacheEntry]
}

type cacheEntry struct {
	off uintptr
	loc Location
}

func (c *recordCache) slot(off uintptr) *atomic.Pointer[cacheEntry] {
	h := uint64(off) * 0x9E3779B97F4A7C15 // Fibonacci hashing spreads nearby offsets
	return &c.slots[h>>(64-14)]
}

func (c *recordCache) get(off uintptr) (Location, bool) {
	if e := c.slot(off).Load(); e != nil && e.off == off {
		return e.loc, true
	}
	return Location{}, false
}

func (c *recordCache) put(off uintptr, loc Location) {
	c.slot(off).Store(&cacheEntry{off: off, loc: loc})
}
