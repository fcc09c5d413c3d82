package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/coredns/caddy/caddyfile"
)

// Pos is where a piece of configuration was written.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Error is a configuration mistake at a position in a file.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

func errorf(p Pos, format string, args ...any) error {
	return &Error{Pos: p, Msg: fmt.Sprintf(format, args...)}
}

// token is one word of the file.
type token struct {
	Pos
	Text string
}

// node is a directive: its name, the arguments on its line, and the
// directives of its body when it opens a block.
type node struct {
	token
	Args     []token
	Body     []*node
	HasBody  bool
	bodyOpen Pos // where the body's '{' stands, for unclosed-brace errors
}

// Name returns the directive's name.
func (n *node) Name() string { return n.Text }

// argStrings returns the arguments as plain strings.
func (n *node) argStrings() []string {
	out := make([]string, len(n.Args))
	for i, a := range n.Args {
		out[i] = a.Text
	}
	return out
}

// maxImports bounds import expansion, so an import cycle ends in an error.
const maxImports = 100

// parseFile reads and parses the file at path into a tree of directives.
func parseFile(path string) ([]*node, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(path, data)
}

// parse lexes data, expands imports and builds the directive tree.
func parse(file string, data []byte) ([]*node, error) {
	imports := 0
	toks, err := lexExpand(file, data, &imports)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	nodes, err := p.block(nil)
	if err != nil {
		return nil, err
	}
	return nodes, nil
}

// lex splits data into tokens with their positions, using caddyfile's lexer,
// and replaces environment references.
func lex(file string, data []byte) []token {
	d := caddyfile.NewDispenser(file, bytes.NewReader(data))
	var toks []token
	for d.Next() {
		toks = append(toks, token{Pos: Pos{File: file, Line: d.Line()}, Text: expandEnv(d.Val())})
	}
	return toks
}

// lexExpand lexes data and replaces every `import PATTERN` line with the
// tokens of the files the pattern names, relative to the importing file.
func lexExpand(file string, data []byte, imports *int) ([]token, error) {
	toks := lex(file, data)
	var out []token
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.Text != "import" || !startsLine(toks, i) {
			out = append(out, t)
			continue
		}
		if i+1 >= len(toks) || startsLine(toks, i+1) {
			return nil, errorf(t.Pos, "import: expected a file name or pattern")
		}
		if i+2 < len(toks) && !startsLine(toks, i+2) {
			return nil, errorf(t.Pos, "import: expected one file name or pattern, got more")
		}
		pattern := toks[i+1].Text
		i++
		if !filepath.IsAbs(pattern) {
			pattern = filepath.Join(filepath.Dir(file), pattern)
		}
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, errorf(t.Pos, "import: bad pattern %q: %v", pattern, err)
		}
		if len(matches) == 0 && !strings.ContainsAny(pattern, "*?[") {
			return nil, errorf(t.Pos, "import: %s does not exist", pattern)
		}
		for _, m := range matches {
			*imports++
			if *imports > maxImports {
				return nil, errorf(t.Pos, "import: more than %d imports; is there a cycle?", maxImports)
			}
			data, err := os.ReadFile(m)
			if err != nil {
				return nil, errorf(t.Pos, "import: %v", err)
			}
			sub, err := lexExpand(m, data, imports)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
		}
	}
	return out, nil
}

// startsLine reports whether toks[i] is the first token on its line.
func startsLine(toks []token, i int) bool {
	if i == 0 {
		return true
	}
	prev := toks[i-1]
	return prev.File != toks[i].File || prev.Line+strings.Count(prev.Text, "\n") < toks[i].Line
}

var envRef = regexp.MustCompile(`\{\$([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces {$NAME} with the value of the environment variable NAME.
func expandEnv(s string) string {
	if !strings.Contains(s, "{$") {
		return s
	}
	return envRef.ReplaceAllStringFunc(s, func(ref string) string {
		return os.Getenv(ref[2 : len(ref)-1])
	})
}

type parser struct {
	toks []token
	i    int
}

// block parses directives until the closing brace of the block opened by
// parent, or until the end of input when parent is nil.
func (p *parser) block(parent *node) ([]*node, error) {
	var nodes []*node
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		switch t.Text {
		case "}":
			if parent == nil {
				return nil, errorf(t.Pos, "unexpected '}': no block is open")
			}
			p.i++
			return nodes, nil
		case "{":
			return nil, errorf(t.Pos, "unexpected '{': a block must follow a directive on the same line")
		}
		n, err := p.directive()
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if parent != nil {
		return nil, errorf(parent.bodyOpen, "%s: missing '}' to close this block", parent.Text)
	}
	return nodes, nil
}

// directive parses one directive: its name, the rest of its line and, when
// the line ends with '{', its body.
func (p *parser) directive() (*node, error) {
	n := &node{token: p.toks[p.i]}
	p.i++
	for p.i < len(p.toks) && !startsLine(p.toks, p.i) {
		t := p.toks[p.i]
		p.i++
		switch t.Text {
		case "{":
			if p.i < len(p.toks) && !startsLine(p.toks, p.i) && p.toks[p.i].Text != "}" {
				return nil, errorf(t.Pos, "%s: put the block's directives on their own lines after '{'", n.Text)
			}
			n.HasBody, n.bodyOpen = true, t.Pos
			body, err := p.block(n)
			if err != nil {
				return nil, err
			}
			n.Body = body
			if p.i < len(p.toks) && !startsLine(p.toks, p.i) {
				return nil, errorf(p.toks[p.i].Pos, "unexpected %q after '}'", p.toks[p.i].Text)
			}
			return n, nil
		case "}":
			p.i-- // closes the enclosing block: "name arg }" on one line
			return n, nil
		default:
			n.Args = append(n.Args, t)
		}
	}
	return n, nil
}
