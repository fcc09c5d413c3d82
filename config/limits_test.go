package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimits(t *testing.T) {
	const zone = "zone example.org {\n    ns ns1.example.org 192.0.2.53\n}\n"
	c, err := Parse("t.conf", []byte(`meridian {
    http_limits {
        read_timeout 5s
        write_timeout 1m
        idle_timeout 2m
        max_header_bytes 32768
        max_connections 100
    }
    xds_limits {
        max_connections 50
        max_streams 10
        keepalive_min_time 5s
        keepalive_time 1m
        keepalive_timeout 20s
        idle_timeout 10m
        max_groups 64
        group_grace 30s
    }
}
`+zone))
	if err != nil {
		t.Fatal(err)
	}
	h := c.Meridian.HTTPLimits
	if h.ReadTimeout != 5*time.Second || h.WriteTimeout != time.Minute || h.IdleTimeout != 2*time.Minute ||
		h.MaxHeaderBytes != 32768 || h.MaxConnections != 100 || h.Line != 2 {
		t.Errorf("HTTPLimits = %+v", h)
	}
	x := c.Meridian.XDSLimits
	if x.MaxConnections != 50 || x.MaxStreams != 10 || x.KeepaliveMinTime != 5*time.Second || x.KeepaliveTime != time.Minute ||
		x.KeepaliveTimeout != 20*time.Second || x.IdleTimeout != 10*time.Minute || x.MaxGroups != 64 || x.GroupGrace != 30*time.Second || x.Line != 9 {
		t.Errorf("XDSLimits = %+v", x)
	}

	// Without the blocks, every limit is zero: the servers' defaults.
	c, err = Parse("t.conf", []byte(zone))
	if err != nil {
		t.Fatal(err)
	}
	if c.Meridian.HTTPLimits != (HTTPLimits{}) || c.Meridian.XDSLimits != (XDSLimits{}) {
		t.Errorf("limits without the blocks: %+v %+v", c.Meridian.HTTPLimits, c.Meridian.XDSLimits)
	}

	for _, tc := range []struct{ conf, want string }{
		{"xds_limits {\n        max_streams 0\n    }", `t.conf:3: max_streams: expected a number from 1 to 1048576, got "0"`},
		{"http_limits {\n        read_timeout 0s\n    }", `t.conf:3: read_timeout: expected a duration of at least 1s, got "0s"`},
		{"http_limits {\n        idle_timeout soon\n    }", `t.conf:3: idle_timeout: expected seconds or a duration`},
		{"http_limits {\n        max_header_bytes 10\n    }", `t.conf:3: max_header_bytes: expected a number from 1024 to 16777216, got "10"`},
		{"xds_limits 5", `t.conf:2: xds_limits: expected xds_limits { DIRECTIVE VALUE; ... }`},
		{"xds_limits {\n        max_pings 3\n    }", `t.conf:3: unknown directive "max_pings" in xds_limits block; valid: group_grace, idle_timeout, keepalive_min_time, keepalive_time, keepalive_timeout, max_connections, max_groups, max_streams`},
		{"http_limits {\n        max_connections 1\n        max_connections 2\n    }", `t.conf:4: max_connections: already set in this http_limits block at line 3`},
	} {
		_, err := Parse("t.conf", []byte("meridian {\n    "+tc.conf+"\n}\n"+zone))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %s", tc.conf, err, tc.want)
		}
	}
}
