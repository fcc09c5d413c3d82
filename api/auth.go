package api

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Role is what a token may do.
type Role uint8

const (
	// ReadRole may read everything.
	ReadRole Role = iota + 1
	// AdminRole may also write overrides.
	AdminRole
)

func (r Role) String() string {
	switch r {
	case ReadRole:
		return "read"
	case AdminRole:
		return "admin"
	}
	return "none"
}

// token is one line of the tokens file: who, with what role, and the
// SHA-256 of the secret they present.
type token struct {
	name string
	role Role
	hash [sha256.Size]byte
}

// Tokens are the API's bearer tokens, kept as hashes only.
type Tokens struct{ tokens []token }

// LoadTokens reads a tokens file: one token per line, `NAME ROLE SHA256`,
// where ROLE is read or admin and SHA256 is the hex SHA-256 of the
// secret (`printf %s SECRET | sha256sum`); `#` starts a comment. Errors
// name the file and line.
func LoadTokens(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("api tokens: %w", err)
	}
	defer f.Close()
	t := &Tokens{}
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: expected NAME ROLE SHA256, got %d fields", path, line, len(fields))
		}
		tk := token{name: fields[0]}
		switch fields[1] {
		case "read":
			tk.role = ReadRole
		case "admin":
			tk.role = AdminRole
		default:
			return nil, fmt.Errorf("%s:%d: role %q: expected read or admin", path, line, fields[1])
		}
		h, err := hex.DecodeString(fields[2])
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: expected the hex SHA-256 of the token (64 characters), got %q", path, line, fields[2])
		}
		copy(tk.hash[:], h)
		if names[tk.name] {
			return nil, fmt.Errorf("%s:%d: token name %q used twice", path, line, tk.name)
		}
		names[tk.name] = true
		t.tokens = append(t.tokens, tk)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("api tokens: %w", err)
	}
	return t, nil
}

// identify returns who presents the request's bearer token (or, for
// browsers, a Basic password). Every stored
// hash is compared, in constant time, so the time taken says nothing about
// which token came close.
func (t *Tokens) identify(r *http.Request) (name string, role Role) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		// Browsers can send a token only as a Basic password.
		_, secret, ok = r.BasicAuth()
	}
	if !ok || t == nil {
		return "", 0
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	for _, tk := range t.tokens {
		if subtle.ConstantTimeCompare(h[:], tk.hash[:]) == 1 {
			name, role = tk.name, tk.role
		}
	}
	return name, role
}
