//go:build !unix

package api

// lockFile is a no-op where flock is missing: one process per file there.
func lockFile(string) (func(), error) { return func() {}, nil }
