package model

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestPrefixIndexMatchesLinearSearch checks the trie against matchPrefix,
// which looks at every prefix, on random lists and addresses that often
// fall in or next to them.
func TestPrefixIndexMatchesLinearSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func(v6 bool, bits int) netip.Addr {
		var a [16]byte
		for i := range a {
			a[i] = byte(rng.IntN(4)) // few distinct bytes: prefixes nest and neighbour
		}
		if v6 {
			return netip.AddrFrom16(a)
		}
		return netip.AddrFrom4([4]byte(a[:4]))
	}
	for round := range 300 {
		var list []netip.Prefix
		for range 1 + rng.IntN(40) {
			v6 := rng.IntN(3) == 0
			max := 32
			if v6 {
				max = 128
			}
			p, _ := random(v6, max).Prefix(rng.IntN(max + 1))
			list = append(list, p)
		}
		list = append(list, netip.MustParsePrefix("::ffff:1.0.0.0/104")) // matches nothing
		x := NewPrefixIndex(list)
		for range 50 {
			addr := random(rng.IntN(3) == 0, 0)
			if rng.IntN(5) == 0 {
				addr = netip.AddrFrom16(addr.As16()) // IPv4-mapped
			}
			gotMatch, gotBits := x.Match(addr)
			wantMatch, wantBits := matchPrefix(list, func(p netip.Prefix) netip.Prefix { return p }, addr)
			if gotMatch != wantMatch && (wantMatch < 0 || gotMatch < 0 || list[gotMatch] != list[wantMatch]) || gotBits != wantBits {
				t.Fatalf("round %d, %v in %v: index says %d /%d, linear search %d /%d", round, addr, list, gotMatch, gotBits, wantMatch, wantBits)
			}
		}
	}
}

func BenchmarkPrefixIndex(b *testing.B) {
	var list []netip.Prefix
	for i := range 100_000 {
		list = append(list, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 0}), 24))
	}
	x := NewPrefixIndex(list)
	addr := netip.MustParseAddr("1.134.160.7")
	b.ReportAllocs()
	for b.Loop() {
		x.Match(addr)
	}
}

// matchPrefix is the reference PrefixIndex is checked against: it returns the index of the longest prefix of list that holds
// addr (-1: none) and the shortest prefix of addr over which that answer
// holds for every address: for each prefix of addr's family, an address
// that shares its first min(common+1, bits) bits with addr is decided by
// the prefix alike, so the widest uniform prefix is the largest of those.
func matchPrefix[T any](list []T, prefix func(T) netip.Prefix, addr netip.Addr) (match, bits int) {
	addr = addr.Unmap()
	match = -1
	for i := range list {
		n := prefix(list[i])
		if n.Addr().Is4() != addr.Is4() || n.Addr().Is4In6() { // addresses are unmapped
			continue
		}
		if n.Contains(addr) {
			if match < 0 || n.Bits() > prefix(list[match]).Bits() {
				match = i
			}
			bits = max(bits, n.Bits())
			continue
		}
		bits = max(bits, min(commonBits(addr, n.Addr())+1, n.Bits()))
	}
	return match, bits
}

// commonBits is the length of the common prefix of two addresses of the
// same family.
func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		if d := x[i] ^ y[i]; d != 0 {
			for d&0x80 == 0 {
				d <<= 1
				n++
			}
			break
		}
		n += 8
	}
	if a.Is4() {
		n -= 96 // As16 maps IPv4 into ::ffff:0:0/96
	}
	return n
}

func BenchmarkNewPrefixIndex(b *testing.B) {
	var list []netip.Prefix
	for i := range 100_000 {
		list = append(list, netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(i >> 16), byte(i >> 8), byte(i), 0}), 24))
	}
	b.ReportAllocs()
	for b.Loop() {
		NewPrefixIndex(list)
	}
}
