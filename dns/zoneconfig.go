package dns

import (
	"net/netip"
	"strconv"
	"time"
)

// The types of this file are what the zone loader and the response-rate
// limiter take: the DNS server's own view of the zones and limits a
// configuration declares, built by the caller (cmd/meridian from the
// config file, tests by hand), so that dns does not depend on the config
// package or its syntax.

// Pos is where something was written: a file and a line.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return p.File + ":" + strconv.Itoa(p.Line) }

// Error is a mistake in a zone's data at a position, in the config file or
// in a zone file. It reads FILE:LINE: MESSAGE, as configuration errors do.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ZoneConfig is a zone Meridian is authoritative for: its static part,
// parsed and checked by LoadZones, and the global services whose answers
// each Plan decides.
type ZoneConfig struct {
	Pos
	// Origin is the zone's name in lower case without the final dot.
	Origin string
	// TTL is that of the SOA, NS and glue, and the default of static records.
	TTL uint32
	SOA SOAConfig
	NS  []NameServer
	// Services are the zone's global services.
	Services []ServiceConfig
	// Records are static records in zone-file syntax, one each; Files
	// are zone files of more.
	Records []Record
	Files   []ZoneFile
	// AllowTransfer lists the networks that may transfer the static part
	// (AXFR, IXFR); Notify the secondaries told of changes.
	AllowTransfer []netip.Prefix
	Notify        []netip.AddrPort
	// AllowTransferWithoutServices lets a zone with global services be
	// transferred and notified: the secondary holds only the static part.
	AllowTransferWithoutServices bool
	// DNSSEC, when set, signs every answer of the zone online.
	DNSSEC *DNSSECConfig
}

// SOAConfig is the zone's start of authority. Without HasSerial, the
// serial follows the content (LoadZones, AssignSerials).
type SOAConfig struct {
	MName, RName                    string
	Refresh, Retry, Expire, Minimum uint32
	Serial                          uint32
	HasSerial                       bool
}

// NameServer is an NS record of the zone apex, with glue when the name
// lies inside the zone.
type NameServer struct {
	Name string
	Glue []netip.Addr
}

// ServiceConfig is what the DNS server needs of a global service; the
// rest of its policy is in the Plan.
type ServiceConfig struct {
	// FQDN is the full name, lower case, without the final dot.
	FQDN string
	TTL  uint32
	// MaxAnswers is how many addresses one answer holds; 0 counts as 1.
	MaxAnswers uint32
	// IgnoreECS locates clients by the resolver's address even when the
	// query carries EDNS Client Subnet.
	IgnoreECS bool
}

// Record is one static record in zone-file syntax and where it was written.
type Record struct {
	Pos
	Text string
}

// ZoneFile is an RFC 1035 zone file; Pos is where it was named.
type ZoneFile struct {
	Pos
	Path string
}

// DNSSECConfig is how a zone is signed; see config.DNSSEC for the
// meaning of each field.
type DNSSECConfig struct {
	Pos // of the dnssec block, for errors
	// Keys is the directory of the zone's keys; empty: the KeyStore.
	Keys string
	// Algorithm is the DNSSEC algorithm number of generated keys.
	Algorithm uint8
	// ZSKLifetime, when set, rolls the zone-signing key that often.
	ZSKLifetime time.Duration
	// Propagation is RFC 7583's Dprp.
	Propagation time.Duration
}

// LimiterConfig is response-rate limiting: each client network (IPv4Prefix
// or IPv6Prefix bits) may receive ResponsesPerSecond responses of a kind,
// averaged over Window; every Slip-th response beyond goes out truncated.
type LimiterConfig struct {
	ResponsesPerSecond uint32
	Window             time.Duration
	Slip               uint32
	IPv4Prefix         uint32
	IPv6Prefix         uint32
}
