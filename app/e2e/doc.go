// Package e2e holds the end-to-end tests: they build the real linehub
// binary, start it against the LINE and HubSpot doubles on loopback, and
// check what ends up in HubSpot.
package e2e
