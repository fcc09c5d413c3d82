package fieldcover

import (
	"net/netip"
	"reflect"
	"testing"
)

// A conversion from one struct to another (a config block to a
// component's options) forgets a field silently when a field is added to
// the target and not copied. Fill and CheckSet catch it: fill the source
// with Fill, convert it, and CheckSet the result.

// Fill sets every exported field under v, which must be settable, to a
// value that is not zero: true, 1, "x", a documentation address or prefix,
// one element in every slice, a target for every pointer.
func Fill(v reflect.Value) {
	switch x := v.Addr().Interface().(type) {
	case *netip.Addr:
		*x = netip.MustParseAddr("192.0.2.1")
		return
	case *netip.Prefix:
		*x = netip.MustParsePrefix("192.0.2.0/24")
		return
	case *netip.AddrPort:
		*x = netip.MustParseAddrPort("192.0.2.1:53")
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				Fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		Fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		Fill(v.Index(0))
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	}
}

// CheckSet fails t for every exported field under v that is zero, naming
// it from path: the conversion that made v from a filled value (Fill) did
// not copy it.
func CheckSet(t testing.TB, path string, v reflect.Value) {
	t.Helper()
	if v.IsZero() {
		t.Errorf("%s is not copied: zero in what was made from a value with every field set", path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type().PkgPath() == "net/netip" {
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				CheckSet(t, path+"."+f.Name, v.Field(i))
			}
		}
	case reflect.Pointer:
		CheckSet(t, path, v.Elem())
	case reflect.Slice:
		CheckSet(t, path+"[0]", v.Index(0))
	}
}
