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

// TestHTTPConnectionCap fills the connection cap with kept-alive
// connections and checks that one more is not served until one of them
// closes.
func TestHTTPConnectionCap(t *testing.T) {
	addr := listenLimited(t, Limits{MaxConnections: 2, IdleTimeout: time.Minute})
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if resp := get(t, conn, bufio.NewReader(conn), "/healthz"); resp.StatusCode != 200 {
			t.Fatalf("GET /healthz: %s", resp.Status)
		}
		held = append(held, conn)
	}
	extra, err := net.Dial("tcp", addr) // the kernel completes the handshake
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if _, err := io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: meridian\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(extra)
	// Not a timing assertion: however slow the machine, a capped server
	// cannot answer while the cap is full.
	extra.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r.Peek(1); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection beyond the cap was answered (%v)", err)
	}
	held[0].Close()
	extra.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatalf("once a connection closed, the waiting one was not served: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /healthz: %s", resp.Status)
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
