package dns

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePortSupported: Linux spreads the packets of one port over several
// sockets (SO_REUSEPORT), so that each CPU reads its own.
const reusePortSupported = true

func reusePort(network, address string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}
