package hubspot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

var (
	// ErrUnauthorized reports a missing, wrong or expired access token (401).
	ErrUnauthorized = errors.New("hubspot: unauthorized")
	// ErrDailyLimit reports that the account's daily request limit is used up;
	// the client refuses further calls until the next midnight.
	ErrDailyLimit = errors.New("hubspot: daily API limit reached")
	// ErrPropertyMismatch reports an existing property whose definition is not
	// the one linehub needs.
	ErrPropertyMismatch = errors.New("hubspot: existing property does not match")
	// ErrNotFound reports a 404 for a single object (property, contact, group).
	ErrNotFound = errors.New("hubspot: not found")
	// ErrMissingScopes reports a 403 MISSING_SCOPES: the token works but
	// was not granted a scope the call needs (see RequiredScopes).
	ErrMissingScopes = errors.New("hubspot: token lacks a required scope")
	// ErrUnavailable reports HubSpot failing the call itself, on every
	// attempt: a 5xx answer or none at all (network error, timeout). It
	// says HubSpot is down, not that it refused the request.
	ErrUnavailable = errors.New("hubspot: unavailable")
)

// unavailableError marks a transport failure as ErrUnavailable without
// changing its message, which the dashboard shows as it is.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string        { return e.err.Error() }
func (e *unavailableError) Unwrap() error        { return e.err }
func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }

// Policy names HubSpot puts in the body of a 429.
const (
	policyDaily = "DAILY"
)

// Error categories HubSpot puts in error bodies.
const (
	categoryObjectNotFound      = "OBJECT_NOT_FOUND"
	categoryConflict            = "CONFLICT"
	categoryObjectAlreadyExists = "OBJECT_ALREADY_EXISTS"
	categoryMissingScopes       = "MISSING_SCOPES"
)

// A body is kept in APIError for diagnosis; beyond this it is cut, since a
// batch body can be large and errors end up in logs.
const maxErrorBody = 16 << 10

// APIError is a non-2xx answer from HubSpot, decoded from its error body:
//
//	{"status":"error","message":"...","correlationId":"...","category":"...",
//	 "subCategory":"...","context":{"ids":["1"]},"errors":[{"message":"...","code":"...","in":"..."}]}
//
// A 429 carries "errorType" and "policyName" instead of a category. HubSpot
// says every field is optional, so all of them may be empty.
type APIError struct {
	Status        int
	Category      string
	SubCategory   string
	Message       string
	CorrelationID string
	PolicyName    string
	Context       map[string][]string
	Errors        []ErrorDetail
	Body          string
}

// ErrorDetail is one entry of an error body's "errors" array.
type ErrorDetail struct {
	Message     string
	Code        string
	In          string
	SubCategory string
	Context     map[string][]string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hubspot: HTTP %d", e.Status)
	if e.Category != "" {
		b.WriteString(" " + e.Category)
	}
	if e.PolicyName != "" {
		b.WriteString(" (" + e.PolicyName + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.CorrelationID != "" {
		b.WriteString(" [correlationId " + e.CorrelationID + "]")
	}
	return b.String()
}

// Is lets callers test an APIError against the package's sentinel errors
// without caring which call produced it.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.Status == 401
	case ErrDailyLimit:
		return e.Status == 429 && e.PolicyName == policyDaily
	case ErrNotFound:
		return e.Status == 404
	case ErrMissingScopes:
		return e.Status == 403 && e.Category == categoryMissingScopes
	case ErrUnavailable:
		return e.Status >= 500
	}
	return false
}

// RequiredScopes lists the scopes a MISSING_SCOPES answer names; HubSpot
// puts them in errors[].context as requiredGranularScopes (or, in older
// answers, requiredScopes).
func RequiredScopes(err error) []string {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !errors.Is(apiErr, ErrMissingScopes) {
		return nil
	}
	var out []string
	for _, d := range apiErr.Errors {
		out = append(out, d.Context["requiredGranularScopes"]...)
		out = append(out, d.Context["requiredScopes"]...)
	}
	return out
}

var existingIDPattern = regexp.MustCompile(`Existing ID: ?(\d+)`)

// ExistingID extracts the id from HubSpot's conflict message
// "Contact already exists. Existing ID: 123".
func (e *APIError) ExistingID() (string, bool) {
	return existingID(e.Message)
}

func existingID(msg string) (string, bool) {
	m := existingIDPattern.FindStringSubmatch(msg)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// ConflictID returns the id of the existing contact when err is HubSpot's
// "Contact already exists" conflict.
func ConflictID(err error) (string, bool) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 409 {
		return "", false
	}
	return apiErr.ExistingID()
}

func (e *APIError) isConflict() bool {
	return e.Status == 409 || isConflictCategory(e.Category)
}

func isConflictCategory(c string) bool {
	return c == categoryConflict || c == categoryObjectAlreadyExists
}

// parseAPIError never fails: whatever HubSpot (or a proxy in front of it)
// sent, the caller gets an APIError with the status and the raw body, plus
// every field that could be read. Fields are picked one by one, so one of an
// unexpected type does not cost the others.
func parseAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status, Body: truncate(body, maxErrorBody)}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		e.Message = strings.TrimSpace(truncate(body, 200))
		return e
	}
	e.Category = lenientString(raw["category"])
	if e.Category == "" {
		e.Category = lenientString(raw["errorType"])
	}
	e.SubCategory = lenientString(raw["subCategory"])
	e.Message = lenientString(raw["message"])
	e.CorrelationID = lenientString(raw["correlationId"])
	e.PolicyName = lenientString(raw["policyName"])
	e.Context = lenientContext(raw["context"])
	var details []map[string]json.RawMessage
	if json.Unmarshal(raw["errors"], &details) == nil {
		for _, d := range details {
			e.Errors = append(e.Errors, ErrorDetail{
				Message:     lenientString(d["message"]),
				Code:        lenientString(d["code"]),
				In:          lenientString(d["in"]),
				SubCategory: lenientString(d["subCategory"]),
				Context:     lenientContext(d["context"]),
			})
		}
	}
	return e
}

// lenientContext decodes HubSpot's documented map[string][]string context but
// also survives the shapes seen in the wild (scalars, nested objects, or a
// whole context serialised into one string).
func lenientContext(raw json.RawMessage) map[string][]string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil
	}
	out := make(map[string][]string, len(fields))
	for k, v := range fields {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '[' {
			var items []json.RawMessage
			if err := json.Unmarshal(v, &items); err == nil {
				vals := make([]string, 0, len(items))
				for _, it := range items {
					vals = append(vals, lenientString(it))
				}
				out[k] = vals
				continue
			}
		}
		out[k] = []string{lenientString(v)}
	}
	return out
}

func lenientString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	return string(raw)
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
