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

	// Another address in the same slot replaces the first, and the first
	// is then a miss, never the other's answer.
	var other netip.Addr
	for i := uint32(1); ; i++ {
		o := netip.AddrFrom4([4]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)})
		if o != a && locSlot(key4(o)) == locSlot(key4(a)) {
			other = o
			break
		}
	}
	c.put(other, 7, 16)
	if _, _, ok := c.get(a); ok {
		t.Error("a replaced entry still answers")
	}
	if b, bits, ok := c.get(other); !ok || b != 7 || bits != 16 {
		t.Errorf("get(other) = %d %d %v", b, bits, ok)
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
