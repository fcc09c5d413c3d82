package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/meridian-gtm/meridian/api"
	"github.com/meridian-gtm/meridian/discovery/kube"
	"github.com/meridian-gtm/meridian/dns"
	"github.com/meridian-gtm/meridian/internal/duration"
	"github.com/meridian-gtm/meridian/model"
)

const ctlUsage = `Usage: meridian ctl [-server URL] [-token TOKEN] [-o table|json] COMMAND [ARGS]

Commands:
  status                                   the Plan's version and counts
  clusters                                 member clusters and their reachability
  services                                 global services and their shares per site
  explain NAME -client IP                  what DNS and xDS answer that client, and why
  explain NAME -region R [-zone Z]         what xDS nodes of that locality get, and why
  drain CLUSTER [-service S] -reason R [-for 2h] [-dry-run]
  undrain CLUSTER [-service S] [-dry-run]
  weight SERVICE CLUSTER N -reason R [-for 2h] [-dry-run]
  overrides                                every override
  replicas                                 the replicas sharing health verdicts, and the
                                           targets their probes disagree on
  audit                                    every write, oldest first
  dnssec ds ZONE                           the DS records to give the parent of a signed zone
  dnssec keys ZONE                         a signed zone's keys
  dnssec keygen ZONE DIR [-algorithm ecdsap256sha256|ed25519] [-zsk]
      [-publish TIME] [-activate TIME]     write a new key in BIND's format into DIR, published
                                           and active from now or the times given (RFC 3339);
                                           needs no server
  token new NAME ROLE                      print a new random secret for the API and its
                                           line for the tokens file (ROLE: read or admin);
                                           needs no server
  create-cluster-secret -name N -region R [-zone Z] [-location LAT,LON]
      [-kubeconfig PATH] [-context C] [-namespace meridian] [-token-ttl 8760h]
                                           print the Secret that makes Meridian watch
                                           the member cluster of the kubeconfig context
                                           (apply deploy/member/meridian-reader.yaml there first)

-server, -token and -o may also come after the command, and every command's
flags before, between or after its arguments; -- ends the flags. A service
may be named relative to its zone (app for app.gslb.example.com). Durations
(-for) are written as in the config: 300, 30m, 2h, 1d, 1w, 1h30m.
meridian ctl help COMMAND (or COMMAND -h) shows one command.

The server and token default to $MERIDIAN_SERVER (else http://127.0.0.1:8080)
and $MERIDIAN_TOKEN. Exit status: 0 done, 1 the server refused or failed
(its message is printed), 2 usage error, 3 the server could not be reached.
`

// Exit codes scripts can rely on.
const (
	exitOK          = 0
	exitRefused     = 1
	exitUsage       = 2
	exitUnreachable = 3
)

// ctl is one invocation of `meridian ctl`.
type ctl struct {
	server, token string
	output        string // -o: table or json
	json          bool
	out, errOut   io.Writer
	client        *http.Client
}

// ctlError carries the exit code of a failed command; usage, for a usage
// error, is the usage of the command at fault.
type ctlError struct {
	code  int
	msg   string
	usage string
}

func (e *ctlError) Error() string { return e.msg }

func usageErr(format string, args ...any) error {
	return &ctlError{code: exitUsage, msg: fmt.Sprintf(format, args...)}
}

func ctlCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := &ctl{out: stdout, errOut: stderr, client: &http.Client{Timeout: 30 * time.Second},
		server: cmpOr(os.Getenv("MERIDIAN_SERVER"), "http://127.0.0.1:8080"), token: os.Getenv("MERIDIAN_TOKEN"), output: "table"}
	c.globalFlags(fs)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, ctlUsage)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "meridian ctl: %v\nRun 'meridian ctl help' for the commands and their flags.\n", err)
		return exitUsage
	case fs.NArg() == 0:
		fmt.Fprint(stderr, ctlUsage)
		return exitUsage
	case fs.Arg(0) == "help" && fs.NArg() > 1:
		if u := commandUsage(fs.Arg(1)); u != "" {
			fmt.Fprint(stdout, u)
			return exitOK
		}
		fmt.Fprintf(stderr, "meridian ctl: no command %q\nRun 'meridian ctl help' for the commands and their flags.\n", fs.Arg(1))
		return exitUsage
	case fs.Arg(0) == "help":
		fmt.Fprint(stdout, ctlUsage)
		return exitOK
	}
	err = c.run(fs.Arg(0), fs.Args()[1:])
	var ce *ctlError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, cmpOr(commandUsage(fs.Arg(0)), ctlUsage))
		return exitOK
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, "meridian ctl:", ce.msg)
		switch {
		case ce.code != exitUsage:
		case ce.usage != "":
			fmt.Fprint(stderr, "\n"+ce.usage)
		default:
			fmt.Fprintln(stderr, "Run 'meridian ctl help' for the commands and their flags.")
		}
		return ce.code
	default:
		fmt.Fprintln(stderr, "meridian ctl:", err)
		return exitRefused
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// globalFlags defines on fs the flags every command takes, so that they
// may come before the command or anywhere after it.
func (c *ctl) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.server, "server", c.server, "")
	fs.StringVar(&c.token, "token", c.token, "")
	fs.StringVar(&c.output, "o", c.output, "")
}

// parseArgs parses a command's flags and the global ones given before,
// between or after its positional arguments (Go's flag package stops at
// the first positional), up to a "--" that ends the flags, and checks the
// count of positionals. -h or -help returns flag.ErrHelp.
func (c *ctl) parseArgs(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	fs.SetOutput(io.Discard)
	c.globalFlags(fs)
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErr("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if endsFlags(fs, args[:len(args)-len(rest)]) {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if c.output != "table" && c.output != "json" {
		return nil, usageErr("-o %s: expected table or json", c.output)
	}
	c.json = c.output == "json"
	c.server = strings.TrimSuffix(c.server, "/")
	if len(pos) != positional {
		return nil, usageErr("%s: expected %d argument(s), got %d", fs.Name(), positional, len(pos))
	}
	return pos, nil
}

// endsFlags reports whether the arguments fs.Parse consumed (flags and
// their values only) end with a "--" that ends the flags, rather than one
// that is a flag's value (-reason --).
func endsFlags(fs *flag.FlagSet, parsed []string) bool {
	for i := 0; i < len(parsed); i++ {
		if parsed[i] == "--" {
			return true
		}
		name := strings.TrimLeft(parsed[i], "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
				i++ // its value
			}
		}
	}
	return false
}

// commandUsage is the part of ctlUsage that describes cmd, "" for a
// command it does not list.
func commandUsage(cmd string) string {
	var b strings.Builder
	in := false
	for line := range strings.Lines(ctlUsage[strings.Index(ctlUsage, "Commands:"):]) {
		first := strings.HasPrefix(line, "  ") && line[2] != ' ' // a command's first line
		switch {
		case first:
			in = strings.Fields(line)[0] == cmd
		case strings.HasPrefix(line, "    "): // its continuation
		default:
			in = false
		}
		switch {
		case in && first:
			b.WriteString("  meridian ctl " + strings.TrimPrefix(line, "  "))
		case in: // aligned under the first line, which "meridian ctl " moved right
			b.WriteString(strings.Repeat(" ", len("meridian ctl ")) + line)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "Usage:\n" + b.String() + "\nFlags of every command, before or after it: -server URL, -token TOKEN, -o table|json.\n" +
		"Flags may come before, between or after the arguments; -- ends them.\n"
}

// durationFlag is a flag.Value of a duration as the config writes it.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, ok := duration.Parse(s)
	if !ok || d <= 0 {
		return fmt.Errorf("expected %s", duration.Syntax)
	}
	*f.d = d
	return nil
}

// checkFor checks a -for value before it goes to the server, which reads
// it with the same parser.
func checkFor(cmd, v string) error {
	if v == "" {
		return nil
	}
	if d, ok := duration.Parse(v); !ok || d <= 0 {
		return usageErr("%s: -for %q: expected %s", cmd, v, duration.Syntax)
	}
	return nil
}

func (c *ctl) run(cmd string, args []string) error {
	err := c.runCommand(cmd, args)
	var ce *ctlError
	if errors.As(err, &ce) && ce.code == exitUsage && ce.usage == "" {
		ce.usage = commandUsage(cmd)
	}
	return err
}

func (c *ctl) runCommand(cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	listings := map[string]func() error{"status": c.status, "clusters": c.clusters, "services": c.services, "overrides": c.overrides, "audit": c.audit,
		"replicas": c.replicas}
	if list, ok := listings[cmd]; ok {
		if _, err := c.parseArgs(fs, args, 0); err != nil {
			return err
		}
		return list()
	}
	switch cmd {
	case "explain":
		client := fs.String("client", "", "")
		region := fs.String("region", "", "")
		zone := fs.String("zone", "", "")
		pos, err := c.parseArgs(fs, args, 1)
		if err != nil {
			return err
		}
		if (*client == "") == (*region == "") {
			return usageErr("explain: give -client IP (a DNS client) or -region R [-zone Z] (an xDS node's locality)")
		}
		name, err := c.resolveService(pos[0])
		if err != nil {
			return err
		}
		q := url.Values{"name": {name}}
		for k, v := range map[string]string{"client": *client, "region": *region, "zone": *zone} {
			if v != "" {
				q.Set(k, v)
			}
		}
		return c.explain(q)
	case "drain", "undrain":
		service := fs.String("service", "", "")
		reason := fs.String("reason", "", "")
		dur := fs.String("for", "", "")
		dry := fs.Bool("dry-run", false, "")
		pos, err := c.parseArgs(fs, args, 1)
		if err != nil {
			return err
		}
		if cmd == "undrain" {
			if *service != "" {
				if *service, err = c.resolveService(*service); err != nil {
					return err
				}
			}
			return c.undrain(pos[0], *service, *dry)
		}
		if *reason == "" {
			return usageErr(`drain: -reason is required: say why, as in -reason "kernel upgrade"`)
		}
		if err := checkFor(cmd, *dur); err != nil {
			return err
		}
		if *service != "" {
			if *service, err = c.resolveService(*service); err != nil {
				return err
			}
		}
		id := overrideID("drain", pos[0], *service)
		return c.write("PUT", id, &api.OverrideRequest{OverrideSpec: api.OverrideSpec{Kind: "drain", Cluster: pos[0], Service: *service, Reason: *reason}, For: *dur}, *dry)
	case "weight":
		reason := fs.String("reason", "", "")
		dur := fs.String("for", "", "")
		dry := fs.Bool("dry-run", false, "")
		pos, err := c.parseArgs(fs, args, 3)
		if err != nil {
			return err
		}
		n, err := strconv.ParseUint(pos[2], 10, 32)
		if err != nil || n > api.MaxWeight {
			return usageErr("weight: %q: expected a whole number from 0 (drain) to %d", pos[2], api.MaxWeight)
		}
		if *reason == "" {
			return usageErr(`weight: -reason is required: say why, as in -reason "migration"`)
		}
		if err := checkFor(cmd, *dur); err != nil {
			return err
		}
		if pos[0], err = c.resolveService(pos[0]); err != nil {
			return err
		}
		w := uint32(n)
		return c.write("PUT", overrideID("weight", pos[1], pos[0]), &api.OverrideRequest{OverrideSpec: api.OverrideSpec{Kind: "weight", Service: pos[0], Cluster: pos[1], Weight: &w, Reason: *reason}, For: *dur}, *dry)
	case "dnssec":
		if len(args) > 0 && args[0] == "keygen" {
			return c.keygen(fs, args[1:])
		}
		pos, err := c.parseArgs(fs, args, 2)
		if err != nil {
			return err
		}
		if pos[0] != "ds" && pos[0] != "keys" {
			return usageErr("dnssec: unknown subcommand %q; expected dnssec ds ZONE, dnssec keys ZONE or dnssec keygen ZONE DIR", pos[0])
		}
		return c.dnssec(pos[0], pos[1])
	case "token":
		pos, err := c.parseArgs(fs, args, 3)
		if err != nil {
			return err
		}
		if pos[0] != "new" {
			return usageErr("token: unknown subcommand %q; expected token new NAME ROLE", pos[0])
		}
		return c.newToken(pos[1], pos[2])
	case "create-cluster-secret":
		var o kube.RemoteSecretOptions
		kubeconfig := fs.String("kubeconfig", "", "")
		kubeContext := fs.String("context", "", "")
		fs.StringVar(&o.Name, "name", "", "")
		fs.StringVar(&o.Region, "region", "", "")
		fs.StringVar(&o.Zone, "zone", "", "")
		fs.StringVar(&o.Location, "location", "", "")
		fs.StringVar(&o.Namespace, "namespace", "meridian", "")
		fs.StringVar(&o.ServiceAccount, "service-account", "meridian/meridian-reader", "")
		o.TokenTTL = 365 * 24 * time.Hour
		fs.Var(durationFlag{&o.TokenTTL}, "token-ttl", "")
		if _, err := c.parseArgs(fs, args, 0); err != nil {
			return err
		}
		if o.Name == "" {
			return usageErr("create-cluster-secret: -name is required")
		}
		return c.createClusterSecret(*kubeconfig, *kubeContext, o)
	default:
		return usageErr("unknown command %q", cmd)
	}
}

// newToken prints a random 256-bit secret and the line of the tokens
// file that lets it in as name with role: the file keeps only the
// secret's SHA-256.
func (c *ctl) newToken(name, role string) error {
	if name == "" || strings.ContainsAny(name, "# \t\r\n") || !utf8.ValidString(name) {
		return usageErr("token new: name %q: use a name without spaces or '#'", name)
	}
	if _, ok := api.ParseRole(role); !ok {
		return usageErr("token new: role %q: expected read or admin", role)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	secret := hex.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	line := name + " " + role + " " + hex.EncodeToString(sum[:])
	if c.json {
		out, _ := json.MarshalIndent(map[string]string{"name": name, "role": role, "secret": secret, "line": line}, "", "  ")
		_, err := fmt.Fprintf(c.out, "%s\n", out)
		return err
	}
	_, err := fmt.Fprintf(c.out, "secret:      %s\ntokens file: %s\n", secret, line)
	return err
}

// createClusterSecret prints the kubeconfig Secret of a member cluster, to
// apply in Meridian's home cluster.
func (c *ctl) createClusterSecret(kubeconfig, kubeContext string, o kube.RemoteSecretOptions) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := kube.RemoteSecret(ctx, kubeconfig, kubeContext, o)
	if err != nil {
		return &ctlError{code: exitRefused, msg: err.Error()}
	}
	out, err := yaml.Marshal(s)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "# Apply in Meridian's home cluster: kubectl apply -f -\n%s", out)
	return nil
}

var notInID = regexp.MustCompile(`[^a-z0-9._-]+`)

// overrideID names the override a command makes, so that the same drain
// twice is one override and undrain finds it.
func overrideID(kind, cluster, service string) string {
	id := kind + "-" + cluster
	if service != "" {
		id += "-" + service
	}
	id = strings.Trim(notInID.ReplaceAllString(strings.ToLower(id), "-"), "-._")
	if len(id) > 63 {
		id = strings.Trim(id[:63], "-._")
	}
	return id
}

// undrain removes the drain of a cluster (of one service, or of all): the
// one `meridian ctl drain` made, else a drain of the config file, which
// the server refuses to remove, saying so.
func (c *ctl) undrain(cluster, service string, dryRun bool) error {
	id := overrideID("drain", cluster, service)
	var list []api.Override
	if err := c.get("/api/v1/overrides", &list); err != nil {
		return err
	}
	same := func(a, b string) bool {
		return strings.EqualFold(strings.TrimSuffix(a, "."), strings.TrimSuffix(b, "."))
	}
	fromConfig := ""
	for _, o := range list {
		if o.ID == id {
			return c.write("DELETE", id, nil, dryRun)
		}
		if o.Kind == "drain" && o.Author == "config" && strings.HasPrefix(o.ID, "config.") && same(o.Cluster, cluster) && same(o.Service, service) {
			fromConfig = o.ID
		}
	}
	if fromConfig != "" {
		id = fromConfig
	}
	return c.write("DELETE", id, nil, dryRun)
}

// resolveService returns the global service that name means: the service
// of that name, else the one of that name relative to a zone the server
// serves (app for app.gslb.example.com). A name in several zones is a
// usage error listing them; an unknown one is left for the server to
// refuse.
func (c *ctl) resolveService(name string) (string, error) {
	want := model.CanonicalName(name)
	if strings.HasSuffix(name, ".") {
		return name, nil // absolute
	}
	var services []struct{ Name string }
	if err := c.get("/api/v1/services", &services); err != nil {
		return "", err
	}
	known := map[string]bool{}
	for _, s := range services {
		known[model.CanonicalName(s.Name)] = true
	}
	if known[want] {
		return name, nil
	}
	var zones []string
	if err := c.get("/api/v1/zones", &zones); err != nil {
		return "", err
	}
	var found []string
	for _, z := range zones {
		if known[want+"."+z] {
			found = append(found, want+"."+z)
		}
	}
	switch len(found) {
	case 0:
		return name, nil
	case 1:
		return found[0], nil
	}
	return "", usageErr("%s is a service in more than one zone: %s; give the full name", name, strings.Join(found, ", "))
}

// get reads a JSON answer into out, printing nothing even with -o json.
func (c *ctl) get(path string, out any) error {
	b, err := c.do("GET", path, nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// do sends a request and returns the answer's body. An error answer
// becomes a ctlError with the server's message.
func (c *ctl) do(method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.server+path, rd)
	if err != nil {
		return nil, usageErr("-server %s: %v", c.server, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, &ctlError{code: exitUnreachable, msg: fmt.Sprintf("cannot reach %s: %v", c.server, err)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, &ctlError{code: exitUnreachable, msg: fmt.Sprintf("reading the answer of %s: %v", c.server, err)}
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Field string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		return nil, &ctlError{code: exitRefused, msg: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, e.Error)}
	}
	return b, nil
}

// call sends a request and decodes a JSON answer into out, or with -o
// json prints it. An error answer becomes a ctlError with the server's
// message.
func (c *ctl) call(method, path string, body, out any) error {
	b, err := c.do(method, path, body)
	if err != nil {
		return err
	}
	if c.json {
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") == nil {
			buf.WriteByte('\n')
			_, err := c.out.Write(buf.Bytes())
			return err
		}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func (c *ctl) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(c.out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, cell := range r {
			cells[i] = printable(cell)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

// printable escapes what a terminal would act on rather than show
// (escape sequences, bells, tabs and newlines that would break the table),
// as Go escapes them: a name or reason from the network cannot retitle the
// operator's terminal or recolour the rest of the output.
func printable(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		} else {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

func (c *ctl) status() error {
	var s struct {
		PlanVersion string    `json:"plan_version"`
		PlanAt      time.Time `json:"plan_at"`
		Services    int       `json:"services"`
		Clusters    int       `json:"clusters"`
		Overrides   int       `json:"overrides"`
	}
	if err := c.call("GET", "/api/v1/status", nil, &s); err != nil || c.json {
		return err
	}
	c.table("PLAN\tDECIDED\tSERVICES\tCLUSTERS\tOVERRIDES", [][]string{{s.PlanVersion, s.PlanAt.Format(time.RFC3339),
		strconv.Itoa(s.Services), strconv.Itoa(s.Clusters), strconv.Itoa(s.Overrides)}})
	return nil
}

func (c *ctl) clusters() error {
	var cs []struct {
		Name, Region, Zone string
		Reachable, Stale   bool
		Resyncing          bool
		LostAt             *time.Time `json:"lost_at"`
	}
	if err := c.call("GET", "/api/v1/clusters", nil, &cs); err != nil || c.json {
		return err
	}
	var rows [][]string
	for _, cl := range cs {
		state := "reachable"
		if !cl.Reachable {
			state = "lost since " + cl.LostAt.Format(time.RFC3339)
			if cl.Resyncing {
				state = "resyncing, " + state
			}
			if cl.Stale {
				state += " (stale)"
			}
		}
		rows = append(rows, []string{cl.Name, cl.Region, cl.Zone, state})
	}
	c.table("CLUSTER\tREGION\tZONE\tSTATE", rows)
	return nil
}

func (c *ctl) services() error {
	var ss []struct {
		Name, Policy string
		Targets      []struct{ Cluster, Address, Health, Status string }
		Routes       []struct {
			Site, Mode string
			Shares     map[string]float64
		}
	}
	if err := c.call("GET", "/api/v1/services", nil, &ss); err != nil || c.json {
		return err
	}
	var rows [][]string
	for _, s := range ss {
		for _, r := range s.Routes {
			site := r.Site
			if site == "" {
				site = "(unknown location)"
			}
			rows = append(rows, []string{s.Name, s.Policy, site, routeText(r.Mode, r.Shares)})
		}
	}
	c.table("SERVICE\tPOLICY\tCLIENTS NEAR\tSHARES", rows)
	return nil
}

// routeText is the traffic of one route as `ctl services` prints it, as
// the status page words it: the shares, and why when it is not the normal
// split ("no traffic (failed closed)", "... (failed open)").
func routeText(mode string, shares map[string]float64) string {
	switch {
	case len(shares) == 0:
		return "no traffic (" + cmpOr(mode, "no targets") + ")"
	case mode == "" || mode == "normal":
		return sharesText(shares)
	}
	return sharesText(shares) + " (" + mode + ")"
}

func sharesText(shares map[string]float64) string {
	var parts []string
	for _, cl := range slices.Sorted(maps.Keys(shares)) {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", cl, 100*shares[cl]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (c *ctl) explain(q url.Values) error {
	var e struct {
		Site, Mode, Summary, Note string
		Located                   bool
		Targets                   []struct {
			Cluster, Address, Status string
			Priority                 int
			Weight                   uint32
			Share                    float64
			Reasons                  []string
		}
	}
	if err := c.call("GET", "/api/v1/explain?"+q.Encode(), nil, &e); err != nil || c.json {
		return err
	}
	who, where := q.Get("client"), "location unknown"
	switch {
	case who == "":
		who = "xDS nodes in " + strings.TrimSuffix(q.Get("region")+"/"+q.Get("zone"), "/")
		if e.Site != "" {
			where = "locality of " + e.Site
		}
	case e.Located && e.Site != "":
		where = "nearest " + e.Site
	case e.Located:
		where = "placed by the operator's geography, not by distance"
	}
	fmt.Fprintf(c.out, "%s for %s (%s): %s\n\n", printable(q.Get("name")), printable(who), printable(where), printable(e.Summary))
	if e.Note != "" {
		fmt.Fprintf(c.out, "note: %s\n\n", printable(e.Note))
	}
	var rows [][]string
	for _, t := range e.Targets {
		prio := "-"
		if t.Priority >= 0 {
			prio = strconv.Itoa(t.Priority)
		}
		rows = append(rows, []string{t.Cluster, t.Address, prio, strconv.FormatUint(uint64(t.Weight), 10),
			fmt.Sprintf("%.1f%%", 100*t.Share), t.Status, strings.Join(t.Reasons, "; ")})
	}
	c.table("CLUSTER\tADDRESS\tPRIORITY\tWEIGHT\tSHARE\tSTATUS\tWHY", rows)
	return nil
}

func (c *ctl) write(method, id string, body *api.OverrideRequest, dryRun bool) error {
	path := "/api/v1/overrides/" + url.PathEscape(id)
	if dryRun {
		path += "?dry_run=true"
	}
	var res struct {
		DryRun   bool `json:"dry_run"`
		Override *api.Override
		Changes  []struct {
			Service, Site, Cluster string
			Before, After          float64
		}
	}
	var b any
	if body != nil {
		b = body
	}
	if err := c.call(method, path, b, &res); err != nil || c.json {
		return err
	}
	switch {
	case dryRun:
		fmt.Fprintf(c.out, "dry run: %s %s would change %d shares\n", method, id, len(res.Changes))
		var rows [][]string
		for _, ch := range res.Changes {
			rows = append(rows, []string{ch.Service, ch.Site, ch.Cluster, fmt.Sprintf("%.1f%%", 100*ch.Before), fmt.Sprintf("%.1f%%", 100*ch.After)})
		}
		if len(rows) > 0 {
			c.table("SERVICE\tCLIENTS NEAR\tCLUSTER\tBEFORE\tAFTER", rows)
		}
	case method == "DELETE":
		fmt.Fprintf(c.out, "removed override %s\n", printable(id))
	default:
		fmt.Fprintf(c.out, "override %s: %s\n", printable(id), printable(overrideText(*res.Override)))
	}
	return nil
}

func overrideText(o api.Override) string {
	s := o.Kind
	if o.Service != "" {
		s += " service " + o.Service
	}
	if o.Cluster != "" {
		s += " cluster " + o.Cluster
	}
	if o.Address != "" {
		s += " address " + o.Address
	}
	if o.Weight != nil {
		s += fmt.Sprintf(" weight %d", *o.Weight)
	}
	s += fmt.Sprintf(" (%s, by %s", o.Reason, o.Author)
	if o.Expires != nil {
		s += ", until " + o.Expires.Format(time.RFC3339)
	}
	return s + ")"
}

func (c *ctl) overrides() error {
	var list []api.Override
	if err := c.call("GET", "/api/v1/overrides", nil, &list); err != nil || c.json {
		return err
	}
	var rows [][]string
	for _, o := range list {
		expires := "never"
		if o.Expires != nil {
			expires = o.Expires.Format(time.RFC3339)
		}
		target := strings.TrimSpace(strings.Join([]string{o.Service, o.Cluster, o.Address}, " "))
		weight := ""
		if o.Weight != nil {
			weight = strconv.FormatUint(uint64(*o.Weight), 10)
		}
		rows = append(rows, []string{o.ID, o.Kind, target, weight, o.Reason, o.Author, expires})
	}
	c.table("ID\tKIND\tTARGET\tWEIGHT\tREASON\tAUTHOR\tEXPIRES", rows)
	return nil
}

func (c *ctl) audit() error {
	var recs []api.AuditRecord
	if err := c.call("GET", "/api/v1/audit", nil, &recs); err != nil || c.json {
		return err
	}
	var rows [][]string
	for _, r := range recs {
		what := "removed"
		if r.After != nil {
			what = overrideText(*r.After)
		}
		rows = append(rows, []string{r.Time.Format(time.RFC3339), r.Identity, r.Action, r.ID, what})
	}
	c.table("TIME\tWHO\tACTION\tID\tNOW", rows)
	return nil
}

// keygen writes a new key of a zone into a directory, for a zone's keys
// directory or for a rollover (docs/configuration.md, DNSSEC).
func (c *ctl) keygen(fs *flag.FlagSet, args []string) error {
	algorithm := fs.String("algorithm", "ecdsap256sha256", "")
	zsk := fs.Bool("zsk", false, "")
	publish := fs.String("publish", "", "")
	activate := fs.String("activate", "", "")
	pos, err := c.parseArgs(fs, args, 2)
	if err != nil {
		return err
	}
	alg := map[string]uint8{"ecdsap256sha256": 13, "13": 13, "ed25519": 15, "15": 15}[strings.ToLower(*algorithm)]
	if alg == 0 {
		return usageErr("dnssec keygen: -algorithm %q: expected ecdsap256sha256 or ed25519", *algorithm)
	}
	times := []time.Time{time.Now(), time.Now()}
	for i, v := range []string{*publish, *activate} {
		if v == "" {
			continue
		}
		if times[i], err = time.Parse(time.RFC3339, v); err != nil {
			return usageErr("dnssec keygen: %q is not a time such as 2026-12-24T10:00:00Z", v)
		}
	}
	base, err := dns.WriteNewKey(pos[0], alg, *zsk, times[0], times[1], pos[1])
	if err != nil {
		return err
	}
	fmt.Fprintln(c.out, base)
	return nil
}

// dnssec prints the DS records of a signed zone, one per line as a
// registrar or parent zone file takes them, or its keys.
func (c *ctl) dnssec(what, zone string) error {
	var res struct {
		Keys []api.DNSSECKey
		DS   []string
	}
	if err := c.call("GET", "/api/v1/dnssec/"+url.PathEscape(zone), nil, &res); err != nil || c.json {
		return err
	}
	if what == "ds" {
		for _, ds := range res.DS {
			fmt.Fprintln(c.out, printable(ds))
		}
		return nil
	}
	var rows [][]string
	for _, k := range res.Keys {
		rows = append(rows, []string{strconv.Itoa(int(k.Tag)), k.Role, strconv.Itoa(int(k.Algorithm)), strconv.Itoa(int(k.Flags)), printable(k.DNSKEY)})
	}
	c.table("TAG\tROLE\tALGORITHM\tFLAGS\tDNSKEY", rows)
	return nil
}

func (c *ctl) replicas() error {
	var rs struct {
		Replica, Quorum string
		Replicas        []struct {
			Name               string
			Self, Live         bool
			Heartbeat, Expires *time.Time
			ReportAt           *time.Time `json:"report_at"`
			Down, Unknown      int
			Conflict           string
			StoreUnreachable   *time.Time `json:"store_unreachable_since"`
		}
		Disagreements []struct {
			Service, Cluster, Address, Decision string
			DecisionReason                      string `json:"decision_reason"`
			Verdicts                            []struct{ Replica, State, Reason string }
		}
	}
	if err := c.call("GET", "/api/v1/replicas", nil, &rs); err != nil || c.json {
		return err
	}
	stamp := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Format(time.RFC3339)
	}
	quorum := "health not shared"
	if rs.Quorum != "" {
		quorum = "health quorum " + rs.Quorum
	}
	fmt.Fprintf(c.out, "replica %s, %s\n\n", printable(rs.Replica), quorum)
	var rows [][]string
	for _, r := range rs.Replicas {
		name, state := r.Name, "live"
		if r.Self {
			name += " (self)"
		}
		if !r.Live {
			state = "expired " + stamp(r.Expires)
		}
		rows = append(rows, []string{name, state, stamp(r.Heartbeat), stamp(r.ReportAt), strconv.Itoa(r.Down), strconv.Itoa(r.Unknown)})
	}
	c.table("REPLICA\tSTATE\tHEARTBEAT\tREPORT\tDOWN\tUNKNOWN", rows)
	for _, r := range rs.Replicas {
		if r.Conflict != "" {
			fmt.Fprintf(c.out, "\nanother Meridian process shares replica name %s (incarnation %s): give each replica its own `replica` name\n", printable(r.Name), printable(r.Conflict))
		}
		if r.StoreUnreachable != nil {
			fmt.Fprintf(c.out, "\n%s cannot reach the health store since %s: it keeps the other replicas' last reports\n", printable(r.Name), stamp(r.StoreUnreachable))
		}
	}
	if len(rs.Disagreements) == 0 {
		fmt.Fprintln(c.out, "\nno disagreements: every live replica sees every target the same")
		return nil
	}
	fmt.Fprintln(c.out)
	rows = nil
	for _, d := range rs.Disagreements {
		var verdicts []string
		for _, v := range d.Verdicts {
			s := v.Replica + " " + v.State
			if v.Reason != "" {
				s += " (" + v.Reason + ")"
			}
			verdicts = append(verdicts, s)
		}
		decision := d.Decision
		if d.DecisionReason != "" {
			decision += " (" + d.DecisionReason + ")"
		}
		rows = append(rows, []string{d.Service, d.Cluster, d.Address, strings.Join(verdicts, ", "), decision})
	}
	c.table("SERVICE\tCLUSTER\tADDRESS\tVERDICTS\tDECISION", rows)
	return nil
}
