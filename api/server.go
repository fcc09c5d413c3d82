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

	"github.com/meridian-gtm/meridian/internal/acceptretry"
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
	// Limits bound what clients may hold; zero fields take the defaults.
	Limits Limits
	// Metrics, when set, registers meridian_http_accept_errors_total.
	Metrics prometheus.Registerer
}

// Limits bound what HTTP clients can make the server hold, so that idle
// or slow clients cannot keep connections open. No endpoint streams, so
// the write timeout applies to every one.
type Limits struct {
	// ReadTimeout bounds reading a whole request, headers and body.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its response.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (with its request line).
	MaxHeaderBytes int
	// MaxConnections caps the open connections per listen address; beyond
	// it, a new connection takes the place of the one waiting longest for
	// a request, and is refused only when all are serving one (connCap).
	MaxConnections int
}

// Defaults of Limits.
const (
	DefaultReadTimeout    = 10 * time.Second
	DefaultWriteTimeout   = 30 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxConnections = 1024
)

// readHeaderTimeout bounds reading a request's headers, when the read
// timeout is longer.
const readHeaderTimeout = 5 * time.Second

func (l Limits) withDefaults() Limits {
	or := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	or(&l.ReadTimeout, DefaultReadTimeout)
	or(&l.WriteTimeout, DefaultWriteTimeout)
	or(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	return l
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
	lim := cfg.Limits.withDefaults()
	s := &Server{
		srv: &http.Server{
			Handler:           Handler(cfg),
			ReadHeaderTimeout: min(readHeaderTimeout, lim.ReadTimeout),
			ReadTimeout:       lim.ReadTimeout,
			WriteTimeout:      lim.WriteTimeout,
			IdleTimeout:       lim.IdleTimeout,
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		},
		done: make(chan error, len(cfg.Addrs)),
	}
	acceptErrors := prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_http_accept_errors_total",
		Help: "Failed accepts on the HTTP listeners (out of file descriptors or buffers), each waited out and retried."})
	conns := newConnCap(lim.MaxConnections, len(cfg.Addrs))
	s.srv.ConnState = conns.connState
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{acceptErrors, conns.evicted, conns.refused} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("http: %w", err)
			}
		}
	}
	for _, addr := range cfg.Addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range s.listeners {
				l.Close()
			}
			return nil, fmt.Errorf("http: listen on %s: %w", addr, err)
		}
		// net/http stops serving on an accept error that is not temporary,
		// such as ENOBUFS: acceptretry waits those out.
		ln = acceptretry.Wrap(ln, cfg.Logger.With("listener", "http"), acceptErrors.Inc)
		if cfg.TLS != nil {
			ln = tls.NewListener(ln, cfg.TLS)
		}
		ln = conns.listener(ln, len(s.listeners))
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
