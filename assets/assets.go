// Package assets holds the files linehub serves, embedded in the binary so
// that one file is the whole appliance.
package assets

import "embed"

// Pages are the HTML pages served by the web package.
//
//go:embed pages
var Pages embed.FS
