package main

import (
	"reflect"
	"testing"

	"github.com/meridian-gtm/meridian/config"
	"github.com/meridian-gtm/meridian/internal/fieldcover"
)

// TestOptionsCopyEveryField fills every field of the config's blocks and
// checks that the options built from them (options.go) have every field
// set: a field added to a component's options and not copied fails here.
func TestOptionsCopyEveryField(t *testing.T) {
	var z config.Zone
	fieldcover.Fill(reflect.ValueOf(&z).Elem())
	fieldcover.CheckSet(t, "dns.ZoneConfig", reflect.ValueOf(dnsZone(z)))
	var r config.RRL
	fieldcover.Fill(reflect.ValueOf(&r).Elem())
	fieldcover.CheckSet(t, "dns.LimiterConfig", reflect.ValueOf(*dnsLimiter(&r)))
	var h config.HealthCheck
	fieldcover.Fill(reflect.ValueOf(&h).Elem())
	fieldcover.CheckSet(t, "health.Check", reflect.ValueOf(healthCheck(h)))
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
