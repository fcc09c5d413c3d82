package xds

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"google.golang.org/grpc/mem"
)

// connLimiter caps the connections open at once, as netutil.LimitListener
// does, and hands gRPC TCP connections that it can read without a buffer
// of their own (readyConn).
type connLimiter struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// readyReads counts the reads gRPC made through ReadOnReady.
	readyReads atomic.Uint64
}

func limitConns(ln net.Listener, n int) *connLimiter {
	return &connLimiter{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

// Accept waits for room under the cap, then for a connection.
func (l *connLimiter) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	lc := &limitedConn{Conn: c, release: func() { <-l.sem }}
	if tc, ok := c.(*net.TCPConn); ok {
		if raw, err := tc.SyscallConn(); err == nil {
			return &readyConn{limitedConn: lc, raw: raw, reads: &l.readyReads}, nil
		}
	}
	return lc, nil
}

func (l *connLimiter) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitedConn gives its place under the cap back when closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// readyConn is a TCP connection that gRPC reads through ReadOnReady: it
// waits until the socket is readable and only then takes a buffer from
// gRPC's pool, so that an idle connection holds no read buffer. gRPC does
// this itself for a bare *net.TCPConn, but not for a wrapped one, and
// then gives each connection a read buffer for its whole life: at 10,000
// mostly idle xDS connections, 4 KiB each is 40 MB of heap.
type readyConn struct {
	*limitedConn
	raw   syscall.RawConn
	reads *atomic.Uint64
}

// ReadOnReady implements gRPC's optional non-pinning read interface
// (google.golang.org/grpc/internal/transport/readyreader.Reader): it reads
// up to bufSize bytes into a buffer from pool, taken once data is there.
func (c *readyConn) ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error) {
	c.reads.Add(1)
	var (
		buf     *[]byte
		n       int
		readErr error
	)
	err := c.raw.Read(func(fd uintptr) bool {
		buf = pool.Get(bufSize)
		n, readErr = syscall.Read(int(fd), *buf)
		if readErr != nil {
			pool.Put(buf)
			buf = nil
		}
		return readErr != syscall.EAGAIN && readErr != syscall.EWOULDBLOCK
	})
	switch {
	case err != nil:
		if buf != nil {
			pool.Put(buf)
		}
		return nil, 0, err
	case readErr != nil:
		return nil, 0, readErr
	case n == 0:
		pool.Put(buf)
		return nil, 0, io.EOF
	}
	return buf, n, nil
}
