package xds

import (
	"context"
	"strings"
	"testing"
	"unsafe"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestRequestsCarryTheGroupsNode: once a request is read, the client's
// node is emptied (go-control-plane keeps it for the stream's life), the
// request carries its group's wire node, one for all the group's streams,
// and the server still knows the client by its id: a NACK names it.
func TestRequestsCarryTheGroupsNode(t *testing.T) {
	s := New(Config{})
	s.SetPlan(newWorld().plan())
	cb := s.callbacks()
	heavy := func(id string) *discovery.DiscoveryRequest {
		n := gatewayNode(id)
		n.UserAgentName = "envoy"
		n.Metadata.Fields["build"], _ = structpb.NewValue("1.36.0/Clean/RELEASE/BoringSSL")
		return &discovery.DiscoveryRequest{Node: n, TypeUrl: resource.ClusterType}
	}
	r1, r2 := heavy("gw-1"), heavy("gw-2")
	n1 := r1.Node
	if err := cb.OnStreamRequest(1, r1); err != nil {
		t.Fatal(err)
	}
	if err := cb.OnStreamRequest(2, r2); err != nil {
		t.Fatal(err)
	}
	if size := proto.Size(n1); size != 0 {
		t.Errorf("the client's node is still %d bytes after the request was read", size)
	}
	if r1.Node != r2.Node {
		t.Error("two streams of one group carry different wire nodes")
	}
	if g := (Classifier{}).GroupOf(r1.Node); g != (Group{Role: Gateway, Region: "eu-west-1", Zone: "eu-west-1a"}) {
		t.Errorf("the wire node says group %v", g)
	}

	cb.OnStreamResponse(context.Background(), 1, r1, &discovery.DiscoveryResponse{TypeUrl: resource.ClusterType, VersionInfo: "v1", Nonce: "7"})
	nack := &discovery.DiscoveryRequest{TypeUrl: resource.ClusterType, ResponseNonce: "7", ErrorDetail: &status.Status{Message: "bad cluster"}}
	if err := cb.OnStreamRequest(1, nack); err != nil {
		t.Fatal(err)
	}
	got := s.NACKs()
	if len(got) != 1 || got[0].Node != "gw-1" || got[0].Version != "v1" || got[0].Detail != "bad cluster" {
		t.Fatalf("NACKs = %+v, want one from gw-1 of v1", got)
	}
	if nack.VersionInfo != "v1" {
		t.Errorf("a NACK's version is %q, want the rejected v1 (so that the cache waits for a new one)", nack.VersionInfo)
	}
}

// TestRequestsShareStrings: the strings two streams' requests leave with
// the caches (type, names) are one copy, not one per stream.
func TestRequestsShareStrings(t *testing.T) {
	s := New(Config{})
	s.SetPlan(newWorld().plan())
	cb := s.callbacks()
	req := func(id string) *discovery.DiscoveryRequest {
		// Strings of their own, as a decoded request's are.
		return &discovery.DiscoveryRequest{Node: gatewayNode(id), TypeUrl: strings.Clone(resource.EndpointType), ResourceNames: []string{strings.Clone("gateway/eu-west-1/eu-west-1a/svc")}}
	}
	r1, r2 := req("gw-1"), req("gw-2")
	for i, r := range []*discovery.DiscoveryRequest{r1, r2} {
		if err := cb.OnStreamRequest(int64(i+1), r); err != nil {
			t.Fatal(err)
		}
	}
	if unsafe.StringData(r1.TypeUrl) != unsafe.StringData(r2.TypeUrl) || unsafe.StringData(r1.ResourceNames[0]) != unsafe.StringData(r2.ResourceNames[0]) {
		t.Error("two streams' requests keep copies of their own of the same type and name")
	}
}
