//go:build !linux

package health

import (
	"errors"
	"time"
)

// connector runs TCP connect probes in rounds where the system has the
// calls for it (connect_linux.go); elsewhere every probe dials on a worker
// of its own.
type connector struct{}

func newConnector() (*connector, error) { return nil, errors.ErrUnsupported }

func (*connector) busy() bool                            { return false }
func (*connector) round(jobs []*job, _ time.Time) []*job { return jobs[:0] }
func (*connector) close()                                {}
