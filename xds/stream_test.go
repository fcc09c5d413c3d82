package xds

import (
	"errors"
	"strings"
	"testing"
	"unsafe"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestNACKIsRecordedWithTheClient: a NACK of the latest response names the
// client by its id, though the server kept nothing of its node but the
// id and group, and returns the rejected version, so that the stream
// waits for a new one; a NACK of an older nonce is not recorded, nor the
// same NACK again (a client could flood the log with it).
func TestNACKIsRecordedWithTheClient(t *testing.T) {
	s := New(Config{})
	s.SetPlan(newWorld().plan())
	n := gatewayNode("gw-1")
	n.UserAgentName = "envoy"
	n.Metadata.Fields["build"], _ = structpb.NewValue("1.36.0/Clean/RELEASE/BoringSSL")
	if _, res := s.request(1, n, resource.ClusterType, "", nil); res == nil || res != s.resourcesOf("gateway/eu-west-1/eu-west-1a") {
		t.Fatal("the first request did not place the stream in its locality's gateway group")
	}
	s.response(1, resource.ClusterType, "v1", "7")
	if rejected, _ := s.request(1, nil, resource.ClusterType, "6", errors.New("stale")); rejected != "" || len(s.NACKs()) != 0 {
		t.Fatalf("a NACK of an older response was recorded (rejected %q)", rejected)
	}
	rejected, _ := s.request(1, nil, resource.ClusterType, "7", errors.New("bad cluster"))
	got := s.NACKs()
	if len(got) != 1 || got[0].Node != "gw-1" || got[0].Version != "v1" || got[0].Detail != "bad cluster" {
		t.Fatalf("NACKs = %+v, want one from gw-1 of v1", got)
	}
	if rejected != "v1" {
		t.Errorf("a NACK's version is %q, want the rejected v1 (so that the stream waits for a new one)", rejected)
	}
	for range 100 {
		if again, _ := s.request(1, nil, resource.ClusterType, "7", errors.New("bad cluster, again")); again != "v1" {
			t.Fatalf("a repeated NACK's version is %q, want v1", again)
		}
	}
	if got := s.NACKs(); len(got) != 1 {
		t.Errorf("one rejection repeated 100 times was recorded %d times, want once", len(got))
	}
}

// TestSubscriptionsShareStrings: the names two streams subscribe to are
// one copy, not one per stream.
func TestSubscriptionsShareStrings(t *testing.T) {
	s := New(Config{})
	s.SetPlan(newWorld().plan())
	name := func(id int64) string {
		st := &adsStream{s: s, id: id, sendSotW: func(*discovery.DiscoveryResponse) error { return nil }}
		defer st.close()
		// Strings of their own, as a decoded request's are.
		req := &discovery.DiscoveryRequest{Node: gatewayNode("gw"), TypeUrl: strings.Clone(resource.EndpointType), ResourceNames: []string{strings.Clone("gateway/eu-west-1/eu-west-1a/svc")}}
		if err := st.sotwRequest(req); err != nil {
			t.Fatal(err)
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		for n := range st.subs[edsType].sub.SubscribedResources() {
			return n
		}
		t.Fatal("no subscription")
		return ""
	}
	if a, b := name(1), name(2); unsafe.StringData(a) != unsafe.StringData(b) {
		t.Error("two streams keep copies of their own of the same name")
	}
}
