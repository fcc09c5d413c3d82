package fieldcover

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

type inner struct {
	N    int
	Tags []string
}

type sample struct {
	Name  string
	On    bool
	F     float64
	At    time.Time
	Addr  netip.Addr
	Net   netip.Prefix
	In    inner
	Items []inner
	M     map[string]int
	P     *inner
	O     opaque
}

// opaque has unexported fields, as model.Location does.
type opaque struct {
	n  int
	on bool
}

var changeOpaque = map[reflect.Type][]func(reflect.Value){reflect.TypeFor[opaque](): {
	func(v reflect.Value) { o := v.Interface().(opaque); o.n++; v.Set(reflect.ValueOf(o)) },
	func(v reflect.Value) { o := v.Interface().(opaque); o.on = !o.on; v.Set(reflect.ValueOf(o)) },
}}

func full() sample {
	return sample{Name: "a", At: time.Unix(1, 0), Addr: netip.MustParseAddr("10.0.0.1"), Net: netip.MustParsePrefix("10.0.0.0/8"),
		In: inner{1, []string{"x"}}, Items: []inner{{2, []string{"y"}}}, M: map[string]int{"k": 1}, P: &inner{3, []string{"z"}}}
}

// recorder keeps what Check reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()                   {}
func (r *recorder) Error(args ...any)         { r.errs = append(r.errs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }

func TestCheckSeesEveryField(t *testing.T) {
	var r recorder
	// fmt's %#v spells every field, pointers' targets aside: compare them too.
	Check(&r, full(), Options{Change: changeOpaque}, func(a, b sample) bool {
		return fmt.Sprintf("%#v %#v", a, *a.P) != fmt.Sprintf("%#v %#v", b, *b.P)
	})
	if len(r.errs) != 0 {
		t.Errorf("a function that sees everything: %q", r.errs)
	}
}

func TestCheckFindsForgottenFields(t *testing.T) {
	var r recorder
	Check(&r, full(), Options{Ignore: map[string]string{"F": "why", "Gone": "why"}, Change: changeOpaque}, func(a, b sample) bool {
		return a.O.n != b.O.n || a.Name != b.Name || a.P.N != b.P.N || !slices.Equal(a.Items[0].Tags, b.Items[0].Tags)
	})
	got := strings.Join(r.errs, "\n")
	for _, want := range []string{"On:", "At:", "Addr:", "Net:", "In.N:", "In.Tags:", "In.Tags[]:", "Items:", "Items[].N:",
		"M:", "M[]:", "P.Tags[]:", "Gone names no field", "O: change 2 of 2"} {
		if !strings.Contains(got, want) {
			t.Errorf("no report of %s in:\n%s", want, got)
		}
	}
	for _, not := range []string{"Name:", "F:", "P.N:", "Items[].Tags[]:"} {
		if strings.Contains(got, "\n"+not) || strings.HasPrefix(got, not) {
			t.Errorf("%s is covered or ignored, but reported:\n%s", not, got)
		}
	}
	if r.errs = nil; true {
		s := full()
		s.Items = nil
		Check(&r, s, Options{Change: changeOpaque}, func(a, b sample) bool { return true })
		if len(r.errs) != 1 || !strings.Contains(r.errs[0], "Items is empty") {
			t.Errorf("an empty slice in the sample: %q", r.errs)
		}
	}
}
