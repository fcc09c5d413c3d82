package main

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer serves Go's profiles (CPU, heap, goroutines, mutexes,
// execution traces) on an address of its own, given by `serve -pprof`,
// so that a replica can be profiled under load: the answer to "where does
// the time go" for the DNS readers or the xDS pushes. Off by default; it
// is never served on the API's addresses, which face operators and
// tokens, and it has no authentication: bind it to loopback, or to an
// address only the operator's network reaches.
type pprofServer struct {
	srv    *http.Server
	failed chan error
}

func listenPprof(addr string, logger *slog.Logger) (*pprofServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // and every named profile under it
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p := &pprofServer{
		srv:    &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		failed: make(chan error, 1),
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		logger.Warn("pprof is served beyond loopback, without authentication", "addr", ln.Addr().String())
	}
	logger.Info("pprof listening", "addr", ln.Addr().String())
	go func() {
		if err := p.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			p.failed <- err
		}
	}()
	return p, nil
}
