package xds

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"unsafe"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
	c := newWireCodec(newSharedEncodings())
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
	c := newWireCodec(newSharedEncodings())
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
	c := newWireCodec(newSharedEncodings())
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

// TestWireCodecIdentity: responses made of the same resource encodings
// (as go-control-plane makes them for the streams of a group) share one
// encoding without being encoded again, and decode to themselves; one
// whose resources were encoded anew, to the same bytes, still shares it by
// content; one with a resource changed gets its own.
func TestWireCodecIdentity(t *testing.T) {
	c := newWireCodec(newSharedEncodings())
	base := gatewayEDS("v1", "1", 1)
	same := &discovery.DiscoveryResponse{TypeUrl: base.TypeUrl, VersionInfo: "v1", Nonce: "2", Resources: slices.Clone(base.Resources)}
	slices.Reverse(same.Resources)
	encode := func(r *discovery.DiscoveryResponse) mem.BufferSlice {
		t.Helper()
		d, err := c.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := decodeResponse(t, c, d); !proto.Equal(got, r) {
			t.Fatalf("response %s does not decode to itself", r.Nonce)
		}
		return d
	}
	d1 := encode(base)
	key, ok := identity(nil, &discovery.DiscoveryResponse{TypeUrl: base.TypeUrl, VersionInfo: "v1", Resources: base.Resources})
	if !ok {
		t.Fatal("a response of go-control-plane's fields has no identity")
	}
	c.shared.mu.Lock()
	_, known := c.shared.byIdentity[string(key)]
	c.shared.mu.Unlock()
	if !known {
		t.Fatal("the first response's identity is not kept")
	}
	d2 := encode(same)
	if unsafe.SliceData(d1[0].ReadOnlyData()) != unsafe.SliceData(d2[0].ReadOnlyData()) {
		t.Error("two responses of the same resource encodings hold an encoding each")
	}

	copied := proto.Clone(base).(*discovery.DiscoveryResponse) // the same bytes at other addresses
	copied.Nonce = "3"
	if d3 := encode(copied); unsafe.SliceData(d3[0].ReadOnlyData()) != unsafe.SliceData(d1[0].ReadOnlyData()) {
		t.Error("a response of equal bytes does not share the encoding")
	}
	changed := proto.Clone(base).(*discovery.DiscoveryResponse)
	changed.Nonce = "4"
	changed.Resources[7].Value[0] = 2
	if d4 := encode(changed); unsafe.SliceData(d4[0].ReadOnlyData()) == unsafe.SliceData(d1[0].ReadOnlyData()) {
		t.Error("a changed response shares the old encoding")
	}
}

// TestIdentityCoversResponses: setting any field of a response, of a delta
// response's resources or of the resources' Any, as a later
// go-control-plane might, either changes the response's identity or takes
// it away, so that two responses of one identity always encode the same.
func TestIdentityCoversResponses(t *testing.T) {
	value := []byte{1, 2, 3}
	sotw := func() proto.Message {
		return &discovery.DiscoveryResponse{TypeUrl: resource.EndpointType, VersionInfo: "v1",
			Resources: []*anypb.Any{{TypeUrl: resource.EndpointType, Value: value}}}
	}
	delta := func() proto.Message {
		return &discovery.DeltaDiscoveryResponse{TypeUrl: resource.EndpointType, SystemVersionInfo: "v1", RemovedResources: []string{"gone"},
			Resources: []*discovery.Resource{{Name: "a", Version: "1", Resource: &anypb.Any{TypeUrl: resource.EndpointType, Value: value}}}}
	}
	// Every field of m and of the messages under it (a list's first
	// element), each changed in turn in a fresh response.
	var visit func(path string, fresh func() proto.Message, at func(proto.Message) protoreflect.Message)
	fields := 0
	visit = func(path string, fresh func() proto.Message, at func(proto.Message) protoreflect.Message) {
		md := at(fresh()).Descriptor()
		for i := range md.Fields().Len() {
			fd := md.Fields().Get(i)
			base := fresh()
			before, ok := identity(nil, base)
			if !ok {
				t.Fatalf("%s: the base response has no identity", path)
			}
			m := fresh()
			change(at(m), fd)
			after, ok := identity(nil, m)
			if ok && string(after) == string(before) {
				t.Errorf("%s.%s changed, and the identity did not", path, fd.Name())
			}
			fields++
			if fd.Kind() == protoreflect.MessageKind && fd.Message().FullName() != "google.protobuf.Any" && fd.Message().FullName() != "envoy.service.discovery.v3.Resource" {
				continue
			}
			if fd.Kind() == protoreflect.MessageKind {
				sub := func(m proto.Message) protoreflect.Message {
					v := at(m).Get(fd)
					if fd.IsList() {
						return v.List().Get(0).Message()
					}
					return v.Message()
				}
				visit(path+"."+string(fd.Name()), fresh, sub)
			}
		}
	}
	self := func(m proto.Message) protoreflect.Message { return m.ProtoReflect() }
	visit("DiscoveryResponse", sotw, self)
	visit("DeltaDiscoveryResponse", delta, self)
	if fields < 20 {
		t.Fatalf("only %d fields changed", fields)
	}
}

// change gives field fd of m another value than it has.
func change(m protoreflect.Message, fd protoreflect.FieldDescriptor) {
	switch {
	case fd.IsList():
		l := m.Mutable(fd).List()
		l.Append(l.NewElement())
		if fd.Kind() == protoreflect.StringKind {
			l.Set(l.Len()-1, protoreflect.ValueOfString("x"))
		}
	case fd.IsMap():
		mp := m.Mutable(fd).Map()
		mp.Set(protoreflect.ValueOfString("x").MapKey(), mp.NewValue())
	case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
		m.Set(fd, protoreflect.ValueOfMessage(m.NewField(fd).Message())) // a new, empty one
	case fd.Kind() == protoreflect.StringKind:
		m.Set(fd, protoreflect.ValueOfString(m.Get(fd).String()+"x"))
	case fd.Kind() == protoreflect.BytesKind:
		m.Set(fd, protoreflect.ValueOfBytes(append(slices.Clone(m.Get(fd).Bytes()), 9)))
	case fd.Kind() == protoreflect.BoolKind:
		m.Set(fd, protoreflect.ValueOfBool(!m.Get(fd).Bool()))
	case fd.Kind() == protoreflect.EnumKind:
		m.Set(fd, protoreflect.ValueOfEnum(m.Get(fd).Enum()+1))
	default: // the integers
		m.Set(fd, bump(m.Get(fd)))
	}
}

// bump adds 1 to an integer value.
func bump(v protoreflect.Value) protoreflect.Value {
	switch x := v.Interface().(type) {
	case int32:
		return protoreflect.ValueOfInt32(x + 1)
	case int64:
		return protoreflect.ValueOfInt64(x + 1)
	case uint32:
		return protoreflect.ValueOfUint32(x + 1)
	case uint64:
		return protoreflect.ValueOfUint64(x + 1)
	case float32:
		return protoreflect.ValueOfFloat32(x + 1)
	case float64:
		return protoreflect.ValueOfFloat64(x + 1)
	}
	panic(fmt.Sprintf("no bump for %T", v.Interface()))
}
