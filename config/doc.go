// Package config reads Meridian's Corefile-style configuration file into typed
// structs, one per component, each with a validate method that fills defaults
// and rejects mistakes. Every error names the file and line it comes from.
//
// The file is a list of blocks, each a directive with arguments and an
// optional body in braces; `#` starts a comment, `{$NAME}` is replaced by an
// environment variable, and `import PATTERN` includes other files:
//
//	meridian {
//	    dns  127.0.0.1:5353
//	    http 127.0.0.1:8080
//	    geoip builtin
//	}
//	cluster eu-west {
//	    region eu-west
//	    location 53.35 -6.26
//	    static {
//	        ingress 192.0.2.10 192.0.2.11
//	        pods app 6
//	    }
//	}
//	zone gslb.example.com {
//	    soa ns1.gslb.example.com hostmaster.example.com
//	    ns  ns1.gslb.example.com 127.0.0.1
//	    service app {
//	        policy geo
//	        ttl 30
//	    }
//	}
//
// The lexer (quoting, comments, line numbers) is caddyfile's; the tree built
// on it is this package's, so that block headers keep their lines and each
// block kind can list its own valid directives. The decoder has a file
// per block (decode_meridian.go, decode_cluster.go, decode_zone.go,
// decode_service.go, decode_health.go, decode_map.go, and
// decode_dnsserver.go for the DNS server's directives of the meridian
// block), each with its directive table; decode.go holds the shared
// decoders. doc_test.go reads the tables to keep docs/configuration.md
// complete.
//
// Only cmd/meridian imports this package: it turns these types into the
// components' own options. The config's meaning in the model's terms
// (Policies, Overrides, StaticInventory) is made here. internal/importrules
// checks it.
package config
