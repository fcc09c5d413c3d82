// Package acceptretry keeps a server accepting connections through errors
// that pass: running out of file descriptors (EMFILE, ENFILE) or of kernel
// memory (ENOBUFS, ENOMEM), or a client that aborts its handshake.
//
// net/http and grpc-go retry only the accept errors that call themselves
// temporary and stop serving on any other, and Go reports ENOBUFS and
// ENOMEM as lasting: one burst of them would stop a listener for good, and
// with it the process. A Listener retries every error but a closed or
// broken socket, waiting 5 ms, doubling up to 1 s (net/http's back-off),
// counts each failure and logs at most one line per interval.
package acceptretry

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"
)

// Back-off after a failed accept, and how often a run of failures is
// logged.
const (
	delayMin = 5 * time.Millisecond
	delayMax = time.Second
	logEvery = 10 * time.Second
)

// Listener is a net.Listener whose Accept waits out passing errors.
type Listener struct {
	net.Listener
	logger  *slog.Logger
	failed  func() // called once per failed accept, for a metric
	stop    chan struct{}
	closing sync.Once

	mu         sync.Mutex
	failures   int // since the last log line
	lastLogged time.Time
}

// Wrap returns ln retrying its accept errors. Each failure calls failed
// (which may be nil) and is logged to logger, rate-limited, with the
// listener's address.
func Wrap(ln net.Listener, logger *slog.Logger, failed func()) *Listener {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if failed == nil {
		failed = func() {}
	}
	return &Listener{Listener: ln, logger: logger, failed: failed, stop: make(chan struct{})}
}

// Accept returns the next connection. It returns an error only when the
// listener is closed or its socket can no longer listen.
func (l *Listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if delay > 0 {
				l.recovered()
			}
			return c, nil
		}
		if lasting(err) {
			return nil, err
		}
		select {
		case <-l.stop:
			return nil, err
		default:
		}
		l.failed()
		delay = min(max(2*delay, delayMin), delayMax)
		l.note(err, delay)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-l.stop:
			t.Stop()
			return nil, net.ErrClosed
		}
	}
}

// Close closes the listener and ends a wait between retries.
func (l *Listener) Close() error {
	l.closing.Do(func() { close(l.stop) })
	return l.Listener.Close()
}

// lasting reports errors that retrying cannot cure: the socket is closed,
// or is not (or no longer) a listening socket.
func lasting(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.EBADF) ||
		errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSOCK) || errors.Is(err, syscall.EOPNOTSUPP)
}

// note logs a failed accept, at most once per logEvery, with the number of
// failures since the last line.
func (l *Listener) note(err error, delay time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures++
	if now := time.Now(); now.Sub(l.lastLogged) >= logEvery {
		l.logger.Warn("accept failed; retrying", "addr", l.Addr().String(), "err", err.Error(),
			"failures", l.failures, "retry_in", delay.String())
		l.lastLogged, l.failures = now, 0
	}
}

// recovered logs that accepting works again after failures.
func (l *Listener) recovered() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logger.Info("accept works again", "addr", l.Addr().String())
	l.failures, l.lastLogged = 0, time.Time{}
}
