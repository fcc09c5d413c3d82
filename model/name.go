package model

import "strings"

// CanonicalName spells a DNS name as Meridian's values hold it: in lower
// case, without the final dot ("App.GSLB.example.com." is
// "app.gslb.example.com"). Service names, zones and the names operators
// type all go through it, wherever they come from (the config, Kubernetes
// annotations, the API), so that one name is one key.
func CanonicalName(s string) string { return strings.TrimSuffix(strings.ToLower(s), ".") }
