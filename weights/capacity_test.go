package weights

import "testing"

func TestCapacityWeight(t *testing.T) {
	for _, tc := range []struct {
		name            string
		pods, addresses int
		want            uint32
	}{
		{"no pods", 0, 2, 0},
		{"no addresses", 5, 0, 0},
		{"one pod behind three addresses", 1, 3, 3},
		{"one pod behind one address", 1, 1, 10},
		{"25 pods behind 4 addresses", 25, 4, 62},
		{"6 pods behind 2 addresses", 6, 2, 30},
		{"4 VMs and 2 pods count as 6 pods, 3 addresses", 4 + 2, 3, 20},
		{"one VM behind 20 nodes floors to 1", 1, 20, 1},
		{"10 pods behind 3 addresses floors", 10, 3, 33},
		{"2^40 pods saturate instead of wrapping to 0", 1 << 40, 1, 1<<32 - 1},
		{"2^32/10 pods behind 1 address saturate", 1<<32/10 + 1, 1, 1<<32 - 1},
		{"the largest count saturates", 1<<63 - 1, 1, 1<<32 - 1},
	} {
		if got := CapacityWeight(tc.pods, tc.addresses); got != tc.want {
			t.Errorf("%s: CapacityWeight(%d, %d) = %d, want %d", tc.name, tc.pods, tc.addresses, got, tc.want)
		}
	}
}
