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
	"sync"
	"sync/atomic"
	"time"
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

// ParseRole reads a role's name: read or admin.
func ParseRole(s string) (Role, bool) {
	switch s {
	case "read":
		return ReadRole, true
	case "admin":
		return AdminRole, true
	}
	return 0, false
}

// token is one line of the tokens file: who, with what role, and the
// SHA-256 of the secret they present.
type token struct {
	name string
	role Role
	hash [sha256.Size]byte
}

// tokenSet is one reading of the tokens file.
type tokenSet struct {
	tokens   []token
	warnings []string
}

// Tokens are the API's bearer tokens, kept as hashes only. Reload swaps in
// a fresh reading of the file; requests in flight keep the one they began
// with.
type Tokens struct {
	path string
	set  atomic.Pointer[tokenSet]
}

// LoadTokens reads a tokens file: one token per line, `NAME ROLE SHA256`,
// where ROLE is read or admin and SHA256 is the hex SHA-256 of the
// secret (`printf %s SECRET | sha256sum`, or `meridian ctl token new`);
// `#` starts a comment. A file without tokens, a name or a secret given
// twice are errors naming the file and line. A file that group or others
// may read or write is loaded with a warning (see Warnings).
func LoadTokens(path string) (*Tokens, error) {
	set, err := readTokens(path)
	if err != nil {
		return nil, err
	}
	t := &Tokens{path: path}
	t.set.Store(set)
	return t, nil
}

// Reload re-reads the file. On an error the tokens in force stay.
func (t *Tokens) Reload() error {
	set, err := readTokens(t.path)
	if err != nil {
		return err
	}
	t.set.Store(set)
	return nil
}

// Path returns the file the tokens come from.
func (t *Tokens) Path() string { return t.path }

// Len returns the number of tokens in force.
func (t *Tokens) Len() int { return len(t.set.Load().tokens) }

// Warnings returns what is wrong with the tokens file without stopping it
// from being used, as of its latest reading.
func (t *Tokens) Warnings() []string { return t.set.Load().warnings }

func readTokens(path string) (*tokenSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("api tokens: %w", err)
	}
	defer f.Close()
	set := &tokenSet{}
	if st, err := f.Stat(); err == nil && exposed(st) {
		set.warnings = append(set.warnings, fmt.Sprintf("%s: users other than Meridian's may read the tokens file (mode %#o); make it 0600 or 0400",
			path, st.Mode().Perm()))
	}
	names := map[string]int{}
	hashes := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 {
			return nil, fmt.Errorf("%s:%d: expected NAME ROLE SHA256, got %d fields", path, line, len(fields))
		}
		tk := token{name: fields[0]}
		var ok bool
		if tk.role, ok = ParseRole(fields[1]); !ok {
			return nil, fmt.Errorf("%s:%d: role %q: expected read or admin", path, line, fields[1])
		}
		h, err := hex.DecodeString(fields[2])
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: expected the hex SHA-256 of the token (64 characters), got %q", path, line, fields[2])
		}
		copy(tk.hash[:], h)
		if prev, dup := names[tk.name]; dup {
			return nil, fmt.Errorf("%s:%d: token name %q used twice (first on line %d)", path, line, tk.name, prev)
		}
		if prev, dup := hashes[tk.hash]; dup {
			return nil, fmt.Errorf("%s:%d: token %q has the same secret as the token on line %d; give each its own", path, line, tk.name, prev)
		}
		names[tk.name], hashes[tk.hash] = line, line
		set.tokens = append(set.tokens, tk)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("api tokens: %s: %w", path, err)
	}
	if len(set.tokens) == 0 {
		return nil, fmt.Errorf("%s:%d: no tokens: expected lines NAME ROLE SHA256 (make one with meridian ctl token new NAME ROLE)", path, max(line, 1))
	}
	return set, nil
}

// identify returns who presents the request's bearer token (or, for
// browsers, a Basic password), and whether the request presented one at
// all. Every stored hash is compared, in constant time, so the time taken
// says nothing about which token came close.
func (t *Tokens) identify(r *http.Request) (name string, role Role, presented bool) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		// Browsers can send a token only as a Basic password.
		_, secret, ok = r.BasicAuth()
	}
	if !ok || t == nil {
		return "", 0, ok
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	for _, tk := range t.set.Load().tokens {
		if subtle.ConstantTimeCompare(h[:], tk.hash[:]) == 1 {
			name, role = tk.name, tk.role
		}
	}
	return name, role, true
}

// authLogEvery is the least time between two log lines about failed
// authentications: a client hammering the API with bad tokens must not
// flood the log.
const authLogEvery = 10 * time.Second

// logLimiter lets one log line through per period and counts the others.
type logLimiter struct {
	mu         sync.Mutex
	every      time.Duration
	last       time.Time
	suppressed int
}

// allow reports whether a line may be logged at now and, if so, how many
// were suppressed since the previous one.
func (l *logLimiter) allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < l.every {
		l.suppressed++
		return false, 0
	}
	suppressed, l.last, l.suppressed = l.suppressed, now, 0
	return true, suppressed
}

// exposed reports whether users other than Meridian's own may read or
// write the tokens file: others, or a group that is not the process's.
// A Secret that Kubernetes mounts 0440 for the pod's fsGroup is not.
func exposed(st os.FileInfo) bool {
	perm := st.Mode().Perm()
	return perm&0o007 != 0 || perm&0o070 != 0 && !ownGroup(st)
}
