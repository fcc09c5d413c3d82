package conncap

import (
	"net"
	"testing"
	"time"
)

func pipe(t *testing.T) net.Conn {
	c, peer := net.Pipe()
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c
}

// admit admits a connection in group and waits a moment, so that the next
// one has waited less.
func admit(t *testing.T, tb *Table[string], group string) (*Conn[string], Admission) {
	c, a := tb.Admit(pipe(t), group)
	time.Sleep(2 * time.Millisecond)
	return c, a
}

func TestGroupLimitEvictsInTheGroup(t *testing.T) {
	tb := New[string](Limits{Max: 10, MaxPerGroup: 2})
	other, _ := admit(t, tb, "b")
	a1, _ := admit(t, tb, "a")
	a2, _ := admit(t, tb, "a")
	a3, adm := admit(t, tb, "a")
	if a3 == nil || adm.Limit != "group" || !adm.Evicted {
		t.Fatalf("third of group a: %v %+v, want admitted in the place of another", a3, adm)
	}
	if tb.Lookup(a1.Conn) != nil || tb.Lookup(a2.Conn) == nil || tb.Lookup(other.Conn) == nil {
		t.Error("not the longest waiting of the group made room")
	}
}

func TestTotalLimitEvictsTheLongestWaiting(t *testing.T) {
	tb := New[string](Limits{Max: 2})
	first, _ := admit(t, tb, "a")
	second, _ := admit(t, tb, "b")
	first.Waiting() // waited again from now: second has waited longer
	time.Sleep(2 * time.Millisecond)
	third, adm := admit(t, tb, "c")
	if third == nil || adm.Limit != "total" || !adm.Evicted || tb.Lookup(second.Conn) != nil || tb.Lookup(first.Conn) == nil {
		t.Errorf("at the total limit: %+v; the one waiting longest must make room", adm)
	}
}

func TestAllBusyRefuses(t *testing.T) {
	tb := New[string](Limits{Max: 2})
	one, _ := admit(t, tb, "a")
	two, _ := admit(t, tb, "a")
	one.Busy()
	two.Busy()
	if c, adm := tb.Admit(pipe(t), "a"); c != nil || adm.Limit != "total" || adm.Evicted {
		t.Fatalf("with every connection busy: %v %+v, want refused", c, adm)
	}
	if !tb.Release(one) || tb.Release(one) {
		t.Error("Release must count once")
	}
	if c, adm := tb.Admit(pipe(t), "a"); c == nil || adm.Evicted {
		t.Errorf("after a release: %v %+v, want admitted without closing another", c, adm)
	}
}
