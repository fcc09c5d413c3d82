package xds

import (
	"bytes"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestWireCodecExactBuffers: a gateway-sized response (110 KB) is
// encoded into a buffer of its size, not one of gRPC's pooled 1 MiB
// buffers, and decodes to the same message; a small one as gRPC does.
func TestWireCodecExactBuffers(t *testing.T) {
	c := newWireCodec()
	if c.Name() != "proto" {
		t.Fatalf("codec name %q, want proto (the content-subtype clients send)", c.Name())
	}
	resp := &discovery.DiscoveryResponse{TypeUrl: resource.EndpointType, VersionInfo: "v1", Nonce: "1"}
	for range 100 {
		resp.Resources = append(resp.Resources, &anypb.Any{TypeUrl: resource.EndpointType, Value: bytes.Repeat([]byte{1}, 1100)})
	}
	size := proto.Size(resp)
	data, err := c.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Free()
	if len(data) != 1 || data.Len() != size {
		t.Fatalf("encoded into %d buffers, %d bytes; want 1 of %d", len(data), data.Len(), size)
	}
	if got := cap(data[0].ReadOnlyData()); got > size {
		t.Errorf("a %d-byte response holds a %d-byte buffer", size, got)
	}
	var back discovery.DiscoveryResponse
	if err := c.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&back, resp) {
		t.Error("the response does not decode to itself")
	}

	small, err := c.Marshal(&discovery.DiscoveryRequest{TypeUrl: resource.ClusterType})
	if err != nil || small.Len() == 0 {
		t.Fatalf("a small message: %d bytes, %v", small.Len(), err)
	}
}
