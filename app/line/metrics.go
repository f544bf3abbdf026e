package line

import (
	"net/http"

	"linehub/app/metrics"
)

// observe counts one attempt of a LINE API call by operation and status.
func observe(op string, res *http.Response) {
	status := 0
	if res != nil {
		status = res.StatusCode
	}
	metrics.LINERequests.Inc(op, metrics.Status(status))
}
