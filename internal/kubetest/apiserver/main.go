// Command kube-apiserver is the Kubernetes API server, built from the
// k8s.io/kubernetes module at the version go.mod pins, for Meridian's tests:
// internal/kubetest starts one per simulated member cluster. It is its own
// module so that Meridian's go.mod does not carry Kubernetes' dependencies.
package main

import (
	"os"

	_ "time/tzdata" // the API server validates CronJob time zones

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
