package xds

import (
	"bytes"
	"slices"
	"testing"
	"unsafe"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// gatewayEDS is a response the size of a gateway's endpoints (110 KB),
// every resource's bytes filled with fill.
func gatewayEDS(version, nonce string, fill byte) *discovery.DiscoveryResponse {
	resp := &discovery.DiscoveryResponse{TypeUrl: resource.EndpointType, VersionInfo: version, Nonce: nonce}
	for range 100 {
		resp.Resources = append(resp.Resources, &anypb.Any{TypeUrl: resource.EndpointType, Value: bytes.Repeat([]byte{fill}, 1100)})
	}
	return resp
}

func decodeResponse(t *testing.T, c wireCodec, data mem.BufferSlice) *discovery.DiscoveryResponse {
	t.Helper()
	var back discovery.DiscoveryResponse
	if err := c.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	return &back
}

// TestWireCodecSharesResponses: two streams sent the same resources (as
// two objects, with their own nonces) share one encoding of everything
// but the nonce, and each decodes to its own response; a response whose
// resources changed, at the same version and size, gets an encoding of
// its own, never the old bytes.
func TestWireCodecSharesResponses(t *testing.T) {
	c := newWireCodec()
	if c.Name() != "proto" {
		t.Fatalf("codec name %q, want proto (the content-subtype clients send)", c.Name())
	}
	r1, r2 := gatewayEDS("v1", "1", 1), gatewayEDS("v1", "7", 1)
	d1, err := c.Marshal(r1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := c.Marshal(r2)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Nonce != "1" || r2.Nonce != "7" {
		t.Fatalf("Marshal changed the responses' nonces to %q, %q", r1.Nonce, r2.Nonce)
	}
	if got := decodeResponse(t, c, d1); !proto.Equal(got, r1) {
		t.Error("the first response does not decode to itself")
	}
	if got := decodeResponse(t, c, d2); !proto.Equal(got, r2) {
		t.Error("the second response does not decode to itself")
	}
	if unsafe.SliceData(d1[0].ReadOnlyData()) != unsafe.SliceData(d2[0].ReadOnlyData()) {
		t.Error("two streams sent the same resources hold an encoding each")
	}

	// The same resources in another order (go-control-plane's order is a
	// map's) share the encoding too.
	r4 := gatewayEDS("v1", "9", 1)
	for i, res := range r4.Resources {
		res.Value = slices.Clone(res.Value)
		res.Value[0] = byte(i)
	}
	r5 := proto.Clone(r4).(*discovery.DiscoveryResponse)
	slices.Reverse(r5.Resources)
	d4, _ := c.Marshal(r4)
	d5, _ := c.Marshal(r5)
	if unsafe.SliceData(d4[0].ReadOnlyData()) != unsafe.SliceData(d5[0].ReadOnlyData()) {
		t.Error("the same resources in another order hold an encoding of their own")
	}

	changed := gatewayEDS("v1", "8", 2) // same version and sizes, other bytes
	d3, err := c.Marshal(changed)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeResponse(t, c, d3); !proto.Equal(got, changed) {
		t.Fatal("a changed response was sent as the bytes of the one before")
	}
	if unsafe.SliceData(d3[0].ReadOnlyData()) == unsafe.SliceData(d1[0].ReadOnlyData()) {
		t.Error("a changed response shares the old encoding")
	}
}

// TestWireCodecDeltaResponses: the same for incremental responses.
func TestWireCodecDeltaResponses(t *testing.T) {
	c := newWireCodec()
	delta := func(nonce string, fill byte) *discovery.DeltaDiscoveryResponse {
		r := &discovery.DeltaDiscoveryResponse{TypeUrl: resource.EndpointType, SystemVersionInfo: "v1", Nonce: nonce, RemovedResources: []string{"gone"}}
		for _, res := range gatewayEDS("v1", "", fill).Resources {
			r.Resources = append(r.Resources, &discovery.Resource{Name: "n", Version: "1", Resource: res})
		}
		return r
	}
	r1, r2, changed := delta("1", 1), delta("2", 1), delta("3", 2)
	var enc []mem.BufferSlice
	for _, r := range []*discovery.DeltaDiscoveryResponse{r1, r2, changed} {
		d, err := c.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back discovery.DeltaDiscoveryResponse
		if err := c.Unmarshal(d, &back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(&back, r) {
			t.Fatalf("response %s does not decode to itself", r.Nonce)
		}
		enc = append(enc, d)
	}
	if unsafe.SliceData(enc[0][0].ReadOnlyData()) != unsafe.SliceData(enc[1][0].ReadOnlyData()) {
		t.Error("two streams sent the same resources hold an encoding each")
	}
	if unsafe.SliceData(enc[2][0].ReadOnlyData()) == unsafe.SliceData(enc[0][0].ReadOnlyData()) {
		t.Error("a changed response shares the old encoding")
	}
}

// TestWireCodecExactBuffers: another large message is encoded into a
// buffer of its size, not one of gRPC's pooled 1 MiB buffers.
func TestWireCodecExactBuffers(t *testing.T) {
	c := newWireCodec()
	big := &discovery.DiscoveryRequest{TypeUrl: resource.EndpointType}
	for range 2000 {
		big.ResourceNames = append(big.ResourceNames, "gateway/eu-west-1/eu-west-1a/svc000.gslb.example.com")
	}
	size := proto.Size(big)
	data, err := c.Marshal(big)
	if err != nil {
		t.Fatal(err)
	}
	if data.Len() != size {
		t.Fatalf("encoded %d bytes, want %d", data.Len(), size)
	}
	if got := cap(data[0].ReadOnlyData()); got > size {
		t.Errorf("a %d-byte message holds a %d-byte buffer", size, got)
	}
}
