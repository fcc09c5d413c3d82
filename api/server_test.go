package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/meridian-gtm/meridian/internal/testcert"
)

func TestProbesAndMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "meridian_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var ready error = errors.New("no plan published yet")
	srv := httptest.NewServer(Handler(Config{Gatherer: reg, Ready: func() error { return ready }}))
	defer srv.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "no plan published yet") {
		t.Errorf("/readyz before ready = %d %q", code, body)
	}
	ready = nil
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d", code)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "meridian_test_total 3") {
		t.Errorf("/metrics = %d %q", code, body)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Errorf("/nope = %d, want 404", code)
	}
}

// TestHTTPSWithClientCertificates serves the API over TLS asking for
// client certificates: a client with a trusted one is served, one without
// is refused during the handshake.
func TestHTTPSWithClientCertificates(t *testing.T) {
	serverCert := testcert.New(t, "127.0.0.1")
	clientCert := testcert.New(t, "ops.example.org")
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(clientCert.X509)
	s, err := Listen(Config{
		Addrs: []string{"127.0.0.1:0"}, Gatherer: prometheus.NewRegistry(), Ready: func() error { return nil },
		Logger: slog.New(slog.DiscardHandler),
		TLS:    &tls.Config{Certificates: []tls.Certificate{serverCert.TLS}, ClientCAs: clientCAs, ClientAuth: tls.RequireAndVerifyClientCert},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	url := "https://" + s.listeners[0].Addr().String() + "/healthz"
	roots := x509.NewCertPool()
	roots.AddCert(serverCert.X509)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	resp, err := client(clientCert.TLS).Get(url)
	if err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with a client certificate: %s", resp.Status)
	}
	if resp, err := client().Get(url); err == nil {
		resp.Body.Close()
		t.Errorf("without a client certificate: %s, want a refused handshake", resp.Status)
	}
}
