package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	grpcxds "google.golang.org/grpc/xds"
)

// TestGrafanaDashboardMetricsExist runs Meridian with DNS, health checks
// and xDS in use and checks that every metric the dashboard in
// deploy/grafana queries is in its /metrics output.
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	raw, err := os.ReadFile("../../deploy/grafana/meridian.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}

	primary, secondary, port := listenPair(t)
	for _, ln := range []net.Listener{primary, secondary} {
		gs := grpc.NewServer()
		healthpb.RegisterHealthServer(gs, grpchealth.NewServer())
		go gs.Serve(ln)
		t.Cleanup(gs.Stop)
	}
	conf := strings.Replace(xdsConf(port, ""), "        xds_port", fmt.Sprintf("        health {\n            kind tcp\n            port %d\n            interval 200ms\n        }\n        xds_port", port), 1)
	p := startMeridian(t, conf)
	answerOf(t, p.dnsPort, "app.gslb.example.com", "+subnet=81.2.69.0/24")
	bootstrap := fmt.Sprintf(`{"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "insecure"}], "server_features": ["xds_v3"]}],
		"node": {"id": "dash", "locality": {"region": "eu-west"}}}`, p.xdsAddr)
	builder, err := grpcxds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	cc, err := grpc.NewClient("xds:///app.gslb.example.com", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(builder))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
		t.Fatal(err)
	}

	metrics := func() string {
		resp, err := http.Get("http://" + p.httpAddr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	text := metrics()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(text, "meridian_health_state_changes_total{"); text = metrics() {
		if time.Now().After(deadline) {
			t.Fatal("no health state change counted")
		}
		time.Sleep(100 * time.Millisecond)
	}
	exported := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		exported[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	name := regexp.MustCompile(`\b(meridian|process|go)_[a-z0-9_]+`)
	queried := 0
	for _, panel := range dash.Panels {
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q queries nothing", panel.Title)
		}
		for _, target := range panel.Targets {
			for _, m := range name.FindAllString(target.Expr, -1) {
				queried++
				if !exported[m] {
					t.Errorf("panel %q queries %s, which /metrics does not export", panel.Title, m)
				}
			}
		}
	}
	if queried < 20 {
		t.Errorf("the dashboard queries only %d metrics", queried)
	}
}
