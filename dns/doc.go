// Package dns is Meridian's authoritative DNS server. It serves the zones of
// the config: their static part (SOA, NS and glue, inline records and zone
// files, transferable to secondaries) and their global services, whose A
// and AAAA answers come from the current Plan by where the client is (EDNS
// Client Subnet when present, else the resolver's address).
//
// Static records are answered as Knot and NSD answer them. A wildcard
// (`*.dev`) stands for the names below its parent that do not exist (RFC
// 4592): the `*` child of the closest encloser answers, its records owned
// by the question name as the client wrote it, a CNAME there followed as
// any other, into a global service too. It never answers at or below a
// name that exists, an empty non-terminal included, nor below a zone cut,
// which gets its referral; the `*` name asked for itself is an ordinary
// name. A wildcard cannot delegate: NS at a `*` name is refused at load,
// Knot and NSD disagreeing on what it would mean. MX, SRV and NS answers
// carry the A and AAAA records their targets have in the same zone in the
// additional section, as many RRsets as fit the client's payload size:
// only an answer that does not fit without them sets TC, and a referral,
// whose glue the resolver needs, is sent whole or with TC (RFC 9471). ANY
// at a CNAME gets the CNAME alone; NODATA through a CNAME carries the SOA.
//
// A zone's SOA serial follows its static content, and is the same on every
// replica: LoadZones parses without I/O, and AssignSerials takes each
// zone's serial from a SerialBook, the store the replicas share, keyed by
// a hash of the content. Each process keeps the last versions it loaded,
// so that IXFR sends differences (RFC 1995) as Knot does. A zone with
// global services is transferred only when its config opts in: a
// secondary would answer NXDOMAIN for every service.
//
// Every Plan is compiled into an answer table when it is published and
// swapped in with an atomic pointer, so queries never lock and never
// decide. A Plan's table is built from the one before: the zones are
// compiled once per version of the zones and shared, and only the services
// whose plans the new Plan changed are compiled again (recompile.go), so
// one EndpointSlice change costs one service's answers, not the zone's. The query path parses the packet itself, looks up the
// precompiled answer for (name, type, client bucket) (a name that does not
// exist walks up to its closest encloser for a wildcard), draws a service's
// records in proportion to the Plan's shares, and writes the answer into a
// reused buffer: it allocates nothing. Each table also remembers the
// client bucket of every IPv4 subnet it has placed, so a resolver's repeat
// subnets skip the GeoIP lookup until the next Plan or reload.
//
// An answer the same for every client (a service in one cluster, policy
// all or weighted, or no address of the family anywhere) is known as such
// when the Plan is compiled: it is given without locating the client, with
// ECS scope 0 (RFC 7871 section 7.2.1), so that resolvers cache it once.
//
// The response's OPT record carries, besides the client subnet, the NSID
// when the query asks for it and one is configured (RFC 5001), and with
// cookies on, the client's cookie and a server cookie (RFC 7873), made as
// RFC 9018 says with SipHash-2-4 of a secret the replicas share, so that a
// cookie from one replica is good at all. A valid server cookie proves the
// client's address and exempts its answers from rate limiting. Malformed
// cookies are FORMERR; cookies that are not valid get a normal answer with
// a fresh cookie. The clock that cookies need is read once per batch of
// packets, not per query.
//
// On Linux each UDP socket (one per CPU, sharing the port) has a reader
// thread of its own that waits in recvmmsg and answers up to 32 packets
// per system call, as C servers do, rather than going through the
// runtime's poller; the kernel hands each packet to the socket of the CPU
// that received it, where that socket's reader runs. A socket on a
// wildcard address sends each reply from the address its query was sent
// to. Zone transfers, the one rare path, go through
// miekg/dns.
//
// A zone with a dnssec block is signed online: answers to queries with
// the DO bit carry the RRSIGs of their RRsets. Signatures are made when a
// table is compiled (each template has a signed twin, and each record of
// a service its signature) and kept by the zone's signer per RRset
// content, so a new Plan signs only what is new and the query path signs
// nothing; what depends on the name asked (compact denial, RFC 9824, and
// wildcard expansions) is signed when first asked, kept, and bounded per
// second and per batch of packets. The keys are read in BIND's format from
// a directory or the store the replicas share (KeyStore), and the zone-
// signing key rolls by pre-publication from the times the key files carry
// (rollover.go), which every replica reads alike.
//
// Nothing a client or the config sends stops the server: every record is
// packed and read back when zones are loaded, so a record no client could
// read is a FILE:LINE error and compiling a table cannot fail on user
// data; TCP accept errors (out of descriptors or buffers) are waited out;
// TCP connections are capped in all and per client network, a new client
// taking the place of the connection idle longest (internal/conncap); and
// a waiting connection holds no query buffer.
//
// github.com/miekg/dns is imported here and nowhere else, and the config
// package not at all: zones and limits come as ZoneConfig and
// LimiterConfig (zoneconfig.go), which cmd/meridian builds from the config
// file. internal/importrules checks both.
package dns
