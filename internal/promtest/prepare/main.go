// Command prepare builds the promtool the alerting rules' tests run, once
// per machine (it is cached), so that the first test does not spend
// minutes building it.
package main

import (
	"fmt"
	"os"

	"github.com/meridian-gtm/meridian/internal/promtest"
)

func main() {
	bin, err := promtest.Promtool()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
