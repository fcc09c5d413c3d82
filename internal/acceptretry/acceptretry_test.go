package acceptretry

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/meridian-gtm/meridian/internal/testlog"
)

// failing is a listener whose next accepts fail with the queued errors.
type failing struct {
	net.Listener
	mu   sync.Mutex
	errs []error
}

func (f *failing) Accept() (net.Conn, error) {
	f.mu.Lock()
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		f.mu.Unlock()
		return nil, err
	}
	f.mu.Unlock()
	return f.Listener.Accept()
}

func accepting(t *testing.T, errs ...error) *failing {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &failing{Listener: ln, errs: errs}
}

func sysErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// TestHTTPServesThroughAcceptErrors runs net/http on a listener that fails
// with ENOBUFS and ENOMEM first, which net/http alone treats as lasting:
// Serve would return and the server stop. Wrapped, it serves.
func TestHTTPServesThroughAcceptErrors(t *testing.T) {
	inner := accepting(t, sysErr(syscall.ENOBUFS), sysErr(syscall.ENOMEM), sysErr(syscall.EMFILE), sysErr(syscall.ECONNABORTED))
	var logs testlog.Buffer
	var failures atomic.Int64
	ln := Wrap(inner, slog.New(slog.NewTextHandler(&logs, nil)), func() { failures.Add(1) })
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatalf("GET after accept errors: %v", err)
	}
	resp.Body.Close()
	if got := failures.Load(); got != 4 {
		t.Errorf("%d failures counted, want 4", got)
	}
	text := logs.String()
	// One line for the run of failures (rate-limited), one on recovery.
	if n := strings.Count(text, "accept failed; retrying"); n != 1 {
		t.Errorf("%d failure lines logged, want 1:\n%s", n, text)
	}
	if !strings.Contains(text, "no buffer space") || !strings.Contains(text, "accept works again") {
		t.Errorf("log lacks the cause or the recovery:\n%s", text)
	}
	srv.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
}

// TestCloseEndsTheBackOff: a listener closed while it waits between
// retries returns at once with net.ErrClosed.
func TestCloseEndsTheBackOff(t *testing.T) {
	errs := make([]error, 100)
	for i := range errs {
		errs[i] = sysErr(syscall.EMFILE)
	}
	ln := Wrap(accepting(t, errs...), nil, nil)
	done := make(chan error, 1)
	go func() {
		_, err := ln.Accept()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // into the back-off
	ln.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close = %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still waiting 10 s after Close")
	}
}

// TestLastingErrorsReturn: a socket that cannot listen is not retried.
func TestLastingErrorsReturn(t *testing.T) {
	ln := Wrap(accepting(t, sysErr(syscall.EINVAL)), nil, nil)
	if _, err := ln.Accept(); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("Accept = %v, want EINVAL returned", err)
	}
}
