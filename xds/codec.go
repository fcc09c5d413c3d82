package xds

import (
	"bytes"
	"hash/maphash"
	"slices"
	"strings"
	"sync"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wireCodec wraps
)

// wireCodec is gRPC's proto codec for the xDS server, with two changes to
// what a push holds in memory:
//
//   - A discovery response goes out as two buffers: everything but its
//     nonce, shared by every stream that is sent the same (the streams of
//     a group get the same resources at the same version), and the nonce,
//     the one field that differs per stream. A Plan that changes every
//     service sends each gateway about 110 KB of endpoints; 500 gateways
//     in 20 groups held 500 encodings until written, now 20.
//   - Any other large message is encoded into a buffer of its own size:
//     gRPC's codec takes one from its shared pool, whose tiers jump from
//     32 KiB to 1 MiB.
//
// go-control-plane puts a response's resources in the order of a map's
// iteration, different for each stream: they are sorted first (a
// response's resources are a set to the client), by their bytes or, in
// an incremental response, by name.
//
// Sharing is by content: a response is encoded, and if an encoding with
// the same bytes is known, that one is sent and the new one dropped. So a
// changed resource can never be sent as its old bytes, whatever its
// version says.
type wireCodec struct {
	encoding.CodecV2
	shared *sharedEncodings
}

func newWireCodec() wireCodec {
	return wireCodec{CodecV2: encoding.GetCodecV2("proto"), shared: &sharedEncodings{byHash: map[uint64][]byte{}}}
}

func (c wireCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *discovery.DiscoveryResponse:
		slices.SortFunc(m.Resources, func(a, b *anypb.Any) int { return bytes.Compare(a.GetValue(), b.GetValue()) })
		nonce := m.Nonce
		m.Nonce = ""
		defer func() { m.Nonce = nonce }()
		return c.withNonce(m, &discovery.DiscoveryResponse{Nonce: nonce})
	case *discovery.DeltaDiscoveryResponse:
		slices.SortFunc(m.Resources, func(a, b *discovery.Resource) int { return strings.Compare(a.GetName(), b.GetName()) })
		slices.Sort(m.RemovedResources)
		nonce := m.Nonce
		m.Nonce = ""
		defer func() { m.Nonce = nonce }()
		return c.withNonce(m, &discovery.DeltaDiscoveryResponse{Nonce: nonce})
	case proto.Message:
		size := proto.Size(m)
		if mem.IsBelowBufferPoolingThreshold(size) {
			return c.CodecV2.Marshal(v)
		}
		// UseCachedSize: proto.Size has just cached it, and a message is
		// not changed while it is sent.
		b, err := proto.MarshalOptions{UseCachedSize: true}.MarshalAppend(make([]byte, 0, size), m)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.CodecV2.Marshal(v)
}

// withNonce encodes body, a response without its nonce, shared (see
// sharedEncodings), followed by nonceOnly, the same kind of message with
// the nonce alone: the receiver merges the two into one message.
func (c wireCodec) withNonce(body, nonceOnly proto.Message) (mem.BufferSlice, error) {
	shared, err := c.shared.encode(body)
	if err != nil {
		return nil, err
	}
	tail, err := proto.Marshal(nonceOnly)
	return mem.BufferSlice{mem.SliceBuffer(shared), mem.SliceBuffer(tail)}, err
}

// sharedEncodings are the encodings recently sent, by a hash of their
// bytes. Those in flight are held by the streams sending them; the map
// only lets the next stream find them, and is emptied when what it holds
// passes maxSharedBytes, so that it keeps about one push's worth.
type sharedEncodings struct {
	scratch sync.Pool // *[]byte, to encode into before the look-up

	mu     sync.Mutex
	byHash map[uint64][]byte
	bytes  int
}

// maxSharedBytes bounds what sharedEncodings keeps: a push that changes
// every service at 10,000 clients has about 6 MB of distinct responses
// (20 gateway groups' endpoints, 2,000 gRPC clients' ones).
const maxSharedBytes = 32 << 20

var sharedSeed = maphash.MakeSeed()

// encode returns m's encoding, the same slice as an earlier call's with
// the same bytes, if one is still known. The slice must not be changed.
func (s *sharedEncodings) encode(m proto.Message) ([]byte, error) {
	bp, _ := s.scratch.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer s.scratch.Put(bp)
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*bp)[:0], m)
	if err != nil {
		return nil, err
	}
	*bp = b
	h := maphash.Bytes(sharedSeed, b)
	s.mu.Lock()
	defer s.mu.Unlock()
	if known, ok := s.byHash[h]; ok && bytes.Equal(known, b) {
		return known, nil
	}
	own := bytes.Clone(b)
	if s.bytes+len(own) > maxSharedBytes {
		clear(s.byHash)
		s.bytes = 0
	}
	s.byHash[h] = own
	s.bytes += len(own)
	return own, nil
}
