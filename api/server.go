package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves the HTTP endpoints on every listen address.
type Server struct {
	srv       *http.Server
	listeners []net.Listener
	done      chan error
}

// Config is what the HTTP server needs from the rest of the process.
type Config struct {
	Addrs    []string
	Gatherer prometheus.Gatherer
	// Ready reports whether the process can serve traffic, and if not, why.
	Ready  func() error
	Logger *slog.Logger
	// V1, when set, serves /api/v1; nil: the API is off.
	V1 *V1Config
	// TLS, when set, serves HTTPS (with client certificates if it asks).
	TLS *tls.Config
}

// Handler returns the HTTP routes.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := cfg.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	if cfg.V1 != nil {
		v := &v1{cfg: *cfg.V1}
		if v.cfg.Now == nil {
			v.cfg.Now = time.Now
		}
		if v.cfg.Logger == nil {
			v.cfg.Logger = cfg.Logger
		}
		if v.cfg.Logger == nil {
			v.cfg.Logger = slog.Default()
		}
		v.routes(mux)
	} else {
		mux.HandleFunc("/api/v1/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "the API is off: give the meridian block api_tokens FILE", "")
		})
	}
	return mux
}

// Listen binds every address and starts serving. It returns once all are
// bound, or the first error.
func Listen(cfg Config) (*Server, error) {
	s := &Server{
		srv: &http.Server{
			Handler:           Handler(cfg),
			ReadHeaderTimeout: 5 * time.Second,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		},
		done: make(chan error, len(cfg.Addrs)),
	}
	for _, addr := range cfg.Addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range s.listeners {
				l.Close()
			}
			return nil, fmt.Errorf("http: listen on %s: %w", addr, err)
		}
		if cfg.TLS != nil {
			ln = tls.NewListener(ln, cfg.TLS)
		}
		s.listeners = append(s.listeners, ln)
		cfg.Logger.Info("http listening", "addr", ln.Addr().String(), "tls", cfg.TLS != nil)
	}
	for _, ln := range s.listeners {
		go func() {
			if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				s.done <- err
			}
		}()
	}
	return s, nil
}

// Failed delivers an error if a listener stops serving before Shutdown.
func (s *Server) Failed() <-chan error { return s.done }

// Shutdown stops accepting connections and waits, until ctx ends, for the
// requests in flight to finish.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }
