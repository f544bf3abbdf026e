// Package assets holds the files linehub serves, embedded in the binary so
// that one file is the whole appliance.
package assets

import "embed"

// UI holds the admin dashboard: HTML templates, the message catalogues
// (one JSON file per language) and static files (CSS, JS).
//
//go:embed templates i18n static
var UI embed.FS
