package hubspottest

// HubSpot's side of an app's custom workflow action: the workflow engine
// calling the action URL for each enrolled object, and the workflow
// editor calling an input field's optionsUrl. What it reproduces, and
// where that was checked:
//
//   - The execution request: POST actionUrl with
//     {"callbackId", "origin": {"portalId", "actionDefinitionId",
//     "actionDefinitionVersion"}, "context": {"source": "WORKFLOWS",
//     "workflowId"}, "object": {"objectId", "objectType", "properties"
//     (those objectRequestOptions.properties names)}, "inputFields"}
//     (https://developers.hubspot.com/docs/api-reference/automation-actions-v4-v4/custom-action-guide,
//     https://developers.hubspot.com/docs/api-reference/latest/automation/workflow-actions/custom-action-reference).
//   - The options fetch: POST optionsUrl with {"origin", "inputFields"
//     (each {"type": "STATIC_VALUE", "value"}), "fetchOptions": {"q",
//     "after"}}; the answer is {"options": [{"label", "value",
//     "description"}], "after", "searchable"} (same reference, "Fetch
//     external data fields").
//   - Signatures: X-HubSpot-Signature-v3 = base64(HMAC-SHA256(client
//     secret, method + URI + body + timestamp)) with
//     X-HubSpot-Request-Timestamp, each attempt signed afresh; the v2
//     signature (X-HubSpot-Signature = hex SHA-256 of secret + method +
//     URI + body, X-HubSpot-Signature-Version: v2) is sent alongside for
//     compatibility
//     (https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation).
//   - Retries: a connection failure, a timeout (30 s), a 5xx or a 429 is
//     retried, starting one minute after the failure at growing intervals
//     up to eight hours apart for three days; a 429's Retry-After (seconds)
//     sets the wait; any other 4xx or a 2xx ends it
//     (https://knowledge.hubspot.com/workflows/how-do-i-use-webhooks-with-hubspot-workflows,
//     https://developers.hubspot.com/docs/methods/workflows/webhook_information).
//     Retry.Sleep lets tests compress the waits.
//
// Not reproduced: ASYNC/BLOCK completions through the callbacks API,
// execution rules' rendering, HubSpot's exact backoff jitter.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// ActionCaller calls an app's workflow action as HubSpot does.
type ActionCaller struct {
	ClientSecret       string
	PortalID           int64
	ActionDefinitionID int64
	// HTTPClient defaults to one with HubSpot's 30 s answer timeout.
	HTTPClient *http.Client
	// Now signs the requests (time.Now when nil).
	Now func() time.Time
}

// ActionExecution is one enrolled contact reaching the action.
type ActionExecution struct {
	CallbackID  string
	WorkflowID  int64
	ObjectID    string
	ObjectType  string            // "CONTACT" when empty
	Properties  map[string]string // objectRequestOptions.properties
	InputFields map[string]string
}

// ActionResponse is what the action URL answered to one attempt.
type ActionResponse struct {
	Status       int
	Header       http.Header
	Body         []byte
	OutputFields map[string]any
	Err          error // the attempt failed before an answer (connection, timeout)
}

// State is outputFields.hs_execution_state.
func (r ActionResponse) State() string {
	s, _ := r.OutputFields["hs_execution_state"].(string)
	return s
}

// NewCallbackID is an id shaped like HubSpot's ("ap-<portal>-<n>-<n>-0").
func NewCallbackID(portalID int64) string {
	n, _ := rand.Int(rand.Reader, big.NewInt(1e11))
	m, _ := rand.Int(rand.Reader, big.NewInt(100))
	return fmt.Sprintf("ap-%d-%d-%d-0", portalID, n.Int64()+1e10, m.Int64())
}

// Body is the execution request HubSpot sends.
func (a *ActionCaller) Body(x ActionExecution) []byte {
	typ := x.ObjectType
	if typ == "" {
		typ = "CONTACT"
	}
	props := x.Properties
	if props == nil {
		props = map[string]string{}
	}
	in := x.InputFields
	if in == nil {
		in = map[string]string{}
	}
	id, err := strconv.ParseInt(x.ObjectID, 10, 64)
	var objectID any = id
	if err != nil {
		objectID = x.ObjectID
	}
	b, _ := json.Marshal(map[string]any{
		"callbackId":  x.CallbackID,
		"origin":      map[string]any{"portalId": a.PortalID, "actionDefinitionId": a.ActionDefinitionID, "actionDefinitionVersion": 1},
		"context":     map[string]any{"source": "WORKFLOWS", "workflowId": x.WorkflowID},
		"object":      map[string]any{"objectId": objectID, "objectType": typ, "properties": props},
		"inputFields": in,
	})
	return b
}

// OptionsBody is an options fetch for the editor's current field values,
// search text q and page cursor after.
func (a *ActionCaller) OptionsBody(inputFields map[string]string, q, after string) []byte {
	in := map[string]any{}
	for k, v := range inputFields {
		in[k] = map[string]any{"type": "STATIC_VALUE", "value": v}
	}
	fetch := map[string]any{}
	if q != "" {
		fetch["q"] = q
	}
	if after != "" {
		fetch["after"] = after
	}
	b, _ := json.Marshal(map[string]any{
		"origin":       map[string]any{"portalId": a.PortalID, "actionDefinitionId": a.ActionDefinitionID, "actionDefinitionVersion": 1},
		"inputFields":  in,
		"fetchOptions": fetch,
	})
	return b
}

// Post sends one signed attempt of body to url.
func (a *ActionCaller) Post(ctx context.Context, url string, body []byte) ActionResponse {
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	hc := a.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: ActionTimeout}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return ActionResponse{Err: err}
	}
	ts := strconv.FormatInt(now().UnixMilli(), 10)
	v2 := sha256.Sum256([]byte(a.ClientSecret + http.MethodPost + url + string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/)")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", SignatureV3(a.ClientSecret, http.MethodPost, url, body, ts))
	req.Header.Set("X-HubSpot-Signature", hex.EncodeToString(v2[:]))
	req.Header.Set("X-HubSpot-Signature-Version", "v2")
	resp, err := hc.Do(req)
	if err != nil {
		return ActionResponse{Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	out := ActionResponse{Status: resp.StatusCode, Header: resp.Header, Body: raw, Err: err}
	var m struct {
		OutputFields map[string]any `json:"outputFields"`
	}
	if json.Unmarshal(raw, &m) == nil {
		out.OutputFields = m.OutputFields
	}
	return out
}

// ActionTimeout is how long HubSpot waits for an answer.
const ActionTimeout = 30 * time.Second

// Retry is how HubSpot repeats an execution that failed.
type Retry struct {
	// MaxAttempts stops earlier than HubSpot's three days (0: no limit
	// but the three days of waits).
	MaxAttempts int
	// Sleep waits between attempts; tests pass one that does not wait
	// the real minutes. time.Sleep when nil.
	Sleep func(time.Duration)
}

// retryable is what HubSpot retries.
func retryable(r ActionResponse) bool {
	return r.Err != nil || r.Status >= 500 || r.Status == http.StatusTooManyRequests
}

// RetryDelay is HubSpot's wait before attempt n+1 after attempt n (from
// 1) failed: a minute, then doubling, at most eight hours; a 429's
// Retry-After in seconds instead.
func RetryDelay(n int, last ActionResponse) time.Duration {
	if last.Status == http.StatusTooManyRequests {
		if s, err := strconv.Atoi(last.Header.Get("Retry-After")); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
	}
	d := time.Minute << min(n-1, 10)
	return min(d, 8*time.Hour)
}

// actionRetryWindow is how long HubSpot keeps retrying.
const actionRetryWindow = 72 * time.Hour

// Execute runs an execution to its end as HubSpot does: attempts until
// one is not retryable, the attempts run out or three days of waits have
// passed. It returns every attempt's answer, the last one last.
func (a *ActionCaller) Execute(ctx context.Context, url string, x ActionExecution, r Retry) []ActionResponse {
	sleep := r.Sleep
	if sleep == nil {
		sleep = time.Sleep
	}
	body := a.Body(x)
	var out []ActionResponse
	var waited time.Duration
	for n := 1; ; n++ {
		res := a.Post(ctx, url, body)
		out = append(out, res)
		if !retryable(res) || (r.MaxAttempts > 0 && n >= r.MaxAttempts) || ctx.Err() != nil {
			return out
		}
		d := RetryDelay(n, res)
		if waited+d > actionRetryWindow {
			return out
		}
		waited += d
		sleep(d)
	}
}

// OptionsPage is an options fetch's answer.
type OptionsPage struct {
	Status  int
	Options []struct {
		Label       string `json:"label"`
		Value       string `json:"value"`
		Description string `json:"description"`
	} `json:"options"`
	After      string `json:"after"`
	Searchable bool   `json:"searchable"`
	Body       []byte `json:"-"`
}

// FetchOptions asks url for a field's options as the workflow editor does.
func (a *ActionCaller) FetchOptions(ctx context.Context, url string, inputFields map[string]string, q, after string) (OptionsPage, error) {
	res := a.Post(ctx, url, a.OptionsBody(inputFields, q, after))
	if res.Err != nil {
		return OptionsPage{}, res.Err
	}
	var o OptionsPage
	if res.Status == http.StatusOK {
		if err := json.Unmarshal(res.Body, &o); err != nil {
			return o, fmt.Errorf("options answer %s: %w", res.Body, err)
		}
	}
	o.Status, o.Body = res.Status, res.Body
	return o, nil
}
