package xds

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"unsafe"

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
// A stream puts a response's resources in the order of a map's
// iteration, different for each stream: they are sorted first (a
// response's resources are a set to the client), by their bytes or, in
// an incremental response, by name.
//
// Sharing is by content: a response is encoded, and if an encoding with
// the same bytes is known, that one is sent and the new one dropped. So a
// changed resource can never be sent as its old bytes, whatever its
// version says. Most responses are not encoded at all: one made of the
// same resource encodings as an earlier one (see identity) gets that
// one's encoding.
type wireCodec struct {
	encoding.CodecV2
	shared *sharedEncodings
}

func newWireCodec(shared *sharedEncodings) wireCodec {
	return wireCodec{CodecV2: encoding.GetCodecV2("proto"), shared: shared}
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
// bytes and by the identity of the responses they were made for. Those in
// flight are held by the streams sending them; the maps only let the next
// stream find them, and are emptied when what they hold passes
// maxSharedBytes, so that they keep about one push's worth.
type sharedEncodings struct {
	scratch sync.Pool // *[]byte, to encode into before the look-up

	mu         sync.Mutex
	byHash     map[uint64][]byte
	byIdentity map[string]identified
	bytes      int
}

func newSharedEncodings() *sharedEncodings {
	return &sharedEncodings{byHash: map[uint64][]byte{}, byIdentity: map[string]identified{}}
}

// forget drops every encoding kept: when a node group is dropped, so
// that its responses, and the resource encodings their identities hold,
// go with it (a fleet whose localities come and go leaves nothing).
func (s *sharedEncodings) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.byHash)
	clear(s.byIdentity)
	s.bytes = 0
}

// identified is the encoding of the responses of one identity, and the
// resource encodings the identity names by address: held here, so that
// no other bytes take their place while the identity is known.
type identified struct {
	encoding []byte
	holds    [][]byte
}

// maxSharedBytes bounds what sharedEncodings keeps: a push that changes
// every service at 10,000 clients has about 6 MB of distinct responses
// (20 gateway groups' endpoints, 2,000 gRPC clients' ones).
const maxSharedBytes = 32 << 20

var sharedSeed = maphash.MakeSeed()

// encode returns m's encoding, the same slice as an earlier call's with
// the same bytes or for a response of the same identity, if one is still
// known. The slice must not be changed.
func (s *sharedEncodings) encode(m proto.Message) ([]byte, error) {
	bp, _ := s.scratch.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer s.scratch.Put(bp)
	key, identifiable := identity((*bp)[:0], m)
	if identifiable {
		*bp = key
		s.mu.Lock()
		known, ok := s.byIdentity[string(key)]
		s.mu.Unlock()
		if ok {
			return known.encoding, nil
		}
		key = bytes.Clone(key)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.MarshalAppend((*bp)[:0], m)
	if err != nil {
		return nil, err
	}
	*bp = b
	h := maphash.Bytes(sharedSeed, b)
	s.mu.Lock()
	defer s.mu.Unlock()
	own, ok := s.byHash[h]
	if !ok || !bytes.Equal(own, b) {
		own = bytes.Clone(b)
		s.keep(len(own))
		s.byHash[h] = own
	}
	if identifiable {
		s.keep(len(key) + len(own)) // the resource encodings it holds are about the size of own
		s.byIdentity[string(key)] = identified{encoding: own, holds: resourceEncodings(m)}
	}
	return own, nil
}

// keep makes room for n more bytes: it forgets everything when they would
// pass maxSharedBytes. Callers hold s.mu.
func (s *sharedEncodings) keep(n int) {
	if s.bytes+n > maxSharedBytes {
		clear(s.byHash)
		clear(s.byIdentity)
		s.bytes = 0
	}
	s.bytes += n
}

// identity appends to b a key for the response m (without its nonce) that
// two responses share only if they encode the same, made without encoding
// them. A stream fills a response with its group's encodings of the
// resources (groupResources), made once per resource version and shared
// by every stream it goes to: the key names each by its address and length
// (appendKeyBytes), with the names, versions and types. Those bytes are
// never changed, and the entry that holds the key holds them
// (resourceEncodings), so that no other bytes can take their address while
// the key is known. A response with any other field set, which the key
// would not cover, has no identity (ok false; TestIdentityCoversResponses).
func identity(b []byte, m proto.Message) (key []byte, ok bool) {
	if len(m.ProtoReflect().GetUnknown()) > 0 {
		return nil, false
	}
	switch m := m.(type) {
	case *discovery.DiscoveryResponse:
		if m.Canary || m.ControlPlane != nil || len(m.ResourceErrors) > 0 || m.Nonce != "" {
			return nil, false
		}
		b = appendKeyHead(b, 's', m.TypeUrl, m.VersionInfo, len(m.Resources))
		for _, r := range m.Resources {
			if !plainAny(r) {
				return nil, false
			}
			b = appendKeyString(b, r.TypeUrl)
			b = appendKeyBytes(b, r.Value)
		}
	case *discovery.DeltaDiscoveryResponse:
		if m.ControlPlane != nil || len(m.RemovedResourceNames) > 0 || len(m.ResourceErrors) > 0 || m.Nonce != "" {
			return nil, false
		}
		b = appendKeyHead(b, 'd', m.TypeUrl, m.SystemVersionInfo, len(m.Resources))
		for _, r := range m.Resources {
			if r == nil || r.ResourceName != nil || r.Ttl != nil || r.CacheControl != nil || r.Metadata != nil || len(r.Aliases) > 0 ||
				len(r.ProtoReflect().GetUnknown()) > 0 || !plainAny(r.Resource) {
				return nil, false
			}
			b = appendKeyString(b, r.Name)
			b = appendKeyString(b, r.Version)
			b = appendKeyString(b, r.Resource.TypeUrl)
			b = appendKeyBytes(b, r.Resource.Value)
		}
		b = binary.AppendUvarint(b, uint64(len(m.RemovedResources)))
		for _, n := range m.RemovedResources {
			b = appendKeyString(b, n)
		}
	default:
		return nil, false
	}
	return b, true
}

// resourceEncodings are the resource encodings a response with an
// identity holds.
func resourceEncodings(m proto.Message) [][]byte {
	var out [][]byte
	switch m := m.(type) {
	case *discovery.DiscoveryResponse:
		for _, r := range m.Resources {
			out = append(out, r.Value)
		}
	case *discovery.DeltaDiscoveryResponse:
		for _, r := range m.Resources {
			out = append(out, r.Resource.Value)
		}
	}
	return out
}

// plainAny reports whether a is set and holds a type and a value only.
func plainAny(a *anypb.Any) bool { return a != nil && len(a.ProtoReflect().GetUnknown()) == 0 }

// appendKeyHead starts a key: the kind of response, its type, version and
// number of resources.
func appendKeyHead(b []byte, kind byte, typeURL, version string, resources int) []byte {
	b = appendKeyString(append(b, kind), typeURL)
	return binary.AppendUvarint(appendKeyString(b, version), uint64(resources))
}

func appendKeyString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendKeyBytes names v by its address and length, not its content.
func appendKeyBytes(b, v []byte) []byte {
	b = binary.LittleEndian.AppendUint64(b, uint64(uintptr(unsafe.Pointer(unsafe.SliceData(v)))))
	return binary.AppendUvarint(b, uint64(len(v)))
}
