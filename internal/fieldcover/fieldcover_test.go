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

// copied is what a conversion from sample makes; the test has it forget
// fields.
type copied struct {
	Name  string
	Addr  netip.Addr
	Items []inner
	P     *inner
}

func TestCheckSetFindsAForgottenField(t *testing.T) {
	var s sample
	Fill(reflect.ValueOf(&s).Elem())
	if s.Name == "" || !s.On || s.F == 0 || !s.Addr.IsValid() || !s.Net.IsValid() || s.In.N == 0 || len(s.In.Tags) != 1 || s.In.Tags[0] == "" ||
		len(s.Items) != 1 || s.Items[0].N == 0 || s.P == nil || s.P.N == 0 {
		t.Errorf("Fill left a field zero: %+v", s)
	}
	full := copied{Name: s.Name, Addr: s.Addr, Items: []inner{{N: s.Items[0].N, Tags: s.Items[0].Tags}}, P: &inner{N: s.P.N, Tags: s.P.Tags}}
	var r recorder
	CheckSet(&r, "copied", reflect.ValueOf(full))
	if len(r.errs) != 0 {
		t.Errorf("a full copy: %v", r.errs)
	}
	forgot := full
	forgot.Items = []inner{{N: s.Items[0].N}}
	forgot.P = &inner{Tags: s.P.Tags}
	r = recorder{}
	CheckSet(&r, "copied", reflect.ValueOf(forgot))
	want := []string{"copied.Items[0].Tags is not copied", "copied.P.N is not copied"}
	if len(r.errs) != len(want) {
		t.Fatalf("a copy forgetting two fields: %q, want %q", r.errs, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(r.errs[i], w) {
			t.Errorf("error %d is %q, want it to start %q", i, r.errs[i], w)
		}
	}
}
