//go:build !linux

package dns

import "syscall"

// reusePortSupported is false where one socket per port is the safe choice.
const reusePortSupported = false

func reusePort(network, address string, c syscall.RawConn) error { return nil }

// sharePort is never called here: one socket per port.
func (u *udpSocket) sharePort() error { return nil }

// steerByCPU leaves the packets where the platform puts them.
func steerByCPU([]*udpSocket) (*steerer, error) { return nil, nil }

// steerer is never made here.
type steerer struct{ byShare bool }

func (*steerer) tick() (int, bool, error) { return -1, false, nil }
