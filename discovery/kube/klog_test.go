package kube

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"k8s.io/klog/v2"
)

func TestRouteClientLogs(t *testing.T) {
	var buf bytes.Buffer
	RouteClientLogs(slog.New(slog.NewJSONHandler(&buf, nil)))
	defer klog.ClearLogger()
	klog.Warning("watch of *v1.Lease ended with: too old resource version")
	klog.Flush()
	var rec map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &rec); err != nil || rec["msg"] != "watch of *v1.Lease ended with: too old resource version" {
		t.Fatalf("klog's line came out as %q (%v), want one JSON record", buf.String(), err)
	}
}
