package main

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/meridian-gtm/meridian/config"
)

// TestOptionsCopyEveryField fills every field of the config's blocks and
// checks that the options built from them (options.go) have every field
// set: a field added to a component's options and not copied fails here.
func TestOptionsCopyEveryField(t *testing.T) {
	var z config.Zone
	fill(reflect.ValueOf(&z).Elem())
	checkSet(t, "dns.ZoneConfig", reflect.ValueOf(dnsZone(z)))
	var r config.RRL
	fill(reflect.ValueOf(&r).Elem())
	checkSet(t, "dns.LimiterConfig", reflect.ValueOf(*dnsLimiter(&r)))
	var h config.HealthCheck
	fill(reflect.ValueOf(&h).Elem())
	checkSet(t, "health.Check", reflect.ValueOf(healthCheck(h)))
}

// fill sets every exported field under v to a value that is not zero.
func fill(v reflect.Value) {
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
				fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0))
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

// checkSet fails for every field under v that is zero.
func checkSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.IsZero() {
		t.Errorf("%s is not copied from the config", path)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if v.Type().PkgPath() == "net/netip" {
			return
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				checkSet(t, path+"."+f.Name, v.Field(i))
			}
		}
	case reflect.Pointer:
		checkSet(t, path, v.Elem())
	case reflect.Slice:
		checkSet(t, path+"[0]", v.Index(0))
	}
}

// TestPoliciesAndChecksAgreeOnProbes: the engine serves an unprobed
// service's targets without waiting for a verdict (Unprobed in its
// policy), so the health checker must be handed a check for exactly the
// services whose policy is not Unprobed.
func TestPoliciesAndChecksAgreeOnProbes(t *testing.T) {
	cfg, err := config.Parse("t.conf", []byte(`zone example.org {
    ns ns.example.net
    service plain {
    }
    service none {
        health {
            kind none
        }
    }
    service tcp {
        health {
            kind tcp
            port 8443
        }
    }
}`))
	if err != nil {
		t.Fatal(err)
	}
	checks := healthChecks(cfg)
	probed := map[string]bool{}
	for _, p := range cfg.Policies().Services() {
		_, checked := checks[p.Service]
		if checked == p.Unprobed {
			t.Errorf("%s: policy unprobed %v, health check handed to the checker %v", p.Service, p.Unprobed, checked)
		}
		probed[p.Service] = !p.Unprobed
	}
	if want := map[string]bool{"plain.example.org": false, "none.example.org": false, "tcp.example.org": true}; !reflect.DeepEqual(probed, want) {
		t.Errorf("probed services %v, want %v", probed, want)
	}
}
