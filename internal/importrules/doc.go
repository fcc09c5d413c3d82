// Package importrules holds the test that keeps Meridian's dependency
// picture one-way (cmd -> components -> model): it reads the imports of
// every package with `go list` and fails on one a rule forbids. It has no
// code of its own.
package importrules
