package model

import (
	"cmp"
	"slices"
)

// groups is a list of items grouped by service name, sorted by it. A new
// version made by with shares every group it does not replace, which is what
// lets the engine skip unchanged services by identity.
type groups[T any] []group[T]

type group[T any] struct {
	service string
	items   []T
}

// groupBy splits items, sorted by service, into groups.
func groupBy[T any](items []T, service func(T) string) groups[T] {
	var gs groups[T]
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && service(items[j]) == service(items[i]) {
			j++
		}
		gs = append(gs, group[T]{service: service(items[i]), items: items[i:j:j]})
		i = j
	}
	return gs
}

func (gs groups[T]) find(service string) (int, bool) {
	return slices.BinarySearchFunc(gs, service, func(g group[T], s string) int { return cmp.Compare(g.service, s) })
}

// of returns the items of one service, nil if it has none.
func (gs groups[T]) of(service string) []T {
	if i, ok := gs.find(service); ok {
		return gs[i].items
	}
	return nil
}

// all returns every item, in order.
func (gs groups[T]) all() []T {
	var out []T
	for _, g := range gs {
		out = append(out, g.items...)
	}
	return out
}

// with returns a copy in which service's items are replaced by items
// (removed when empty); the other groups are shared.
func (gs groups[T]) with(service string, items []T) groups[T] {
	out := slices.Clone(gs)
	i, found := gs.find(service)
	switch {
	case found && len(items) == 0:
		out = slices.Delete(out, i, i+1)
	case found:
		out[i].items = items
	case len(items) > 0:
		out = slices.Insert(out, i, group[T]{service: service, items: items})
	}
	return out
}
