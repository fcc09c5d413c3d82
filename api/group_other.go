//go:build !unix

package api

import "os"

// ownGroup is false where file groups cannot be read: any group access
// is then exposure.
func ownGroup(os.FileInfo) bool { return false }
