package kube

import (
	"log/slog"

	"k8s.io/klog/v2"
)

// RouteClientLogs sends client-go's own log lines (failed watches,
// retries, throttling) through logger, so that they come out in the
// process's format, JSON lines included, rather than as klog's plain text
// on stderr. It applies to every Kubernetes client of the process: the
// members', and the home cluster's of the shared store.
func RouteClientLogs(logger *slog.Logger) { klog.SetSlogLogger(logger) }
