// Command keygen writes a DNSSEC key pair in BIND's format for the DNS
// benchmark's CoreDNS (its dnssec plugin reads K<zone>.+013+<tag>.key and
// .private): one ECDSA P-256 combined signing key (flags 257).
//
//	go run ./bench/dns/keygen ZONE DIR
//
// It prints the files' common prefix (DIR/K<zone>.+013+<tag>).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/miekg/dns"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: keygen ZONE DIR")
		os.Exit(2)
	}
	zone, dir := dns.Fqdn(os.Args[1]), os.Args[2]
	k := &dns.DNSKEY{
		Hdr:       dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags:     257,
		Protocol:  3,
		Algorithm: dns.ECDSAP256SHA256,
	}
	priv, err := k.Generate(256)
	if err != nil {
		fmt.Fprintln(os.Stderr, "keygen:", err)
		os.Exit(1)
	}
	base := filepath.Join(dir, fmt.Sprintf("K%s+%03d+%05d", zone, k.Algorithm, k.KeyTag()))
	if err := os.WriteFile(base+".key", []byte(k.String()+"\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "keygen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(base+".private", []byte(k.PrivateKeyString(priv)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "keygen:", err)
		os.Exit(1)
	}
	fmt.Println(base)
}
