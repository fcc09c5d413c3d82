package dns

import (
	"net/netip"
	"testing"
)

func TestLocCache(t *testing.T) {
	var c locCache
	a := netip.MustParseAddr("81.2.69.0")
	if _, _, ok := c.get(a); ok {
		t.Fatal("an empty cache has an entry")
	}
	c.put(a, 3, 24)
	if b, bits, ok := c.get(a); !ok || b != 3 || bits != 24 {
		t.Fatalf("get = %d %d %v, want 3 24 true", b, bits, ok)
	}
	// No network (an address the database does not know) is kept as -1.
	z := netip.MustParseAddr("0.0.0.0")
	c.put(z, 0, -1)
	if b, bits, ok := c.get(z); !ok || b != 0 || bits != -1 {
		t.Fatalf("get(0.0.0.0) = %d %d %v, want 0 -1 true", b, bits, ok)
	}

	// Two other addresses in the same set: the first of them stays with a
	// (a set holds two), the second displaces the oldest, a, which is then
	// a miss, never another's answer.
	var others []netip.Addr
	for i := uint32(1); len(others) < 2; i++ {
		o := netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		if o != a && locSet(key4(o)) == locSet(key4(a)) {
			others = append(others, o)
		}
	}
	c.put(others[0], 7, 16)
	if b, bits, ok := c.get(a); !ok || b != 3 || bits != 24 {
		t.Errorf("with another address in its set: get(a) = %d %d %v, want 3 24 true", b, bits, ok)
	}
	if b, bits, ok := c.get(others[0]); !ok || b != 7 || bits != 16 {
		t.Errorf("get(others[0]) = %d %d %v", b, bits, ok)
	}
	c.put(others[0], 8, 16) // again: replaced in place, a stays
	if _, _, ok := c.get(a); !ok {
		t.Error("updating the other address of its set displaced a")
	}
	c.put(others[1], 9, 8)
	if _, _, ok := c.get(a); ok {
		t.Error("a displaced entry still answers")
	}
	for i, want := range []int{8, 9} {
		if b, _, ok := c.get(others[i]); !ok || b != want {
			t.Errorf("get(others[%d]) = %d %v, want %d", i, b, ok, want)
		}
	}

	// 1,000 addresses spread over the IPv4 space nearly all stay.
	var d locCache
	var addrs []netip.Addr
	for i := range uint32(1000) {
		x := i * 2654435761 // scattered over the space
		addrs = append(addrs, netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), 0}))
	}
	for i, a := range addrs {
		d.put(a, i%100, 24)
	}
	kept := 0
	for _, a := range addrs {
		if _, _, ok := d.get(a); ok {
			kept++
		}
	}
	if kept < 970 {
		t.Errorf("of 1,000 addresses, %d stay cached, want at least 970", kept)
	}

	// What does not fit a slot is not cached.
	v6 := netip.MustParseAddr("2001:db8::")
	c.put(v6, 1, 32)
	if _, _, ok := c.get(v6); ok {
		t.Error("an IPv6 address was cached")
	}
	big := netip.MustParseAddr("192.0.2.1")
	c.put(big, 1<<16, 24)
	if _, _, ok := c.get(big); ok {
		t.Error("a bucket over 16 bits was cached")
	}
}
