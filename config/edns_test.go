package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNSID(t *testing.T) {
	const zone = "zone example.org {\n    ns ns1.example.org 192.0.2.53\n}\n"
	for conf, want := range map[string]string{
		"":                                    "",
		"nsid":                                "meridian-eu-1", // the replica's name
		"nsid \"ns1 eu-west\"":                "ns1 eu-west",
		"nsid 0x6d657269":                     "meri", // hex, as Knot reads it
		"nsid " + strings.Repeat("n", 128):    strings.Repeat("n", 128),
		"chaos id other\n    nsid 0x6d657269": "meri", // independent of chaos id
	} {
		c, err := Parse("t.conf", []byte("meridian {\n    replica meridian-eu-1\n    "+conf+"\n}\n"+zone))
		if err != nil {
			t.Errorf("%q: %v", conf, err)
			continue
		}
		if got := string(c.Meridian.NSID); got != want {
			t.Errorf("%q: NSID %q, want %q", conf, got, want)
		}
	}
	c, err := Parse("t.conf", []byte("meridian {\n    nsid\n}\n"+zone))
	if host, _ := os.Hostname(); err != nil || string(c.Meridian.NSID) != host {
		t.Errorf("nsid without a replica name: %v, want the host name %q", err, host)
	}
	for conf, want := range map[string]string{
		"nsid 0xabc":                       `t.conf:3: nsid: "0xabc" is not hex digits after 0x`,
		"nsid 0xzz":                        `t.conf:3: nsid: "0xzz" is not hex digits after 0x`,
		"nsid 0x":                          `t.conf:3: nsid: the identifier has 0 bytes; give 1 to 128`,
		`nsid ""`:                          `t.conf:3: nsid: the identifier has 0 bytes; give 1 to 128`,
		"nsid " + strings.Repeat("n", 129): `t.conf:3: nsid: the identifier has 129 bytes; give 1 to 128`,
		"nsid a b":                         `t.conf:3: nsid: expected nsid [TEXT|0xHEX], got 2 arguments`,
		"nsid a\n    nsid b":               `t.conf:4: nsid: already set in this meridian block at line 3`,
	} {
		_, err := Parse("t.conf", []byte("meridian {\n    replica r\n    "+conf+"\n}\n"+zone))
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v\nwant %s", conf, err, want)
		}
	}
	long := strings.Repeat("r", 129)
	_, err = Parse("t.conf", []byte("meridian {\n    replica "+long+"\n    nsid\n}\n"+zone))
	if want := `t.conf:3: nsid: the replica name "` + long + `" has 129 bytes, and an NSID 1 to 128; give nsid TEXT`; err == nil || err.Error() != want {
		t.Errorf("nsid with a long replica name: %v\nwant %s", err, want)
	}
}

func TestCookies(t *testing.T) {
	const zone = "zone example.org {\n    ns ns1.example.org 192.0.2.53\n}\n"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cookie-secret"), []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "meridian.conf")
	c, err := Parse(conf, []byte(zone))
	if err != nil || c.Meridian.Cookies != nil {
		t.Errorf("cookies by default: %v %+v, want off", err, c.Meridian.Cookies)
	}
	c, err = Parse(conf, []byte("meridian {\n    cookies\n}\n"+zone))
	if err != nil || c.Meridian.Cookies == nil || c.Meridian.Cookies.SecretFile != "" {
		t.Errorf("cookies: %v %+v, want on with no secret file", err, c.Meridian.Cookies)
	}
	// A relative path is the config file's folder's.
	c, err = Parse(conf, []byte("meridian {\n    cookies cookie-secret\n}\n"+zone))
	if want := filepath.Join(dir, "cookie-secret"); err != nil || c.Meridian.Cookies == nil || c.Meridian.Cookies.SecretFile != want {
		t.Errorf("cookies cookie-secret: %v %+v, want on with %s", err, c.Meridian.Cookies, want)
	}
	for text, want := range map[string]string{
		"cookies /nonexistent/secret": `t.conf:2: cookies: stat /nonexistent/secret: no such file or directory`,
		"cookies a b":                 `t.conf:2: cookies: expected cookies [SECRET_FILE], got 2 arguments`,
		"cookies\n    cookies":        `t.conf:3: cookies: already set in this meridian block at line 2`,
	} {
		_, err := Parse("t.conf", []byte("meridian {\n    "+text+"\n}\n"+zone))
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v\nwant %s", text, err, want)
		}
	}
}

func TestDnstap(t *testing.T) {
	const zone = "zone example.org {\n    ns ns1.example.org 192.0.2.53\n}\n"
	for conf, want := range map[string]Dnstap{
		"dnstap unix:/run/tap.sock":                             {Network: "unix", Addr: "/run/tap.sock", Sample: 1, Queries: true, Responses: true},
		"dnstap tcp:127.0.0.1:6000 {\n        sample 10\n    }": {Network: "tcp", Addr: "127.0.0.1:6000", Sample: 10, Queries: true, Responses: true},
		"dnstap tcp:[::1]:6000 {\n        queries\n    }":       {Network: "tcp", Addr: "[::1]:6000", Sample: 1, Queries: true},
		"dnstap unix:t.sock {\n        responses\n    }":        {Network: "unix", Addr: "/etc/meridian/t.sock", Sample: 1, Responses: true}, // relative to the config
	} {
		c, err := Parse("/etc/meridian/t.conf", []byte("meridian {\n    "+conf+"\n}\n"+zone))
		if err != nil {
			t.Errorf("%q: %v", conf, err)
			continue
		}
		got := *c.Meridian.Dnstap
		got.Pos = Pos{}
		if got != want {
			t.Errorf("%q: %+v, want %+v", conf, got, want)
		}
	}
	for conf, want := range map[string]string{
		"dnstap":                                      "t.conf:2: dnstap: expected dnstap unix:PATH|tcp:HOST:PORT [{ sample N; queries; responses }]",
		"dnstap udp:127.0.0.1:6000":                   `t.conf:2: dnstap: expected unix:PATH or tcp:HOST:PORT, got "udp:127.0.0.1:6000"`,
		"dnstap unix:":                                `t.conf:2: dnstap: expected unix:PATH or tcp:HOST:PORT, got "unix:"`,
		"dnstap tcp:127.0.0.1":                        `t.conf:2: dnstap: "127.0.0.1" is not HOST:PORT after tcp: address 127.0.0.1: missing port in address`,
		"dnstap tcp:127.0.0.1:99999":                  `t.conf:2: dnstap: "127.0.0.1:99999" is not HOST:PORT after tcp: expected a port from 1 to 65535`,
		"dnstap unix:t {\n        sample 0\n    }":    `t.conf:3: sample: expected one query in N, N from 1 to 1000000, got "0"`,
		"dnstap unix:t {\n        queries yes\n    }": "t.conf:3: queries: takes no arguments: it names the messages to send",
		"dnstap unix:t {\n        sampling 2\n    }":  `t.conf:3: unknown directive "sampling" in dnstap block; valid: queries, responses, sample`,
		"dnstap unix:a\n    dnstap unix:b":            "t.conf:3: dnstap: already set in this meridian block at line 2",
	} {
		_, err := Parse("t.conf", []byte("meridian {\n    "+conf+"\n}\n"+zone))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %s", conf, err, want)
		}
	}
}
