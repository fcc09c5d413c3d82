// Command ecsqueries writes the DNS benchmark's query mix (queries.txt) as
// a dnsperf binary data file (dnsperf -B: each message preceded by its
// length, as over TCP), every query with EDNS0 and a Client Subnet option
// of its own. dnsperf's -E puts one option on every query; this gives each
// query one of N client subnets, so that a server that places clients
// (Meridian's location cache, a GeoIP module) sees N networks.
//
//	go run ./bench/dns/ecsqueries -subnets 1000 -o /tmp/q.bin < bench/dns/queries.txt
//
// With -subnets 1 the one subnet is 81.2.69.0/24 (the UK network of
// run.sh's -E option). With more, subnet i is a /24 drawn from the public
// IPv4 space by a fixed seed, so the file is the same on every run and the
// subnets fall in many countries (and so many of Meridian's cells).
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
)

func main() {
	subnets := flag.Int("subnets", 1, "distinct client subnets (/24), 1 to 65536")
	out := flag.String("o", "", "output file (default: standard output)")
	do := flag.Bool("dnssec", false, "set the DO bit")
	flag.Parse()
	if *subnets < 1 || *subnets > 65536 {
		fail(fmt.Errorf("-subnets %d: want 1 to 65536", *subnets))
	}
	qs, err := readQueries(os.Stdin)
	if err != nil {
		fail(err)
	}
	w := io.Writer(os.Stdout)
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	nets := subnetList(*subnets)
	// Every subnet asks the whole mix once, the subnets interleaved: query
	// j is mix[j % len(mix)] from subnet (j / len(mix) + j) % N, so that
	// consecutive queries come from different subnets.
	total := len(qs) * len(nets)
	for j := range total {
		q := qs[j%len(qs)]
		msg := query(q.name, q.qtype, nets[(j/len(qs)+j)%len(nets)], *do)
		bw.Write([]byte{byte(len(msg) >> 8), byte(len(msg))})
		bw.Write(msg)
	}
	if err := bw.Flush(); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ecsqueries:", err)
	os.Exit(1)
}

type question struct {
	name  string
	qtype uint16
}

var qtypes = map[string]uint16{"A": 1, "NS": 2, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}

// readQueries reads dnsperf's text format: "name type" a line, ';' comments.
func readQueries(r io.Reader) ([]question, error) {
	var qs []question
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("query %q: want NAME TYPE", line)
		}
		t, ok := qtypes[strings.ToUpper(f[1])]
		if !ok {
			return nil, fmt.Errorf("query %q: unknown type", line)
		}
		qs = append(qs, question{f[0], t})
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("no queries on standard input")
	}
	return qs, sc.Err()
}

// subnetList is n distinct /24 networks (their first three bytes).
func subnetList(n int) [][3]byte {
	if n == 1 {
		return [][3]byte{{81, 2, 69}}
	}
	r := rand.New(rand.NewPCG(21, 1))
	seen := map[[3]byte]bool{}
	var nets [][3]byte
	for len(nets) < n {
		a := [3]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256))}
		if !public(a) || seen[a] {
			continue
		}
		seen[a] = true
		nets = append(nets, a)
	}
	return nets
}

// public leaves out the private, loopback, link-local, shared, test and
// multicast ranges, which no GeoIP database places.
func public(a [3]byte) bool {
	switch {
	case a[0] == 10, a[0] == 127, a[0] == 0, a[0] >= 224,
		a[0] == 100 && a[1]&0xc0 == 64,
		a[0] == 169 && a[1] == 254,
		a[0] == 172 && a[1]&0xf0 == 16,
		a[0] == 192 && a[1] == 168,
		a[0] == 192 && a[1] == 0 && (a[2] == 0 || a[2] == 2),
		a[0] == 198 && (a[1] == 18 || a[1] == 19),
		a[0] == 198 && a[1] == 51 && a[2] == 100,
		a[0] == 203 && a[1] == 0 && a[2] == 113:
		return false
	}
	return true
}

// query is a DNS query without RD (as a resolver asks an authoritative
// server), with an OPT record (UDP size 4096) holding a Client Subnet
// option for the /24 net (RFC 7871: family 1, source 24, scope 0, three
// address bytes). dnsperf overwrites the ID.
func query(name string, qtype uint16, net [3]byte, do bool) []byte {
	m := []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1} // ID, flags 0, QD 1, AR 1
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		m = append(m, byte(len(l)))
		m = append(m, l...)
	}
	m = append(m, 0)
	m = binary.BigEndian.AppendUint16(m, qtype)
	m = binary.BigEndian.AppendUint16(m, 1) // IN
	var flags uint16
	if do {
		flags = 0x8000
	}
	m = append(m, 0)                            // root
	m = binary.BigEndian.AppendUint16(m, 41)    // OPT
	m = binary.BigEndian.AppendUint16(m, 4096)  // UDP payload size
	m = append(m, 0, 0)                         // extended rcode, version
	m = binary.BigEndian.AppendUint16(m, flags) // DO
	m = binary.BigEndian.AppendUint16(m, 11)    // RDLENGTH: one option of 7
	m = binary.BigEndian.AppendUint16(m, 8)     // ECS
	m = binary.BigEndian.AppendUint16(m, 7)
	m = append(m, 0, 1, 24, 0, net[0], net[1], net[2])
	return m
}
