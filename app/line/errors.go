package line

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Webhook errors. The web layer maps ErrNoSignature/ErrBadSignature to a
// 4xx without logging the body, and ErrBadBody to 400.
var (
	ErrNoSignature  = errors.New("line: webhook request has no X-Line-Signature header")
	ErrBadSignature = errors.New("line: webhook signature does not verify")
	ErrBadBody      = errors.New("line: webhook body is not a valid callback")
)

// API errors, matched with errors.Is on what the Client returns.
var (
	// ErrNotFriend: the profile endpoint answered 404. LINE does not say
	// why: the user blocked the account, never added it, deleted their
	// account or did not consent to profile access.
	ErrNotFriend = errors.New("line: user is not a friend (blocked, never added, or no profile consent)")
	// ErrUnauthorized: 401, the channel access token is wrong, revoked or expired.
	ErrUnauthorized = errors.New("line: channel access token rejected")
	// ErrForbidden: 403, the account or plan may not use this endpoint
	// (follower IDs need a verified or premium account).
	ErrForbidden = errors.New("line: not allowed for this LINE account")
	// ErrRateLimited: 429 that survived the client's retries.
	ErrRateLimited = errors.New("line: rate limited")
	// ErrQuotaExceeded: 429 "You have reached your monthly limit." Retrying
	// before the month (or the plan) changes is pointless, so the client
	// does not; errors.Is(err, ErrRateLimited) is also true.
	ErrQuotaExceeded = errors.New("line: monthly message quota exceeded")
)

// APIError is a non-2xx answer from the Messaging API.
type APIError struct {
	Status  int
	Message string
	// Details are LINE's details[] as "property: message" (or just the
	// message when LINE names no property).
	Details []string
	// RequestID is the X-Line-Request-Id header: what LINE support asks for.
	RequestID string
	// AcceptedRequestID is X-Line-Accepted-Request-Id, sent with a 409 for a
	// retry key that was already accepted.
	AcceptedRequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "line api: %d", e.Status)
	if e.Message != "" {
		b.WriteString(" ")
		b.WriteString(e.Message)
	} else {
		b.WriteString(" ")
		b.WriteString(http.StatusText(e.Status))
	}
	if len(e.Details) > 0 {
		b.WriteString(" (")
		b.WriteString(strings.Join(e.Details, "; "))
		b.WriteString(")")
	}
	if e.RequestID != "" {
		b.WriteString(" [request id ")
		b.WriteString(e.RequestID)
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap lets errors.Is match the sentinel that fits the status, so callers
// need not know status codes.
func (e *APIError) Unwrap() []error {
	switch {
	case e.Status == http.StatusUnauthorized:
		return []error{ErrUnauthorized}
	case e.Status == http.StatusForbidden:
		return []error{ErrForbidden}
	case e.Status == http.StatusTooManyRequests && e.isQuota():
		return []error{ErrRateLimited, ErrQuotaExceeded}
	case e.Status == http.StatusTooManyRequests:
		return []error{ErrRateLimited}
	}
	return nil
}

// isQuota tells the monthly-quota 429 from the rate-limit 429; LINE uses
// one status for both and only the message differs.
func (e *APIError) isQuota() bool {
	return strings.Contains(strings.ToLower(e.Message), "monthly limit")
}

// errorBody is LINE's documented error response.
type errorBody struct {
	Message string `json:"message"`
	Details []struct {
		Message  string `json:"message"`
		Property string `json:"property"`
	} `json:"details"`
}

// newAPIError builds an APIError from a response whose body the SDK has
// already buffered. A body that is not LINE's JSON (a proxy's HTML page, say)
// is kept, shortened, as the message so the cause is still visible.
func newAPIError(status int, h http.Header, body []byte) *APIError {
	e := &APIError{
		Status:            status,
		RequestID:         h.Get("X-Line-Request-Id"),
		AcceptedRequestID: h.Get("X-Line-Accepted-Request-Id"),
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Message != "" {
		e.Message = eb.Message
		for _, d := range eb.Details {
			switch {
			case d.Property != "" && d.Message != "":
				e.Details = append(e.Details, d.Property+": "+d.Message)
			case d.Message != "":
				e.Details = append(e.Details, d.Message)
			case d.Property != "":
				e.Details = append(e.Details, d.Property)
			}
		}
		return e
	}
	e.Message = strings.TrimSpace(truncate(string(body), 200))
	return e
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the message stays valid UTF-8.
	for n > 0 && n < len(s) && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}
