package config

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/meridian-gtm/meridian/internal/duration"
	"github.com/meridian-gtm/meridian/model"
)

// The decoder is split by block: each decode_*.go file holds a block's
// directive table (a map[string]directive literal, which doc_test.go reads
// to keep docs/configuration.md complete) and the decoders only it uses.
// This file holds the framework (body, args, block) and the decoders that
// several blocks share (word, flag, either, uint32In, intIn, seconds,
// secondsDuration, durationIn).

// directive decodes one directive of a block.
type directive func(n *node, errs *errorList)

// body decodes the directives of a block with the decoders of its kind.
// Unknown directives are reported with the list of valid ones, and a
// directive marked single may appear only once.
func body(block string, n *node, decoders map[string]directive, single []string, errs *errorList) {
	seen := map[string]Pos{}
	for _, d := range n.Body {
		dec, ok := decoders[d.Name()]
		if !ok {
			errs.add(errorf(d.Pos, "unknown directive %q in %s; valid: %s",
				d.Name(), block, strings.Join(slices.Sorted(maps.Keys(decoders)), ", ")))
			continue
		}
		if slices.Contains(single, d.Name()) {
			if first, dup := seen[d.Name()]; dup {
				errs.add(errorf(d.Pos, "%s: already set in this %s at line %d", d.Name(), block, first.Line))
				continue
			}
			seen[d.Name()] = d.Pos
		}
		dec(d, errs)
	}
}

// args checks that n has between min and max arguments (max < 0: no limit)
// and no body; usage names the expected arguments for the message.
func args(n *node, min, max int, usage string) error {
	if n.HasBody {
		return errorf(n.Pos, "%s: does not take a block; expected %s %s", n.Name(), n.Name(), usage)
	}
	if got := len(n.Args); got < min || (max >= 0 && got > max) {
		return errorf(n.Pos, "%s: expected %s %s, got %d argument%s", n.Name(), n.Name(), usage, got, plural(got))
	}
	return nil
}

// block checks that n has exactly the given number of arguments and a body.
func block(n *node, nargs int, usage string) error {
	if len(n.Args) != nargs || !n.HasBody {
		return errorf(n.Pos, "%s: expected %s %s { ... }", n.Name(), n.Name(), usage)
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// oneArg checks that d has exactly one argument and no body, and returns it.
func oneArg(d *node, usage string, errs *errorList) (token, bool) {
	if err := args(d, 1, 1, usage); err != nil {
		errs.add(err)
		return token{}, false
	}
	return d.Args[0], true
}

func (c *Config) decode(nodes []*node, errs *errorList) {
	seenMeridian := Pos{}
	for _, n := range nodes {
		switch n.Name() {
		case "meridian":
			if seenMeridian.Line != 0 {
				errs.add(errorf(n.Pos, "meridian: already declared at %s", seenMeridian))
				continue
			}
			seenMeridian = n.Pos
			if err := block(n, 0, ""); err != nil {
				errs.add(err)
				continue
			}
			c.Meridian.Pos = n.Pos
			c.Meridian.decode(n, errs)
		case "cluster":
			if err := block(n, 1, "NAME"); err != nil {
				errs.add(err)
				continue
			}
			cl := Cluster{Pos: n.Pos, Name: strings.ToLower(n.Args[0].Text)}
			cl.decode(n, errs)
			c.Clusters = append(c.Clusters, cl)
		case "zone":
			if err := block(n, 1, "ORIGIN"); err != nil {
				errs.add(err)
				continue
			}
			z := Zone{Pos: n.Pos, Origin: canonicalName(n.Args[0].Text)}
			z.decode(n, errs)
			c.Zones = append(c.Zones, z)
		default:
			errs.add(errorf(n.Pos, "unknown block %q; valid: cluster, meridian, zone", n.Name()))
		}
	}
}

// word decodes a directive of one word, as written, into *dst.
func word(dst *string, usage string) directive {
	return wordAt(dst, nil, usage)
}

// wordAt decodes a directive of one word into *dst and, unless pos is
// nil, where the directive stands into *pos.
func wordAt(dst *string, pos *Pos, usage string) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, usage, errs)
		if !ok {
			return
		}
		*dst = a.Text
		if pos != nil {
			*pos = d.Pos
		}
	}
}

// flag decodes a directive without arguments that sets *dst.
func flag(dst *bool) directive {
	return func(d *node, errs *errorList) {
		if err := args(d, 0, 0, ""); err != nil {
			errs.add(err)
			return
		}
		*dst = true
	}
}

// either decodes a directive of one of two words, a or b, into *dst: aIs
// when a is given, the opposite for b.
func either(dst *bool, a, b string, aIs bool) directive {
	return func(d *node, errs *errorList) {
		t, ok := oneArg(d, a+"|"+b, errs)
		if !ok {
			return
		}
		switch t.Text {
		case a:
			*dst = aIs
		case b:
			*dst = !aIs
		default:
			errs.add(errorf(t.Pos, "%s: expected %s or %s, got %q", d.Name(), a, b, t.Text))
		}
	}
}

// uint32In decodes a directive of one whole number from lo to hi into
// *dst, and sets *set (unless nil) when it is valid.
func uint32In(dst *uint32, set *bool, lo, hi uint64, usage string) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, usage, errs)
		if !ok {
			return
		}
		v, err := strconv.ParseUint(a.Text, 10, 32)
		if err != nil || v < lo || v > hi {
			errs.add(errorf(a.Pos, "%s: expected a number from %d to %d, got %q", d.Name(), lo, hi, a.Text))
			return
		}
		*dst = uint32(v)
		if set != nil {
			*set = true
		}
	}
}

// intIn decodes a directive of one whole number from lo to hi into *dst.
func intIn(dst *int, lo, hi int) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, "N", errs)
		if !ok {
			return
		}
		v, err := strconv.Atoi(a.Text)
		if err != nil || v < lo || v > hi {
			errs.add(errorf(a.Pos, "%s: expected a number from %d to %d, got %q", d.Name(), lo, hi, a.Text))
			return
		}
		*dst = v
	}
}

// seconds decodes a directive of one TTL or whole-second duration (see
// parseTTL) into *dst, and sets *set (unless nil) even when it is not
// valid, so that validation does not fill in a default on top of the error.
func seconds(dst *uint32, set *bool, usage string) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, usage, errs)
		if !ok {
			return
		}
		*dst = parseTTL(d.Name(), a, errs)
		if set != nil {
			*set = true
		}
	}
}

// secondsDuration is seconds for a time.Duration: 0 when not valid.
func secondsDuration(dst *time.Duration, set *bool) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, "DURATION", errs)
		if !ok {
			return
		}
		*dst = time.Duration(parseTTL(d.Name(), a, errs)) * time.Second
		if set != nil {
			*set = true
		}
	}
}

// durationIn decodes a directive of one duration of at least a second
// into *dst.
func durationIn(dst *time.Duration) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, "DURATION", errs)
		if !ok {
			return
		}
		before := len(*errs)
		secs := parseTTL(d.Name(), a, errs)
		if len(*errs) > before {
			return
		}
		if secs == 0 {
			errs.add(errorf(a.Pos, "%s: expected a duration of at least 1s, got %q", d.Name(), a.Text))
			return
		}
		*dst = time.Duration(secs) * time.Second
	}
}

// port decodes a directive of one port number, from 1 to 65535, into *dst.
func port[T uint16 | uint32](dst *T) directive {
	return func(d *node, errs *errorList) {
		a, ok := oneArg(d, "PORT", errs)
		if !ok {
			return
		}
		p, err := parsePort(a.Text)
		if err != nil {
			errs.add(errorf(a.Pos, "%s: %v", d.Name(), err))
			return
		}
		*dst = T(p)
	}
}

// maxTTL is the largest TTL RFC 2181 allows.
const maxTTL = 1<<31 - 1

// parseTTL reads a TTL in seconds, or a duration in whole seconds (30s, 5m,
// 1h, 1d, 1w, 1h30m).
func parseTTL(what string, t token, errs *errorList) uint32 {
	d, ok := duration.Parse(t.Text)
	if !ok || d%time.Second != 0 || d/time.Second > maxTTL {
		errs.add(errorf(t.Pos, "%s: expected seconds or a duration such as 30s, 5m, 1h, 1d, 1w up to %d seconds, got %q",
			what, maxTTL, t.Text))
		return 0
	}
	return uint32(d / time.Second)
}

// canonicalName is model.CanonicalName: lower case, no final dot.
func canonicalName(s string) string { return model.CanonicalName(s) }

// parseAddrs parses every token as an IP address for directive what.
func parseAddrs(what string, toks []token, errs *errorList) []netip.Addr {
	var out []netip.Addr
	for _, a := range toks {
		ip, err := netip.ParseAddr(a.Text)
		if err != nil || ip.Zone() != "" {
			errs.add(errorf(a.Pos, "%s: %q is not an IP address", what, a.Text))
			continue
		}
		out = append(out, ip.Unmap())
	}
	return out
}

// parsePort accepts a port number from 1 to 65535.
func parsePort(s string) (uint16, error) {
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("expected a port from 1 to 65535, got %q", s)
	}
	return uint16(p), nil
}

// parseAddrPort accepts ADDRESS or ADDRESS:PORT ([v6]:PORT), with a default port.
func parseAddrPort(s string, port uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a.Unmap(), port), nil
}
