// Package fieldcover checks that a hash or an equality sees every field of
// a struct, recursively, and that a conversion between structs copies
// every field (Fill, CheckSet), so that a field added later cannot be
// forgotten in a hand-written list. It is for tests only.
//
// Check walks a sample value and, for every leaf field in turn (and for the
// length of every slice and map), makes a deep copy of the sample in which
// that field alone differs; the function under test must tell the copy from
// the sample. A field the function leaves out on purpose is named in the
// ignore list with the reason, and an ignore entry that names no field
// fails too, so the list stays true as the types change.
//
// The walk needs a sample with something in every slice and map (it fails
// naming the ones that are empty) and descends into element 0 of slices,
// the smallest key of maps, and the target of pointers. Structs with
// unexported fields are changed as a whole: time.Time, netip.Addr and
// netip.Prefix are built in; others need an entry in Options.Change.
//
// It imports only the standard library and testing; no binary links it.
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

// Options are the optional parts of Check.
type Options struct {
	// Ignore maps the paths of fields the function does not look at on
	// purpose to the reason why. A path spells fields with dots and
	// elements of slices and maps with [] ("Groups[].ReadyPods"; "Groups"
	// alone is the slice's length); the walk does not descend below an
	// ignored path.
	Ignore map[string]string
	// Change lists, for a type with unexported fields, ways to change a
	// value of it in place to another value: each is checked on its own.
	Change map[reflect.Type][]func(v reflect.Value)
}

// Check fails t for every field of sample whose change differs does not
// see, and for every ignore entry that names no field. differs reports
// whether two values differ for the function under test; it is called with
// the sample first.
func Check[T any](t testing.TB, sample T, o Options, differs func(a, b T) bool) {
	t.Helper()
	w := walker{o: o, used: map[string]bool{}}
	root := reflect.ValueOf(&sample).Elem()
	w.walk(root, "", nil)
	for _, p := range w.bad {
		t.Error(p)
	}
	for _, l := range w.leaves {
		cp := reflect.New(root.Type()).Elem()
		deepCopy(cp, root)
		if err := w.apply(cp, l.steps); err != nil {
			t.Errorf("%s: %v", l.path, err)
			continue
		}
		if !differs(sample, cp.Interface().(T)) {
			if n := len(w.o.Change[l.typ]); n > 1 {
				t.Errorf("%s: change %d of %d goes unseen; cover it, or add it to the ignore list with the reason", l.path, l.change+1, n)
			} else if l.grow {
				t.Errorf("%s: a change of its length goes unseen; cover it, or add it to the ignore list with the reason", l.path)
			} else {
				t.Errorf("%s: a change goes unseen; cover it, or add it to the ignore list with the reason", l.path)
			}
		}
	}
	var stale []string
	for p := range o.Ignore {
		if !w.used[p] {
			stale = append(stale, p)
		}
	}
	slices.Sort(stale)
	for _, p := range stale {
		t.Errorf("ignore list: %s names no field of %T", p, sample)
	}
	if len(w.leaves) == 0 {
		t.Errorf("%T has no field to check", sample)
	}
}

type stepKind uint8

const (
	field  stepKind = iota
	elem            // element 0 of a slice or array
	mapVal          // the value at key
	deref           // the target of a pointer
	leaf            // change the value
	grow            // change the length of a slice or map
)

type step struct {
	kind  stepKind
	index int // of the field, or of the change (leaf)
	key   reflect.Value
}

type target struct {
	path   string
	steps  []step
	grow   bool
	typ    reflect.Type // of the leaf
	change int          // which of Options.Change[typ]
}

type walker struct {
	o      Options
	used   map[string]bool
	leaves []target
	bad    []string
}

var (
	timeType   = reflect.TypeFor[time.Time]()
	addrType   = reflect.TypeFor[netip.Addr]()
	prefixType = reflect.TypeFor[netip.Prefix]()
)

func (w *walker) add(path string, steps []step, k stepKind, typ reflect.Type, change int) {
	w.leaves = append(w.leaves, target{path: path, steps: append(slices.Clone(steps), step{kind: k, index: change}),
		grow: k == grow, typ: typ, change: change})
}

func (w *walker) walk(v reflect.Value, path string, steps []step) {
	if path != "" {
		if _, ok := w.o.Ignore[path]; ok {
			w.used[path] = true
			return
		}
	}
	t := v.Type()
	if fs, ok := w.o.Change[t]; ok {
		for i := range fs {
			w.add(path, steps, leaf, t, i)
		}
		return
	}
	if t == timeType || t == addrType || t == prefixType {
		w.add(path, steps, leaf, t, 0)
		return
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64, reflect.String:
		w.add(path, steps, leaf, t, 0)
	case reflect.Struct:
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				w.bad = append(w.bad, fmt.Sprintf("%s: %s has unexported fields; give Options.Change a way to change it, or ignore it", path, t))
				return
			}
		}
		for i := range t.NumField() {
			w.walk(v.Field(i), join(path, t.Field(i).Name), append(steps, step{kind: field, index: i}))
		}
	case reflect.Slice, reflect.Array:
		if v.Len() == 0 {
			w.bad = append(w.bad, fmt.Sprintf("%s is empty in the sample: put an element in it", path))
			return
		}
		if t.Kind() == reflect.Slice {
			w.add(path, steps, grow, t, 0)
		}
		w.walk(v.Index(0), path+"[]", append(steps, step{kind: elem}))
	case reflect.Map:
		if v.Len() == 0 {
			w.bad = append(w.bad, fmt.Sprintf("%s is empty in the sample: put an entry in it", path))
			return
		}
		if t.Key().Kind() == reflect.String {
			w.add(path, steps, grow, t, 0)
		}
		key := smallestKey(v)
		w.walk(v.MapIndex(key), path+"[]", append(steps, step{kind: mapVal, key: key}))
	case reflect.Pointer:
		if v.IsNil() {
			w.bad = append(w.bad, fmt.Sprintf("%s is nil in the sample: point it at a value", path))
			return
		}
		w.walk(v.Elem(), path, append(steps, step{kind: deref}))
	default:
		w.bad = append(w.bad, fmt.Sprintf("%s: cannot change a %s; ignore it", path, t))
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func smallestKey(m reflect.Value) reflect.Value {
	keys := m.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int {
		return strings.Compare(fmt.Sprint(a.Interface()), fmt.Sprint(b.Interface()))
	})
	return keys[0]
}

// apply follows steps from v, which is settable, and changes what they lead to.
func (w *walker) apply(v reflect.Value, steps []step) error {
	s := steps[0]
	switch s.kind {
	case field:
		return w.apply(v.Field(s.index), steps[1:])
	case elem:
		return w.apply(v.Index(0), steps[1:])
	case deref:
		return w.apply(v.Elem(), steps[1:])
	case mapVal:
		tmp := reflect.New(v.Type().Elem()).Elem()
		tmp.Set(v.MapIndex(s.key))
		if err := w.apply(tmp, steps[1:]); err != nil {
			return err
		}
		v.SetMapIndex(s.key, tmp)
		return nil
	case grow:
		if v.Kind() == reflect.Map {
			key := reflect.New(v.Type().Key()).Elem()
			key.SetString(smallestKey(v).String() + "~new")
			v.SetMapIndex(key, v.MapIndex(smallestKey(v)))
			return nil
		}
		last := reflect.New(v.Type().Elem()).Elem()
		deepCopy(last, v.Index(v.Len()-1))
		v.Set(reflect.Append(v, last))
		return nil
	}
	return w.change(v, s.index)
}

// change sets v to a different value of its type.
func (w *walker) change(v reflect.Value, i int) error {
	if fs, ok := w.o.Change[v.Type()]; ok {
		old := v.Interface()
		fs[i](v)
		if reflect.DeepEqual(old, v.Interface()) {
			return fmt.Errorf("Options.Change[%s][%d] left it unchanged", v.Type(), i)
		}
		return nil
	}
	switch v.Type() {
	case timeType:
		t := v.Interface().(time.Time)
		v.Set(reflect.ValueOf(t.Add(time.Second + time.Nanosecond)))
		return nil
	case addrType:
		a := v.Interface().(netip.Addr)
		switch {
		case !a.IsValid():
			a = netip.MustParseAddr("192.0.2.1")
		case a.Next().IsValid():
			a = a.Next()
		default:
			a = a.Prev()
		}
		v.Set(reflect.ValueOf(a))
		return nil
	case prefixType:
		p := v.Interface().(netip.Prefix)
		if !p.IsValid() || p.Bits() == 0 {
			p = netip.MustParsePrefix("192.0.2.0/24")
		} else {
			p = netip.PrefixFrom(p.Addr(), p.Bits()-1).Masked()
		}
		v.Set(reflect.ValueOf(p))
		return nil
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1.25)
	case reflect.String:
		v.SetString(v.String() + "~")
	default:
		return fmt.Errorf("cannot change a %s", v.Type())
	}
	return nil
}

// deepCopy sets dst, which is settable, to a copy of src that shares no
// slice, map or pointer target with it. Structs with unexported fields are
// copied as a whole.
func deepCopy(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Struct:
		t := src.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				dst.Set(src)
				return
			}
		}
		for i := range t.NumField() {
			deepCopy(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			deepCopy(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Array:
		for i := range src.Len() {
			deepCopy(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		m := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			val := reflect.New(src.Type().Elem()).Elem()
			deepCopy(val, it.Value())
			m.SetMapIndex(it.Key(), val)
		}
		dst.Set(m)
	case reflect.Pointer:
		if src.IsNil() {
			dst.SetZero()
			return
		}
		p := reflect.New(src.Type().Elem())
		deepCopy(p.Elem(), src.Elem())
		dst.Set(p)
	default:
		dst.Set(src)
	}
}
