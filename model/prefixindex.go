package model

import "net/netip"

// PrefixIndex finds, among a list of prefixes, the longest one holding an
// address, and how far the answer holds around it, in one walk of a
// binary trie: at most 32 or 128 steps however long the list (a subnet
// list of 100,000 lines searched one by one made each uncached DNS query
// cost milliseconds).
type PrefixIndex struct {
	nodes []prefixNode // nodes[0] is the IPv4 root, nodes[1] the IPv6 root
}

type prefixNode struct {
	child [2]int32 // 0: none (the roots are never children)
	entry int32    // index in the list of the prefix ending here; -1: none
}

// NewPrefixIndex indexes prefixes, which keep their positions as the
// entries Match returns; of two equal prefixes the first counts. An
// IPv4-mapped IPv6 prefix matches nothing, as addresses are unmapped.
func NewPrefixIndex(prefixes []netip.Prefix) *PrefixIndex {
	x := &PrefixIndex{nodes: []prefixNode{{entry: -1}, {entry: -1}}}
	for i, p := range prefixes {
		if !p.IsValid() || p.Addr().Is4In6() {
			continue
		}
		n, a := int32(1), p.Addr().As16()
		start := 0
		if p.Addr().Is4() {
			n, start = 0, 96
		}
		for d := range p.Bits() {
			b := bit(a, start+d)
			if x.nodes[n].child[b] == 0 {
				x.nodes = append(x.nodes, prefixNode{entry: -1})
				x.nodes[n].child[b] = int32(len(x.nodes) - 1)
			}
			n = x.nodes[n].child[b]
		}
		if x.nodes[n].entry < 0 {
			x.nodes[n].entry = int32(i)
		}
	}
	return x
}

// Match returns the index of the longest prefix holding addr (-1: none)
// and the length of the shortest prefix of addr over which that answer
// holds for every address: the longer of the match's own length and, for
// each prefix that does not hold addr, one bit more than it shares with
// addr (matchPrefix says the same by looking at every prefix).
func (x *PrefixIndex) Match(addr netip.Addr) (match, bits int) {
	addr = addr.Unmap()
	n, a := int32(1), addr.As16()
	start, end := 0, 128
	if addr.Is4() {
		n, start = 0, 96
	}
	match = -1
	for d := 0; ; d++ {
		node := x.nodes[n]
		if node.entry >= 0 {
			match, bits = int(node.entry), d
		}
		if start+d == end {
			return match, bits
		}
		b := bit(a, start+d)
		if node.child[1-b] != 0 { // a prefix that shares exactly d bits
			bits = max(bits, d+1)
		}
		if node.child[b] == 0 {
			return match, bits
		}
		n = node.child[b]
	}
}

func bit(a [16]byte, i int) int { return int(a[i/8]>>(7-i%8)) & 1 }
