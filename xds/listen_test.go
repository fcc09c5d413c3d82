package xds

import (
	"context"
	"io"
	"net"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
)

// readyReader is gRPC's optional non-pinning read interface
// (internal/transport/readyreader.Reader).
type readyReader interface {
	ReadOnReady(bufSize int, pool mem.BufferPool) (*[]byte, int, error)
}

// countingPool is a BufferPool that counts what it lends.
type countingPool struct{ got, put int }

func (p *countingPool) Get(n int) *[]byte { p.got++; b := make([]byte, n); return &b }
func (p *countingPool) Put(*[]byte)       { p.put++ }

// TestConnLimiterReadsOnReady: the connections the xDS listener hands out
// read into a buffer taken from the pool only once data is there, report
// the end of the stream as io.EOF, and a connection's place under the cap
// comes back when it is closed.
func TestConnLimiterReadsOnReady(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitConns(inner, 1)
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	rr, ok := conn.(readyReader)
	if !ok {
		t.Fatalf("the listener's connection, a %T, has no ReadOnReady: gRPC would give it a read buffer of its own", conn)
	}
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	pool := &countingPool{}
	buf, n, err := rr.ReadOnReady(4096, pool)
	if err != nil || string((*buf)[:n]) != "hello" {
		t.Fatalf("ReadOnReady = %q, %v; want hello", (*buf)[:n], err)
	}
	if pool.got != 1 || pool.put != 0 {
		t.Errorf("one read took %d buffers and returned %d, want 1 and 0", pool.got, pool.put)
	}
	client.Close()
	if buf, _, err := rr.ReadOnReady(4096, pool); err != io.EOF || buf != nil {
		t.Errorf("ReadOnReady after the peer closed = %v, %v; want nil, io.EOF", buf, err)
	}
	if pool.got != pool.put+1 {
		t.Errorf("after EOF the pool lent %d buffers and got %d back: a buffer leaked", pool.got, pool.put)
	}

	// The cap is 1: the next connection is accepted once this one closes.
	client2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client2.Close()
	conn.Close()
	conn2, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn2.Close()
}

// TestGRPCReadsOnReady: gRPC reads an xDS connection through ReadOnReady
// (so holds no read buffer while it is idle), in a real ADS exchange.
func TestGRPCReadsOnReady(t *testing.T) {
	s := New(Config{})
	s.SetPlan(newWorld().plan())
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitConns(inner, 10)
	gs := grpc.NewServer(grpc.ReadBufferSize(connReadBuffer))
	s.register(gs)
	go gs.Serve(ln)
	defer gs.Stop()

	cc, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(cc).StreamAggregatedResources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: gatewayNode("gw-1"), TypeUrl: resource.ClusterType}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if ln.readyReads.Load() == 0 {
		t.Error("gRPC answered without reading through ReadOnReady: it reads the connection through a buffer of its own")
	}
}
