package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// prober probes the addresses of one service as its health block says.
// It does the I/O; what a result means over time is the state machine's.
type prober struct {
	check Check
	tls   *tls.Config // for https and TLS gRPC
	// dialer4 and dialer6 dial IPv4 and IPv6 targets, from the source
	// address of their family when one is given.
	dialer4, dialer6 *net.Dialer
	// request is the HTTP request every probe sends, written once.
	request []byte
	// source is where probes are sent from, for the connector.
	source Source
	// timeoutReason is the reason of a probe that timed out, written once.
	timeoutReason string
}

// maxBody bounds what a probe reads of a response body.
const maxBody = 64 << 10

func newProber(check Check, src Source) (*prober, error) {
	p := &prober{check: check, dialer4: src.dialer(src.IPv4), dialer6: src.dialer(src.IPv6), source: src,
		timeoutReason: fmt.Sprintf("timeout after %v", check.Timeout)}
	if check.Kind == "https" || check.Kind == "grpc" && (check.CA != "" || check.ClientCert != "") {
		p.tls = &tls.Config{ServerName: check.Host, InsecureSkipVerify: check.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
		if check.CA != "" {
			pem, err := os.ReadFile(check.CA)
			if err != nil {
				return nil, fmt.Errorf("health: %s: ca: %w", check.Pos, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("health: %s: ca: no certificate in %s", check.Pos, check.CA)
			}
			p.tls.RootCAs = pool
		}
		if check.ClientCert != "" {
			cert, err := tls.LoadX509KeyPair(check.ClientCert, check.ClientKey)
			if err != nil {
				return nil, fmt.Errorf("health: %s: client_cert: %w", check.Pos, err)
			}
			p.tls.Certificates = []tls.Certificate{cert}
		}
	}
	if check.Kind == "http" || check.Kind == "https" {
		p.request = fmt.Appendf(nil, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: meridian-health\r\nConnection: close\r\n\r\n",
			check.Method, check.Path, check.Host)
	}
	return p, nil
}

// outcome is how a probe ended.
type outcome uint8

const (
	passed outcome = iota
	failed
	timedOut
)

func (o outcome) String() string {
	switch o {
	case passed:
		return "ok"
	case timedOut:
		return "timeout"
	default:
		return "fail"
	}
}

// probe checks one address; the reason says what was seen, for humans.
func (p *prober) probe(ctx context.Context, addr netip.Addr) (outcome, string) {
	ctx, cancel := context.WithTimeout(ctx, p.check.Timeout)
	defer cancel()
	target := net.JoinHostPort(addr.String(), strconv.Itoa(int(p.check.Port)))
	d := p.dialer6
	if addr.Unmap().Is4() {
		d = p.dialer4
	}
	var err error
	var reason string
	switch p.check.Kind {
	case "http", "https":
		reason, err = p.probeHTTP(ctx, d, target)
	case "tcp":
		var c net.Conn
		if c, err = dial(ctx, d, target); err == nil {
			c.Close()
			reason = "connected"
		}
	case "grpc":
		reason, err = p.probeGRPC(ctx, d, target)
	default:
		return passed, "not probed"
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return timedOut, p.timeoutReason
		}
		return failed, probeError(err)
	}
	return passed, reason
}

// probeError says why a probe failed without the addresses a network
// error names ("dial tcp 10.0.0.9:41234->10.1.0.1:80: connect: connection
// refused" becomes "connect: connection refused"): the target is known,
// and the source port would make every target's reason different, which
// logs, the API and the reports the replicas share all pay for.
func probeError(err error) string {
	msg := err.Error()
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		msg = strings.Replace(msg, op.Error(), op.Err.Error(), 1)
	}
	return msg
}

// Source is where probes are sent from: at most one local address per
// family (an invalid Addr: none). A probe of a target dials from the
// source of the target's family; without one the kernel picks, as for
// any connection.
type Source struct {
	IPv4, IPv6 netip.Addr
}

// dialer returns a dialer bound to src (any port), or a plain one when
// src is not set. Its connections have no TCP keep-alive: a probe's
// connection lives for one exchange, and the four socket options a
// keep-alive takes were a tenth of a TCP probe's system calls.
func (Source) dialer(src netip.Addr) *net.Dialer {
	if !src.IsValid() {
		return &net.Dialer{KeepAlive: -1}
	}
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, KeepAlive: -1}
}

// CheckSource reports whether a probe can be sent from addr: whether a
// socket binds to it, which fails when addr is not an address of this
// host.
func CheckSource(addr netip.Addr) error {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: addr.AsSlice()})
	if err != nil {
		return err
	}
	return ln.Close()
}

// dial connects to target with d. Closing the connection resets it
// (SO_LINGER 0), as HAProxy's checks do, so that thousands of probes a
// second leave no sockets waiting in TIME_WAIT.
func dial(ctx context.Context, d *net.Dialer, target string) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	c.(*net.TCPConn).SetLinger(0)
	return c, nil
}

// probeHTTP sends one request on a connection of its own, as a new client
// would: a kept-alive connection would hide a changed certificate or a path
// that no longer accepts connections. A plain HTTP/1.1 exchange costs a
// fraction of net/http's client, which matters at thousands of probes a
// second.
func (p *prober) probeHTTP(ctx context.Context, d *net.Dialer, target string) (string, error) {
	conn, err := dial(ctx, d, target)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if p.tls != nil {
		tc := tls.Client(conn, p.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return "", err
		}
		conn = tc
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(p.request); err != nil {
		return "", err
	}
	br := readers.Get().(*bufio.Reader)
	br.Reset(conn)
	defer func() { br.Reset(nil); readers.Put(br) }() // after the body is read and closed
	resp, err := http.ReadResponse(br, &http.Request{Method: p.check.Method})
	if err != nil {
		return "", fmt.Errorf("reading the response: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return "", fmt.Errorf("reading the body: %w", err)
	}
	accepted := false
	for _, r := range p.check.Expect {
		accepted = accepted || resp.StatusCode >= r.Low && resp.StatusCode <= r.High
	}
	if !accepted {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if p.check.Body != "" && !bytes.Contains(body, []byte(p.check.Body)) {
		return "", fmt.Errorf("status %d, body lacks %q", resp.StatusCode, p.check.Body)
	}
	return "status " + strconv.Itoa(resp.StatusCode), nil
}

// readers keeps the buffered readers of HTTP probes: a new one for each
// probe was 4 KiB of its 11.
var readers = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// probeGRPC asks the gRPC health service on a connection of its own,
// dialed by d.
func (p *prober) probeGRPC(ctx context.Context, d *net.Dialer, target string) (string, error) {
	creds := insecure.NewCredentials()
	if p.tls != nil {
		creds = credentials.NewTLS(p.tls)
	}
	conn, err := grpc.NewClient("passthrough:///"+target, grpc.WithTransportCredentials(creds), grpc.WithAuthority(p.check.Host),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: p.check.GRPCService})
	if err != nil {
		return "", err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return "", fmt.Errorf("grpc health: %s", resp.GetStatus())
	}
	return "grpc health: SERVING", nil
}
