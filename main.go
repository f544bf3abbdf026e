// Command linehub connects LINE Official Accounts to a HubSpot portal.
package main

import (
	"fmt"
	"os"

	"linehub/app/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := cli.Run(os.Args[1:], os.Stdout, os.Stderr, version); err != nil {
		fmt.Fprintln(os.Stderr, "linehub:", err)
		os.Exit(1)
	}
}
