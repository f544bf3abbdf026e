package hubspot

import (
	"net/http"
	"strings"

	"linehub/app/metrics"
)

// endpointWords are the fixed path segments of this client's requests;
// any other segment (a property or group name, an id) becomes {name}, so a
// metric label names the endpoint, not the object.
var endpointWords = map[string]bool{
	"crm": true, "objects": true, "properties": true, "account-info": true, "details": true,
	"contacts": true, "batch": true, "create": true, "update": true, "upsert": true, "read": true,
	"archive": true, "search": true, "groups": true, APIVersion: true,
}

func endpointLabel(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		if !endpointWords[s] {
			segs[i] = "{name}"
		}
	}
	return method + " /" + strings.Join(segs, "/")
}

// observe counts one HTTP exchange with HubSpot (status 0: no response).
func observe(method, path string, status int) {
	ep := endpointLabel(method, path)
	metrics.HubSpotRequests.Inc(ep, metrics.Status(status))
	if status == http.StatusTooManyRequests {
		metrics.HubSpotRateLimited.Inc(ep)
	}
}
