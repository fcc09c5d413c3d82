// Package dns is Meridian's authoritative DNS server. It serves the zones of
// the config: SOA and NS at each apex, glue for in-zone name servers, and the
// A and AAAA records of global services, chosen from the current Plan by
// where the client is (EDNS Client Subnet when present, else the source
// address).
//
// Every Plan is compiled into an answer table when it is published and
// swapped in with an atomic pointer, so queries never lock and never decide:
// a query looks up its zone and name, buckets the client's location, and
// copies the precompiled records.
//
// github.com/miekg/dns is imported here and nowhere else.
package dns
