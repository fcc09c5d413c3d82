// Command prepare builds the kube-apiserver the tests run, once per machine
// (it is cached), so that the first test does not spend minutes building it.
package main

import (
	"fmt"
	"os"

	"github.com/meridian-gtm/meridian/internal/kubetest"
)

func main() {
	bin, err := kubetest.APIServerBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
