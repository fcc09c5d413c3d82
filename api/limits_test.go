package api

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// listenLimited serves the probes on loopback with limits and returns the
// address.
func listenLimited(t *testing.T, l Limits) string {
	t.Helper()
	s, err := Listen(Config{
		Addrs: []string{"127.0.0.1:0"}, Gatherer: prometheus.NewRegistry(), Ready: func() error { return nil },
		Logger: slog.New(slog.DiscardHandler), Limits: l,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s.listeners[0].Addr().String()
}

// get sends GET path on conn and reads the response.
func get(t *testing.T, conn net.Conn, r *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: meridian\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedByServer waits, with a generous deadline, for the server to close
// conn, reading whatever it sends first, and reports whether it did.
func closedByServer(conn net.Conn, r *bufio.Reader) bool {
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.Copy(io.Discard, r)
	return !errors.Is(err, os.ErrDeadlineExceeded)
}

// TestIdleClientsAreDisconnected checks that a client that keeps its
// connection open after a response, or opens one and sends half a
// request, is disconnected by the idle and read timeouts.
func TestIdleClientsAreDisconnected(t *testing.T) {
	addr := listenLimited(t, Limits{ReadTimeout: 200 * time.Millisecond, IdleTimeout: 200 * time.Millisecond})

	t.Run("kept alive after a response", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		if resp := get(t, conn, r, "/healthz"); resp.StatusCode != 200 || resp.Close {
			t.Fatalf("GET /healthz: %s, close %v", resp.Status, resp.Close)
		}
		if !closedByServer(conn, r) {
			t.Error("an idle kept-alive connection is still open")
		}
	})
	t.Run("half a request", func(t *testing.T) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "PUT /healthz HTTP/1.1\r\nHost: meridian\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
			t.Fatal(err)
		}
		// The server may answer first (405, the body unread); then it must
		// still close the connection.
		r := bufio.NewReader(conn)
		if !closedByServer(conn, r) {
			t.Error("a connection with half a request body is still open")
		}
	})
}

// TestHTTPConnectionCap fills the cap with connections that send nothing,
// as a slowloris flood does: a new client still gets its answer, in the
// place of the connection that waited longest; the others stay. With every
// connection serving a request, a new one is refused.
func TestHTTPConnectionCap(t *testing.T) {
	release := make(chan struct{})
	var busy atomic.Bool
	var serving atomic.Int32
	s, err := Listen(Config{
		Addrs: []string{"127.0.0.1:0"}, Gatherer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler),
		Limits: Limits{MaxConnections: 3, IdleTimeout: time.Minute, ReadTimeout: time.Minute},
		Ready: func() error {
			if busy.Load() {
				serving.Add(1)
				<-release // /readyz holds its connection busy
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	}()
	addr := s.listeners[0].Addr().String()
	dial := func() net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var silent []net.Conn
	for range 3 {
		silent = append(silent, dial())
		time.Sleep(20 * time.Millisecond) // each waits longer than the next
	}
	fresh := dial()
	fresh.SetDeadline(time.Now().Add(30 * time.Second))
	if resp := get(t, fresh, bufio.NewReader(fresh), "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("a new client with the cap full of silent connections: %s", resp.Status)
	}
	if !closedByServer(silent[0], bufio.NewReader(silent[0])) {
		t.Error("the connection that waited longest was not closed to make room")
	}
	for i, c := range silent[1:] {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("silent connection %d was closed too (%v): only the one waiting longest makes room", i+1, err)
		}
	}

	// Every place serving a request: a new connection is refused.
	busy.Store(true)
	var held []net.Conn
	for range 3 {
		c := dial()
		if _, err := io.WriteString(c, "GET /readyz HTTP/1.1\r\nHost: meridian\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	for deadline := time.Now().Add(30 * time.Second); serving.Load() < 3; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 requests reached the handler in 30 s", serving.Load())
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		extra := dial()
		if closedByServer(extra, bufio.NewReader(extra)) {
			break // refused: all three are busy
		}
		if time.Now().After(deadline) {
			t.Fatal("a connection beyond a cap of busy ones was not refused")
		}
	}
	close(release)
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("a busy request was not answered: %v %v", resp, err)
		}
	}
}

// TestHTTPHeaderCap sends headers beyond the default cap and expects 431.
func TestHTTPHeaderCap(t *testing.T) {
	addr := listenLimited(t, Limits{})
	req, err := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Big", strings.Repeat("a", 2*DefaultMaxHeaderBytes))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers of %d bytes: %s, want 431", 2*DefaultMaxHeaderBytes, resp.Status)
	}
}
