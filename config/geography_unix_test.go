//go:build unix

package config

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSubnetsNotARegularFile: a device would fill the memory and a FIFO
// would block the start or a reload forever: both are refused before
// anything is read.
func TestSubnetsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/zero", fifo, dir} {
		_, err := Parse(filepath.Join(dir, "t.conf"), []byte("meridian {\n    subnets "+path+"\n}\n"+geoClusters))
		if err == nil || !strings.HasSuffix(err.Error(), ":2: subnets: "+path+" is not a regular file") {
			t.Errorf("subnets %s: %v", path, err)
		}
	}
}
