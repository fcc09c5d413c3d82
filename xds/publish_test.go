package xds

import (
	"testing"

	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	"github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meridian-gtm/meridian/model"
)

// TestPublishHandsTheCacheTheEncoding: what publish gives the caches
// marshals, as go-control-plane marshals what it sends, to the resource's
// own deterministic encoding, which decodes to the resource; an unchanged
// resource is not published again, and a changed one is.
func TestPublishHandsTheCacheTheEncoding(t *testing.T) {
	for _, spill := range []model.SpillMode{model.SpillHosts, model.SpillCapacity} {
		plan := testPlanSpill(t, spill)
		for _, role := range []Role{Gateway, GRPC, Sidecar} {
			r, err := Build(plan, Group{Role: role, Region: "us-east-1"}, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			var all []proto.Message
			for _, xs := range [][]proto.Message{toMessages(r.Listeners), toMessages(r.Routes), toMessages(r.Clusters), toMessages(r.Endpoints)} {
				all = append(all, xs...)
			}
			for _, m := range all {
				update := map[string]types.Resource{}
				h := publish(update, "x", m, 0)
				if len(update) != 1 {
					t.Fatalf("%v: a new resource was not published", m)
				}
				got, err := cache.MarshalResource(update["x"])
				if err != nil {
					t.Fatal(err)
				}
				want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Fatalf("%s: the cache would send other bytes than the resource's encoding", m.ProtoReflect().Descriptor().FullName())
				}
				back := m.ProtoReflect().New().Interface()
				if err := proto.Unmarshal(got, back); err != nil || !proto.Equal(back, m) {
					t.Fatalf("%s: the bytes sent do not decode to the resource (%v)", m.ProtoReflect().Descriptor().FullName(), err)
				}
				clear(update)
				if publish(update, "x", m, h) != h || len(update) != 0 {
					t.Fatalf("%s: an unchanged resource was published again", m.ProtoReflect().Descriptor().FullName())
				}
			}
		}
	}
	a := &endpoint.ClusterLoadAssignment{ClusterName: "a"}
	b := &endpoint.ClusterLoadAssignment{ClusterName: "b"}
	update := map[string]types.Resource{}
	ha := publish(update, "x", a, 0)
	clear(update)
	if hb := publish(update, "x", b, ha); hb == ha || update["x"] == nil {
		t.Error("a changed resource was not published, or got the old one's hash")
	}
}
