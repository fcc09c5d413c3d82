package dns

import (
	"slices"
	"testing"
)

// behindAndFree is a sample in which every reader reads 8 packets at a
// time (behind) and every CPU is idle outside the server's readers.
func behindAndFree(packets ...uint64) steerSample {
	s := steerSample{packets: packets}
	for _, p := range packets {
		s.reads = append(s.reads, p/8)
		s.room = append(s.room, 1)
	}
	return s
}

func TestNextSteering(t *testing.T) {
	with := func(s steerSample, f func(*steerSample)) steerSample {
		s.reads, s.room = slices.Clone(s.reads), slices.Clone(s.room)
		f(&s)
		return s
	}
	for _, c := range []struct {
		name      string
		spreading int
		sample    steerSample
		want      int
	}{
		{"spread load stays steered by CPU", -1, behindAndFree(50_000, 48_000), -1},
		{"one CPU takes it all: spread it", -1, behindAndFree(90_000, 0), 0},
		{"the second CPU takes it all", -1, behindAndFree(100, 90_000), 1},
		{"75% on one CPU: spread", -1, behindAndFree(7_500, 2_500), 0},
		{"70% on one CPU: still by CPU", -1, behindAndFree(7_000, 3_000), -1},
		{"four CPUs, one busy", -1, behindAndFree(1_000, 80_000, 2_000, 1_000), 1},
		{"four CPUs, two busy", -1, behindAndFree(1_000, 40_000, 40_000, 1_000), -1},
		{"too few packets to decide: unchanged", -1, behindAndFree(900, 0), -1},
		{"too few packets while spreading: unchanged", 0, behindAndFree(10, 400), 0},
		{"one socket: nothing to steer", -1, behindAndFree(90_000), -1},
		{"all on one CPU, but its reader keeps up (2 a read): by CPU", -1,
			with(behindAndFree(90_000, 0), func(s *steerSample) { s.reads[0] = 45_000 }), -1},
		{"all on one CPU, but the other CPU is busy with other work: by CPU", -1,
			with(behindAndFree(90_000, 0), func(s *steerSample) { s.room[1] = 0.4 }), -1},
		{"all on one CPU, the other's room unknown: spread", -1,
			with(behindAndFree(90_000, 0), func(s *steerSample) { s.room[1] = -1 }), 0},
		{"all on CPU 0, CPU 0 busy but CPU 2 free: spread", -1,
			with(behindAndFree(90_000, 0, 0), func(s *steerSample) { s.room[0], s.room[1] = 0, 0.1 }), 0},
		// Spreading CPU 0's packets over two sockets: it received twice
		// socket 0's count, CPU 1 socket 1's count less socket 0's.
		{"spread, still all on CPU 0: stay", 0, behindAndFree(45_000, 45_500), 0},
		{"spread, CPU 1 gets its own load again: by CPU", 0, behindAndFree(40_000, 100_000), -1},
		{"spread, CPU 1 a little (10%): stay", 0, behindAndFree(45_000, 55_000), 0},
		{"spread, the sender moved to CPU 1: by CPU", 0, behindAndFree(0, 90_000), -1},
		{"spread, CPU 1 still has some room (35%): stay", 0,
			with(behindAndFree(45_000, 45_500), func(s *steerSample) { s.room[1] = 0.35 }), 0},
		{"spread, other work took CPU 1: by CPU", 0,
			with(behindAndFree(45_000, 45_500), func(s *steerSample) { s.room[1] = 0.2 }), -1},
		{"spread, four sockets, all on CPU 2: stay", 2, behindAndFree(20_000, 20_100, 20_000, 19_900), 2},
		{"spread, four sockets, CPU 3 as busy: by CPU", 2, behindAndFree(20_000, 20_000, 20_000, 100_000), -1},
		{"spread index beyond the sockets: by CPU", 3, behindAndFree(50_000, 50_000), -1},
		{"a malformed sample: by CPU", 0, steerSample{packets: []uint64{90_000, 0}}, -1},
	} {
		if got := nextSteering(c.spreading, c.sample); got != c.want {
			t.Errorf("%s: nextSteering(%d, %+v) = %d, want %d", c.name, c.spreading, c.sample, got, c.want)
		}
	}
}

// TestSteeringSettles: a load that stays on one CPU is spread once and
// stays spread; when it spreads over the CPUs again, steering by CPU comes
// back and stays. The packets each interval are what the sockets would
// read under the program in force.
func TestSteeringSettles(t *testing.T) {
	read := func(spreading int, received []uint64) steerSample {
		packets := make([]uint64, len(received))
		for i, r := range received {
			if i == spreading {
				for j := range packets {
					packets[j] += r / uint64(len(packets))
				}
			} else {
				packets[i] += r
			}
		}
		return behindAndFree(packets...)
	}
	spreading := -1
	var history []int
	for step := range 20 {
		received := []uint64{100_000, 0}
		if step >= 10 {
			received = []uint64{60_000, 60_000}
		}
		spreading = nextSteering(spreading, read(spreading, received))
		history = append(history, spreading)
	}
	want := []int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
	if !slices.Equal(history, want) {
		t.Fatalf("steering over the intervals: %v, want %v", history, want)
	}
}
