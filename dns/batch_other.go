//go:build !linux

package dns

import (
	"errors"
	"net"
	"net/netip"
)

const batchSize = 1

// batchConn is not available here: serveUDP reads one packet at a time.
type batchConn struct{ outs [batchSize][]byte }

func newBatchConn(*net.UDPConn) (*batchConn, error) { return nil, errors.ErrUnsupported }

func (b *batchConn) read() (int, error)                        { return 0, errors.ErrUnsupported }
func (b *batchConn) packet(int) ([]byte, netip.AddrPort, bool) { return nil, netip.AddrPort{}, false }
func (b *batchConn) write([]int) error                         { return errors.ErrUnsupported }
