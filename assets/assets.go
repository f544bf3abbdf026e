// Package assets holds the files linehub serves, embedded in the binary so
// that one file is the whole appliance.
package assets

import "embed"

// Pages are the HTML pages served by the web package.
//
//go:embed pages
var Pages embed.FS

// UI holds the admin dashboard: HTML templates, the message catalogues
// (one JSON file per language) and static files (CSS, JS).
//
//go:embed templates i18n static
var UI embed.FS
