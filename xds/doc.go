// Package xds will be Meridian's Envoy control plane: an ADS server on
// go-control-plane that renders every Plan as listeners, routes, clusters and
// locality-weighted endpoints for gateways, sidecars and proxyless gRPC
// clients, so that proxies follow the same decision as the GeoDNS.
//
// go-control-plane is to be imported here and nowhere else.
package xds
