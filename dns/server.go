package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	mdns "github.com/miekg/dns"
)

// Server serves a handler over UDP and TCP on every listen address.
type Server struct {
	servers []*mdns.Server
	done    chan error
}

// tcpIdleTimeout closes TCP connections that stay quiet this long.
const tcpIdleTimeout = 10 * time.Second

// Listen binds UDP and TCP on each address and starts serving h. Port 0
// picks a free port, the same one for UDP and TCP. It returns once every
// socket is bound, or the first error.
func Listen(addrs []string, h mdns.Handler, logger *slog.Logger) (*Server, error) {
	s := &Server{done: make(chan error, 2*len(addrs))}
	for _, addr := range addrs {
		pc, ln, err := bindPair(addr)
		if err != nil {
			s.Shutdown(context.Background())
			return nil, fmt.Errorf("dns: listen on %s: %w", addr, err)
		}
		for _, srv := range []*mdns.Server{
			{PacketConn: pc, Handler: h, UDPSize: udpPayload},
			{Listener: ln, Handler: h, IdleTimeout: func() time.Duration { return tcpIdleTimeout }},
		} {
			s.servers = append(s.servers, srv)
			go func() {
				if err := srv.ActivateAndServe(); err != nil {
					s.done <- err
				}
			}()
		}
		logger.Info("dns listening", "udp", pc.LocalAddr().String(), "tcp", ln.Addr().String())
	}
	return s, nil
}

// bindPair binds UDP and TCP sockets on the same address and port. With port
// 0 the kernel picks the UDP port, and TCP takes the same one; if another
// program holds that TCP port, it tries again.
func bindPair(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		tcpAddr := addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := net.Listen("tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || attempt == 10 {
			return nil, nil, err
		}
	}
}

// Failed delivers an error if a listener stops serving before Shutdown.
func (s *Server) Failed() <-chan error { return s.done }

// Addrs returns the bound addresses: UDP and TCP for each listen address.
func (s *Server) Addrs() []net.Addr {
	var out []net.Addr
	for _, srv := range s.servers {
		if srv.PacketConn != nil {
			out = append(out, srv.PacketConn.LocalAddr())
		} else {
			out = append(out, srv.Listener.Addr())
		}
	}
	return out
}

// Shutdown stops accepting queries and waits, until ctx ends, for the
// queries in flight to be answered.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.ShutdownContext(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
