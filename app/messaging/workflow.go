package messaging

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/store"
)

// HubSpot's "Send a webhook" workflow action posts the enrolled contact to
// /hooks/hubspot/send/{connection key}. HubSpot retries failures for up to
// three days (not after a 4xx, except 429, whose Retry-After it reads in
// milliseconds), so the endpoint must be idempotent: see workflowIdemKey.

// AuthError is a workflow call that failed authentication.
type AuthError struct{ Msg string }

func (e *AuthError) Error() string { return e.Msg }

// SkipError is a workflow call that is valid but cannot be delivered to
// this contact (no LINE user id, blocked); retrying would not help. Code
// says which, for callers that report it (SkipNotFriend, SkipBlocked,
// SkipExpired).
type SkipError struct {
	Msg  string
	Code string
}

// SkipError codes.
const (
	SkipNotFriend = "not_friend" // no LINE user for this contact on this connection
	SkipBlocked   = "blocked"    // the friend blocked the account
	SkipExpired   = "expired"    // an unclear send too old for its retry key
)

func (e *SkipError) Error() string { return e.Msg }

// retryWindow is how long HubSpot keeps retrying a failed webhook: a call
// without any id that repeats a message to a contact within it is a retry.
const retryWindow = 72 * time.Hour

// WorkflowCall is one request to the workflow endpoint.
type WorkflowCall struct {
	ConnectionKey string
	APIKey        string
	Method        string
	// URIs are the full request URLs HubSpot may have signed; the web
	// server passes only the public URL, never one built from the request.
	URIs      []string
	Timestamp string // X-HubSpot-Request-Timestamp (ms)
	Signature string // X-HubSpot-Signature-v3
	Body      []byte
	Query     url.Values
	Now       time.Time
}

// WorkflowRequest is what linehub reads from a workflow call.
type WorkflowRequest struct {
	ContactID  string
	Properties map[string]string // contact properties, lowercased names
	CallbackID string
	IdemKey    string
	EnrolledAt string
	To         string // explicit LINE user id
	Template   string
	Input      MessageInput
}

// ParseWorkflowRequest reads a workflow webhook body (HubSpot's contact
// payload with "properties", a custom body of chosen fields, or a custom
// action's "fields"/"inputFields") plus the URL's query parameters, which
// the workflow editor lets the admin fix per action (?template=welcome).
func ParseWorkflowRequest(body []byte, query url.Values) (WorkflowRequest, error) {
	r := WorkflowRequest{Properties: map[string]string{}}
	var top map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&top); err != nil {
			return r, connections.InputErr("body must be a JSON object (HubSpot contact payload)")
		}
	}
	// Settings of the call (message, template, ids) come from the URL, the
	// body's top level or a custom action's input fields, never from the
	// contact's properties: a form's "message" property must not become
	// the LINE message.
	params := map[string]string{}
	for k, v := range top {
		if s, ok := scalar(v); ok {
			params[strings.ToLower(k)] = s
			r.Properties[strings.ToLower(k)] = s // a custom body's fields fill placeholders too
		}
	}
	for _, name := range []string{"fields", "inputFields"} {
		var m map[string]json.RawMessage
		if raw, ok := top[name]; ok && json.Unmarshal(raw, &m) == nil {
			for k, v := range m {
				if s, ok := scalar(v); ok {
					params[strings.ToLower(k)] = s
					r.Properties[strings.ToLower(k)] = s
				}
			}
		}
	}
	var contact map[string]json.RawMessage
	if raw, ok := top["properties"]; ok && json.Unmarshal(raw, &contact) == nil {
		for k, v := range contact {
			if s, ok := scalar(v); ok {
				r.Properties[strings.ToLower(k)] = s
			}
		}
	}
	str := func(keys ...string) string {
		for _, k := range keys {
			if v := strings.TrimSpace(query.Get(k)); v != "" {
				return v
			}
			if v := strings.TrimSpace(params[strings.ToLower(k)]); v != "" {
				return v
			}
		}
		return ""
	}
	r.CallbackID = str("callbackId")
	r.IdemKey = str("idempotency_key", "idempotencyKey")
	r.EnrolledAt = str("enrolledAt", "enrollment_time", "enrollmentTime")
	r.Template = str("template", "template_name", "templateId")
	r.To = str("line_user_id", "to")
	r.Input.Text = str("text", "message")
	r.ContactID = str("objectId", "vid", "contact_id")
	if r.ContactID == "" {
		r.ContactID = strings.TrimSpace(r.Properties["hs_object_id"])
	}
	if r.ContactID == "" {
		var obj struct {
			ObjectID json.Number `json:"objectId"`
		}
		if raw, ok := top["object"]; ok && json.Unmarshal(raw, &obj) == nil {
			r.ContactID = obj.ObjectID.String()
		}
	}
	if raw, ok := top["messages"]; ok {
		r.Input.Messages = raw
	} else if v := query.Get("messages"); v != "" {
		r.Input.Messages = json.RawMessage(v)
	}
	if r.Template != "" && (r.Input.Text != "" || len(r.Input.Messages) > 0) {
		return r, connections.InputErr("give a template or a message, not both")
	}
	if r.Template == "" && r.Input.Text == "" && len(r.Input.Messages) == 0 {
		return r, connections.InputErr("no message: add ?template=NAME to the webhook URL, or text/messages to the body")
	}
	return r, nil
}

// scalar reads a property value: a string, number or bool, or HubSpot's
// legacy {"value": ...} wrapper.
func scalar(raw json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	var bl bool
	if json.Unmarshal(raw, &bl) == nil {
		return strconv.FormatBool(bl), true
	}
	var w struct {
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &w) == nil && len(w.Value) > 0 && w.Value[0] != '{' {
		return scalar(w.Value)
	}
	return "", false
}

// workflowIdemKey picks what makes two calls "the same": an explicit key,
// HubSpot's callbackId, or a hash of contact, recipient, message source
// (the template, or the message as written, before placeholders are
// filled, so a property edited between retries changes nothing) and
// enrollment time. Without an enrollment time the hash only counts as a
// retry within HubSpot's three-day retry window.
func workflowIdemKey(r WorkflowRequest, to string, source []byte) (key string, renew time.Duration) {
	switch {
	case r.IdemKey != "":
		return "key:" + r.IdemKey, 0
	case r.CallbackID != "":
		return "cb:" + r.CallbackID, 0
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", r.ContactID, to)
	h.Write(source)
	if r.EnrolledAt != "" {
		fmt.Fprintf(h, "\x00%s", r.EnrolledAt)
		return "hash:" + hex.EncodeToString(h.Sum(nil)), 0
	}
	return "hash:" + hex.EncodeToString(h.Sum(nil)), retryWindow
}

// HandleWorkflow authenticates and carries out one workflow call.
func (b *Service) HandleWorkflow(ctx context.Context, call WorkflowCall) (SendResult, error) {
	cs, err := b.conns.ByKey(ctx, call.ConnectionKey)
	if err != nil {
		return SendResult{}, err
	}
	connID := cs.Conn.ID
	if err := b.authenticateWorkflow(ctx, connID, call); err != nil {
		return SendResult{}, err
	}
	req, err := ParseWorkflowRequest(call.Body, call.Query)
	if err != nil {
		return SendResult{}, err
	}
	return b.sendWorkflow(ctx, cs, req, false)
}

// sendWorkflow sends what a workflow call asked for. readMissing fills
// placeholders the call carried no value for from the HubSpot contact
// (the custom action's request has only the properties its definition
// names; "Send a webhook" has them all).
func (b *Service) sendWorkflow(ctx context.Context, cs *connections.Conn, req WorkflowRequest, readMissing bool) (SendResult, error) {
	connID := cs.Conn.ID
	if cs.Client == nil {
		return SendResult{}, connections.NoChannelTokenErr()
	}
	var msgs []json.RawMessage
	var source, content []byte // content: source with the same message always written alike
	var err error
	if req.Template != "" {
		t, err := b.templateByRef(ctx, req.Template)
		if err != nil {
			return SendResult{}, err
		}
		if err := json.Unmarshal([]byte(t.Messages), &msgs); err != nil {
			return SendResult{}, fmt.Errorf("template %d: %w", t.ID, err)
		}
		source = []byte("template:" + store.IDString(t.ID))
		content = source
	} else {
		if msgs, err = req.Input.messages(); err != nil {
			return SendResult{}, err
		}
		source, _ = json.Marshal(msgs)
		content = canonicalMessages(msgs)
	}
	to, err := b.workflowRecipient(ctx, cs, req)
	if err != nil {
		return SendResult{}, err
	}
	if readMissing {
		if err := b.readMissingProperties(ctx, req, msgs); err != nil {
			return SendResult{}, err
		}
	}
	if msgs, err = Render(msgs, req.Properties); err != nil {
		return SendResult{}, err
	}
	key, renew := workflowIdemKey(req, to, source)
	// HubSpot retries the call (and with it the stored retry key), so LINE
	// is asked once per call and a 429 goes back to HubSpot at once.
	once := *cs
	once.Client = cs.Client.WithRetries(0)
	return b.deliver(ctx, &once, "workflow", key, requestHash(connID, to, content), renew, to, msgs)
}

// authenticateWorkflow applies the connection's rule. HubSpot's action
// authenticates one way or the other ("Include request signature in
// header" with an app, or an API key), so: with a signing secret set the
// v3 signature is required (and a key, if sent, must be right); without
// one the API key is required.
func (b *Service) authenticateWorkflow(ctx context.Context, connID int64, call WorkflowCall) error {
	hk, err := b.st.HookKeyInfo(ctx, connID)
	if errors.Is(err, store.ErrNotFound) {
		return &AuthError{"this connection has no workflow key yet: create one in linehub first"}
	}
	if err != nil {
		return err
	}
	secret, err := b.st.HookSigningSecret(hk)
	if err != nil {
		return err
	}
	if call.APIKey != "" || secret == "" {
		if call.APIKey == "" {
			return &AuthError{"missing " + WorkflowKeyHeader + " header (the connection's workflow key)"}
		}
		ok, err := b.st.CheckHookKey(ctx, connID, call.APIKey)
		if err != nil {
			return err
		}
		if !ok {
			return &AuthError{"wrong workflow key for this connection"}
		}
	}
	if secret == "" {
		return nil
	}
	sigErr := error(&AuthError{"no request URI to verify the signature against"})
	for _, u := range call.URIs {
		err := hubspot.VerifySignatureV3(secret, call.Method, u, call.Body, call.Timestamp, call.Signature, call.Now)
		if err == nil {
			return nil
		}
		sigErr = &AuthError{err.Error()}
	}
	return sigErr
}

// workflowRecipient finds the contact's LINE user for this connection:
// given explicitly, from the payload's line_user_id_N, or from linehub's
// own record of the contact.
func (b *Service) workflowRecipient(ctx context.Context, cs *connections.Conn, r WorkflowRequest) (string, error) {
	serial := cs.Conn.Serial
	to := r.To
	if to == "" {
		to = r.Properties[contactsync.PropertyName("line_user_id", serial)]
	}
	var f *store.Friend
	if r.ContactID != "" {
		fs, err := b.st.FriendsByContact(ctx, cs.Conn.ID, []string{r.ContactID})
		if err != nil {
			return "", err
		}
		f = fs[r.ContactID]
	}
	if to == "" && f != nil {
		to = f.UserID
	}
	if to == "" {
		return "", &SkipError{Msg: fmt.Sprintf("contact %s has no LINE user id for this connection (%s is empty): include all contact properties in the webhook", r.ContactID, contactsync.PropertyName("line_user_id", serial)), Code: SkipNotFriend}
	}
	if !isUserID(to) {
		return "", connections.InputErr("%q is not a LINE user id", to)
	}
	if f == nil || f.UserID != to {
		fs, err := b.st.FriendsByUser(ctx, cs.Conn.ID, []string{to})
		if err != nil {
			return "", err
		}
		f = fs[to]
	}
	// linehub's own follow state is the freshest; the payload's property is
	// the fallback for friends it has not seen.
	blocked := r.Properties[contactsync.PropertyName("line_follow", serial)] == "No"
	if f != nil && f.FollowAt > 0 {
		blocked = !f.Following
	}
	if blocked {
		return "", &SkipError{Msg: "this LINE friend has blocked the account (LINE Follow = No); nothing was sent", Code: SkipBlocked}
	}
	return to, nil
}

// WorkflowKey is a connection's workflow key as the API shows it.
type WorkflowKey struct {
	ConnectionID int64     `json:"connection_id"`
	Key          string    `json:"key,omitempty"` // only when just created
	Last4        string    `json:"key_last4"`
	Header       string    `json:"header"`
	URL          string    `json:"url"`
	Signed       bool      `json:"signature_required"`
	Auth         string    `json:"auth"`  // "signature" (HubSpot app secret set) or "api_key"
	Steps        []string  `json:"steps"` // what to set in HubSpot's workflow editor
	UpdatedAt    time.Time `json:"updated_at"`
}

// WorkflowKeyHeader is the request header that carries the key.
const WorkflowKeyHeader = "X-Linehub-Key"

// WorkflowURL is the URL to paste into HubSpot's "Send a webhook" action.
func (b *Service) WorkflowURL(c *store.Connection) string {
	return strings.TrimRight(b.cfg.WebhookBaseURL(), "/") + "/hooks/hubspot/send/" + c.Key
}

// RotateWorkflowKey issues a new key (the old one stops working) and
// returns it in clear, once.
func (b *Service) RotateWorkflowKey(ctx context.Context, connID int64) (WorkflowKey, error) {
	c, err := b.st.Connection(ctx, connID)
	if err != nil {
		return WorkflowKey{}, err
	}
	plain, err := b.st.RotateHookKey(ctx, connID)
	if err != nil {
		return WorkflowKey{}, err
	}
	k, err := b.WorkflowKeyInfo(ctx, c)
	k.Key = plain
	return k, err
}

// WorkflowKeyInfo describes a connection's key without revealing it.
func (b *Service) WorkflowKeyInfo(ctx context.Context, c *store.Connection) (WorkflowKey, error) {
	k := WorkflowKey{ConnectionID: c.ID, Header: WorkflowKeyHeader, URL: b.WorkflowURL(c), Auth: "api_key"}
	hk, err := b.st.HookKeyInfo(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return k, nil
	}
	if err != nil {
		return k, err
	}
	k.Last4, k.Signed, k.UpdatedAt = hk.Last4, hk.SigningSecretSealed != "", hk.UpdatedAt
	if k.Signed {
		k.Auth = "signature"
	}
	k.Steps = workflowSteps(k)
	return k, nil
}

func workflowSteps(k WorkflowKey) []string {
	steps := []string{
		`In HubSpot, open Automation > Workflows, edit a contact-based workflow and add the action "Send a webhook".`,
		`Method: POST. Webhook URL: ` + k.URL + `?template=NAME (a saved template), or ?text=Hello%20{{firstname}} for a one-off text.`,
	}
	if k.Auth == "signature" {
		steps = append(steps, `Authentication type: "Include request signature in header", with the app whose client secret is set in linehub.`)
	} else {
		steps = append(steps, `Authentication type: "API key". API key name: `+k.Header+`. Location: Request header. Add the key linehub showed when it was created as a HubSpot secret and pick it.`)
	}
	return append(steps,
		`Request body: "Include all contact properties", so linehub sees the contact's LINE user id and the values for {{placeholders}}.`,
		`Contacts without a LINE user id for this account, or who blocked it, are answered 422 and nothing is sent; HubSpot's retries never send twice.`)
}

// SetWorkflowSigningSecret sets (or clears with "") the HubSpot app client
// secret; while set, every workflow call must carry a valid v3 signature.
func (b *Service) SetWorkflowSigningSecret(ctx context.Context, connID int64, secret string) error {
	if _, err := b.st.Connection(ctx, connID); err != nil {
		return err
	}
	return b.st.SetHookSigningSecret(ctx, connID, strings.TrimSpace(secret))
}
