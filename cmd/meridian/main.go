// Command meridian is Meridian's single binary: the traffic manager itself
// (serve) and, as they arrive, the operator's tools.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// version and commit are set at build time (make build, make image, the
// Dockerfile) with -ldflags "-X main.version=v1.2.3 -X main.commit=SHA";
// when they are not, the module version and the VCS revision that Go
// records in the build info are used.
var version, commit = "", ""

const usage = `Meridian: a global traffic manager for applications in many Kubernetes clusters.

Usage:
  meridian serve -config FILE [-log-format text|json] [-log-level debug|info|warn|error] [-pprof ADDR]
  meridian ctl [-server URL] [-token TOKEN] [-o table|json] COMMAND [ARGS]   (meridian ctl help)
  meridian version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command and returns the process exit code: 0 on
// success, 1 when serving failed, 2 for usage and configuration errors.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "meridian %s\ncommit %s\ngo %s %s/%s\n", buildVersion(), buildCommit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "serve":
		return serveCommand(args[1:], stdout, stderr)
	case "ctl":
		return ctlCommand(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "meridian: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serveCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "configuration `FILE`")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	pprofAddr := fs.String("pprof", "", "serve Go's profiles (net/http/pprof) on `ADDR`, such as 127.0.0.1:6060; unauthenticated, off when empty")
	if err := fs.Parse(args); err != nil {
		w := stderr
		if errors.Is(err, flag.ErrHelp) {
			w = stdout
		} else {
			fmt.Fprintf(stderr, "meridian serve: %v\n", err)
		}
		fmt.Fprintln(w, "Usage: meridian serve -config FILE [-log-format text|json] [-log-level debug|info|warn|error] [-pprof ADDR]")
		fs.SetOutput(w)
		fs.PrintDefaults()
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *configPath == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "meridian serve: -config FILE is required and takes no other arguments")
		return 2
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(stderr, "meridian serve:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *configPath, *pprofAddr, logger); err != nil {
		var cfgErr configError
		if errors.As(err, &cfgErr) {
			fmt.Fprintln(stderr, err)
			return 2
		}
		logger.Error("serve failed", "err", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("-log-format %q: want text or json", format)
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	rev := vcsRevision()
	if rev == "" {
		return "devel"
	}
	if r, dirty := strings.CutSuffix(rev, "-dirty"); len(r) > 12 {
		rev = r[:12]
		if dirty {
			rev += "-dirty"
		}
	}
	return "devel-" + rev
}

// buildCommit is the commit the binary was built from: the one the build
// stamped, else the VCS revision Go recorded ("-dirty" when the tree had
// changes), else "unknown".
func buildCommit() string {
	if commit != "" {
		return commit
	}
	return cmp.Or(vcsRevision(), "unknown")
}

// vcsRevision is the VCS revision Go recorded in the binary, with
// "-dirty" when the tree had changes; empty when it recorded none.
func vcsRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" && dirty {
		rev += "-dirty"
	}
	return rev
}
