package xds

import (
	"os"
	"strconv"
	"strings"
	"testing"

	bootstrap "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3" // the @type in the ADS cluster
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

// TestGatewayBootstrap: deploy/envoy/gateway.yaml is a valid Envoy
// Bootstrap (Envoy itself cannot be installed here, so its proto and
// validation rules stand in), points ADS at the demo's xds address, and
// its node is served as a gateway: it gets the gateway listeners.
func TestGatewayBootstrap(t *testing.T) {
	raw, err := os.ReadFile("../deploy/envoy/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatal(err)
	}
	var bs bootstrap.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, &bs); err != nil { // unknown fields refused
		t.Fatalf("not an Envoy bootstrap: %v", err)
	}
	if err := bs.ValidateAll(); err != nil {
		t.Fatalf("Envoy's validation rules refuse it: %v", err)
	}

	// ADS over gRPC to a static cluster that exists, and that cluster is
	// the demo's xds address.
	ads := bs.GetDynamicResources().GetAdsConfig()
	if len(ads.GetGrpcServices()) != 1 || ads.GetTransportApiVersion().String() != "V3" {
		t.Fatalf("ads_config %v: want one gRPC service, transport V3", ads)
	}
	if bs.GetDynamicResources().GetLdsConfig().GetAds() == nil || bs.GetDynamicResources().GetCdsConfig().GetAds() == nil {
		t.Error("LDS and CDS must come over ADS")
	}
	adsCluster := ads.GetGrpcServices()[0].GetEnvoyGrpc().GetClusterName()
	var found bool
	for _, c := range bs.GetStaticResources().GetClusters() {
		if c.GetName() != adsCluster {
			continue
		}
		found = true
		sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		demo, err := os.ReadFile("../deploy/demo/meridian.conf")
		if err != nil {
			t.Fatal(err)
		}
		if addr := sa.GetAddress() + ":" + strconv.FormatUint(uint64(sa.GetPortValue()), 10); !strings.Contains(string(demo), "xds   "+addr) {
			t.Errorf("the ADS cluster points at %s, which is not the demo's xds address", addr)
		}
		if c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"] == nil {
			t.Error("the ADS cluster does not speak HTTP/2, which gRPC needs")
		}
	}
	if !found {
		t.Errorf("ADS names cluster %q, which is not a static cluster", adsCluster)
	}

	// The node as xds/ reads it: role gateway from its metadata, a locality.
	node := bs.GetNode()
	if got := node.GetMetadata().GetFields()[RoleKey].GetStringValue(); got != "gateway" {
		t.Errorf("node metadata %s = %q, want gateway", RoleKey, got)
	}
	if node.GetId() == "" || node.GetLocality().GetRegion() == "" || node.GetLocality().GetZone() == "" {
		t.Errorf("node %v: want an id, a region and a zone", node)
	}

	// A Meridian ADS server serves that node the gateway's listener.
	w := newWorld()
	_, stream := sotwStream(t, w, Config{Options: Options{GatewayPorts: []uint32{8443}}})
	lds := sotwGet(t, stream, node, resource.ListenerType, nil)
	if len(lds.Resources) != 1 {
		t.Fatalf("the bootstrap's node got %d listeners, want the gateway's one", len(lds.Resources))
	}
	var l listener.Listener
	if err := proto.Unmarshal(lds.Resources[0].Value, &l); err != nil {
		t.Fatal(err)
	}
	if l.GetName() != "gateway_8443" {
		t.Errorf("the bootstrap's node got listener %q, want gateway_8443 (is it still a gateway?)", l.GetName())
	}
}
