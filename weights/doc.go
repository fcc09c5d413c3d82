// Package weights decides where traffic goes. Solve is a pure function from
// the Inventory, Health, Overrides and Policies to a Plan: no I/O, no clock,
// no goroutines, so the same inputs always give the same Plan, byte for byte.
// Loop is the one goroutine that owns those inputs, re-solves when any of
// them changes and hands each new Plan to its observers (DNS, xDS, API).
package weights
