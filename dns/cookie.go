package dns

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
)

// DNS Cookies (RFC 7873) with the interoperable server cookies of RFC
// 9018: a server cookie is
//
//	Version (1) | Reserved (3, zero) | Timestamp (4) | Hash (8)
//
// where Hash is SipHash-2-4, keyed with a 16-byte secret, of the client
// cookie, the first 8 bytes of the server cookie and the client's address.
// Replicas that share the secret make and accept the same cookies, so a
// resolver's cookie from one is good at all of them.
const (
	clientCookieLen = 8
	serverCookieLen = 16 // ours; a client may send any of 8 to 32 bytes
	maxCookieLen    = clientCookieLen + 32
	cookieVersion   = 1
	// A server cookie is good from cookieSkew seconds before the time it
	// names (replicas' clocks differ) to cookieLifetime after, and is
	// replaced by a fresh one once older than cookieRenew (RFC 9018
	// section 4.3).
	cookieLifetime = 3600
	cookieSkew     = 300
	cookieRenew    = 1800
)

// CookieSecretLen is the length of a cookie secret: a SipHash-2-4 key.
const CookieSecretLen = 16

// cookieJar holds the secrets: keys[0] makes server cookies, and every one
// of keys validates them, so that a secret can roll over without turning
// away the cookies made with the one before.
type cookieJar struct {
	keys []sipKey
}

func newCookieJar(secrets [][CookieSecretLen]byte) *cookieJar {
	j := &cookieJar{}
	for _, s := range secrets {
		j.keys = append(j.keys, newSipKey(s))
	}
	return j
}

// cookieLenOK reports whether a COOKIE option of n bytes is well formed: a
// client cookie alone, or with a server cookie of 8 to 32 bytes (RFC 7873
// section 5.2.2; anything else is FORMERR).
func cookieLenOK(n int) bool {
	return n == clientCookieLen || n >= clientCookieLen+8 && n <= maxCookieLen
}

// respond sets the response's cookie in q: the query's client cookie and a
// server cookie, the query's own when it is valid and recent enough, else a
// fresh one made at now for client. It reports whether the query's server
// cookie was valid, which proves that the client's address is its own.
// q's cookie must be well formed (cookieLenOK).
func (j *cookieJar) respond(q *query, client netip.Addr, now uint32) (valid bool) {
	cc, sc := q.cookie[:clientCookieLen], q.cookie[clientCookieLen:]
	renew := true
	if len(sc) == serverCookieLen && sc[0] == cookieVersion {
		age := int32(now - binary.BigEndian.Uint32(sc[4:])) // serial number arithmetic (RFC 1982)
		if age <= cookieLifetime && age >= -cookieSkew {
			mac := binary.LittleEndian.Uint64(sc[8:])
			for i, k := range j.keys {
				if cookieHash(k, cc, sc[:8], client) == mac {
					// One made with an older secret is replaced at once.
					valid, renew = true, i > 0 || age > cookieRenew
					break
				}
			}
		}
	}
	if !renew {
		q.respCookie = cookieEcho
		return valid
	}
	head := [8]byte{cookieVersion}
	binary.BigEndian.PutUint32(head[4:], now)
	q.respCookie, q.respTime, q.respMAC = cookieFresh, now, cookieHash(j.keys[0], cc, head[:], client)
	return valid
}

// cookieHash is the Hash of a server cookie whose first 8 bytes are head.
func cookieHash(k sipKey, cc, head []byte, client netip.Addr) uint64 {
	var in [clientCookieLen + 8 + 16]byte
	copy(in[:], cc)
	copy(in[clientCookieLen:], head)
	n := clientCookieLen + 8
	if client.Is4() {
		a := client.As4()
		n += copy(in[n:], a[:])
	} else {
		a := client.As16()
		n += copy(in[n:], a[:])
	}
	return siphash24(k, in[:n])
}

// ReadCookieSecrets reads a file of cookie secrets, each 32 hex digits on
// a line of its own: the current secret, then optionally the previous one,
// still accepted while replicas change over. Blank lines and lines that
// start with # are skipped. Errors name the file and line, and never
// quote the file's content.
func ReadCookieSecrets(path string) ([][CookieSecretLen]byte, error) {
	data, err := readSmallFile(path, maxSecretFile)
	if errors.Is(err, errTooLarge) {
		return nil, fmt.Errorf("%w; it holds one or two secrets of 32 hex digits", err)
	}
	if err != nil {
		return nil, err
	}
	var out [][CookieSecretLen]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		var s [CookieSecretLen]byte
		if len(text) != 2*CookieSecretLen {
			return nil, fmt.Errorf("%s:%d: expected a secret of 32 hex digits (16 bytes), got %d characters", path, line, len(text))
		}
		if _, err := hex.Decode(s[:], []byte(text)); err != nil {
			return nil, fmt.Errorf("%s:%d: expected a secret of 32 hex digits (16 bytes), got other characters", path, line)
		}
		if s == ([CookieSecretLen]byte{}) {
			return nil, fmt.Errorf("%s:%d: the secret is all zeros; generate one, e.g. with openssl rand -hex 16", path, line)
		}
		if len(out) == 2 {
			return nil, fmt.Errorf("%s:%d: a third secret; give the current secret and at most one previous one", path, line)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no secret; put 32 hex digits in it, e.g. from openssl rand -hex 16", path)
	}
	return out, nil
}

// maxSecretFile bounds a cookie secret file: two secrets and comments.
const maxSecretFile = 4096

var errTooLarge = errors.New("larger")

// readSmallFile reads the regular file at path, of at most limit bytes.
// Anything else is an error before a byte is read: a device such as
// /dev/zero would never end, and a FIFO would block a reload until
// someone wrote to it.
func readSmallFile(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: %w than %d bytes", path, errTooLarge, limit)
	}
	return data, nil
}
