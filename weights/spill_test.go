package weights

import (
	"slices"
	"testing"
)

// hostsAt gives a level of 100 hosts with pct of them healthy.
func hostsAt(pct int) levelHosts { return levelHosts{hosts: 100, healthy: pct} }

func TestSpillMatchesEnvoyCode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		levels     []levelHosts
		threshold  uint32
		load       []uint32
		panic      []bool
		totalPanic bool
	}{
		// panic_threshold.rst, first table: P1 is 100% healthy.
		{"P0 72%", []levelHosts{hostsAt(72), hostsAt(100)}, 50, []uint32{100, 0}, []bool{false, false}, false},
		{"P0 71%", []levelHosts{hostsAt(71), hostsAt(100)}, 50, []uint32{99, 1}, []bool{false, false}, false},
		{"P0 50%", []levelHosts{hostsAt(50), hostsAt(100)}, 50, []uint32{70, 30}, []bool{false, false}, false},
		{"P0 25%", []levelHosts{hostsAt(25), hostsAt(100)}, 50, []uint32{35, 65}, []bool{false, false}, false},
		{"P0 0%", []levelHosts{hostsAt(0), hostsAt(100)}, 50, []uint32{0, 100}, []bool{false, false}, false},
		// Second table, where the code is the oracle.
		{"72% 72%", []levelHosts{hostsAt(72), hostsAt(72)}, 50, []uint32{100, 0}, []bool{false, false}, false},
		{"71% 71%", []levelHosts{hostsAt(71), hostsAt(71)}, 50, []uint32{99, 1}, []bool{false, false}, false},
		{"50% 60%: code 70/30, doc 50/50", []levelHosts{hostsAt(50), hostsAt(60)}, 50, []uint32{70, 30}, []bool{false, false}, false},
		{"25% 100%: code 35/65, doc 25/75", []levelHosts{hostsAt(25), hostsAt(100)}, 50, []uint32{35, 65}, []bool{false, false}, false},
		{"25% 25%: total panic", []levelHosts{hostsAt(25), hostsAt(25)}, 50, []uint32{50, 50}, []bool{true, true}, true},
		{"5% 65%: code 8/92, doc 7/93", []levelHosts{hostsAt(5), hostsAt(65)}, 50, []uint32{8, 92}, []bool{true, false}, false},
		// Panic needs normalized availability below 100.
		{"one level 40% healthy panics", []levelHosts{{hosts: 5, healthy: 2}}, 50, []uint32{100}, []bool{true}, true},
		{"one level 40% healthy, panic disabled", []levelHosts{{hosts: 5, healthy: 2}}, 0, []uint32{100}, []bool{false}, false},
		{"total panic loads follow host counts", []levelHosts{{hosts: 1, healthy: 0}, {hosts: 2, healthy: 0}}, 50,
			[]uint32{34, 66}, []bool{true, true}, true},
		{"nothing healthy, panic disabled: all to P0", []levelHosts{{hosts: 2}, {hosts: 2}}, 0,
			[]uint32{100, 0}, []bool{false, false}, false},
		{"three levels 10/20/10 of 100", []levelHosts{hostsAt(10), hostsAt(20), hostsAt(10)}, 0,
			[]uint32{25, 50, 25}, []bool{false, false, false}, false},
		{"empty level is skipped", []levelHosts{{}, hostsAt(100)}, 50, []uint32{0, 100}, []bool{false, false}, false},
		{"a third healthy each: 46+46+46 > 100, the last gets what is left", []levelHosts{{hosts: 3, healthy: 1}, {hosts: 3, healthy: 1}, {hosts: 3, healthy: 1}}, 0,
			[]uint32{46, 46, 8}, []bool{false, false, false}, false},
		{"rounding remainder goes to the first healthy level", []levelHosts{{}, {hosts: 20, healthy: 1}, {hosts: 20, healthy: 1}, {hosts: 20, healthy: 1}}, 0,
			[]uint32{0, 34, 33, 33}, []bool{false, false, false, false}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r spillResult
			spill(tc.levels, 140, tc.threshold, &r)
			if !slices.Equal(r.load, tc.load) || !slices.Equal(r.panic, tc.panic) || r.totalPanic != tc.totalPanic {
				t.Errorf("load %v panic %v total %v, want %v %v %v", r.load, r.panic, r.totalPanic, tc.load, tc.panic, tc.totalPanic)
			}
			sum := uint32(0)
			for _, l := range r.load {
				sum += l
			}
			if len(tc.levels) > 0 && sum != 100 {
				t.Errorf("loads sum to %d", sum)
			}
		})
	}
}
