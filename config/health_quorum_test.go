package config

import (
	"strings"
	"testing"
)

// TestHealthQuorum: health_quorum takes majority, any, all or a
// percentage, and names the line of anything else.
func TestHealthQuorum(t *testing.T) {
	const zone = "zone example.org {\n    ns ns1.example.org 192.0.2.53\n}\n"
	for conf, want := range map[string]HealthQuorum{
		"":                       {},
		"health_quorum any":      {Rule: "any"},
		"health_quorum all":      {Rule: "all"},
		"health_quorum 82%":      {Rule: "percent", Percent: 82},
		"health_quorum 100%":     {Rule: "percent", Percent: 100},
		"health_quorum 1%":       {Rule: "percent", Percent: 1},
		"health_quorum majority": {Rule: "majority"},
	} {
		c, err := Parse("t.conf", []byte("meridian {\n    "+conf+"\n}\n"+zone))
		if err != nil {
			t.Errorf("%q: %v", conf, err)
			continue
		}
		got := c.Meridian.HealthQuorum
		if got.Rule != want.Rule || got.Percent != want.Percent {
			t.Errorf("%q: got %+v, want %+v", conf, got, want)
		}
	}
	const usage = "expected majority, any, all or a percentage such as 82% (of the live replicas that see a target down, 1% to 100%)"
	for conf, want := range map[string]string{
		"health_quorum":                            `t.conf:2: health_quorum: expected health_quorum RULE, got 0 arguments`,
		"health_quorum any all":                    `t.conf:2: health_quorum: expected health_quorum RULE, got 2 arguments`,
		"health_quorum most":                       `t.conf:2: health_quorum: ` + usage + `, got "most"`,
		"health_quorum 82":                         `t.conf:2: health_quorum: ` + usage + `, got "82"`,
		"health_quorum 0%":                         `t.conf:2: health_quorum: ` + usage + `, got "0%"`,
		"health_quorum 101%":                       `t.conf:2: health_quorum: ` + usage + `, got "101%"`,
		"health_quorum 82.5%":                      `t.conf:2: health_quorum: ` + usage + `, got "82.5%"`,
		"health_quorum any\n    health_quorum all": `t.conf:3: health_quorum: already set in this meridian block at line 2`,
	} {
		_, err := Parse("t.conf", []byte("meridian {\n    "+conf+"\n}\n"+zone))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", conf, err, want)
		}
	}
}
