package xds

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wireCodec wraps
)

// wireCodec is gRPC's proto codec, except that a message too large for
// a small buffer is encoded into a buffer of its own size. gRPC's codec
// takes it from its shared pool, whose tiers jump from 32 KiB to 1 MiB:
// each gateway's endpoints (about 110 KB for 100 services) took 1 MiB
// until written, and a Plan that changes every service has hundreds of
// them in flight at once (at 10,000 clients, +220 MB of live heap during
// a push, and the GC's goal and the RSS with it; BenchmarkPlanToACK). The
// buffers are garbage once written, which costs less than the GC goal
// they raised.
type wireCodec struct{ encoding.CodecV2 }

func newWireCodec() wireCodec { return wireCodec{encoding.GetCodecV2("proto")} }

func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return c.CodecV2.Marshal(v)
	}
	size := proto.Size(m)
	if mem.IsBelowBufferPoolingThreshold(size) {
		return c.CodecV2.Marshal(v)
	}
	// UseCachedSize: proto.Size has just cached it, and a response is
	// not changed while it is sent.
	b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, 0, size), m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}
