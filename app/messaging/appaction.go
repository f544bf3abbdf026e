package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"linehub/app/connections"
	"linehub/app/store"
)

// AppAction is one execution of the HubSpot app's "Send LINE message"
// workflow action, already verified (signature, portal) by the web layer.
// HubSpot sends it as
//
//	{"callbackId": "ap-…", "origin": {"portalId": …, "actionDefinitionId": …},
//	 "context": {"source": "WORKFLOWS", "workflowId": …},
//	 "object": {"objectId": …, "objectType": "CONTACT", "properties": {…}},
//	 "inputFields": {"connection": "…", "template": "…", "text": "…"}}
//
// (https://developers.hubspot.com/docs/api-reference/automation-actions-v4-v4/custom-action-guide).
type AppAction struct {
	ConnectionID int64
	// CallbackID is HubSpot's id of this execution; every retry of it
	// carries the same one, so it is the idempotency key.
	CallbackID string
	ContactID  string
	Template   string // a template's id or name, or ""
	Text       string // the message text with {{placeholders}}, when no template
	// Properties are the contact's properties HubSpot included
	// (objectRequestOptions), lowercased names.
	Properties map[string]string
}

// ErrNoConnection is an action naming a connection linehub does not have
// (deleted since the workflow was built).
var ErrNoConnection = errors.New("the LINE connection chosen in this action no longer exists in linehub")

// HandleAppAction sends the action's message once per callback id, exactly
// as a "Send a webhook" call with that callbackId: the send and its LINE
// retry key are stored before LINE is called, a retry of a sent execution
// answers Duplicate without calling LINE, and an unclear one is sent again
// with the same retry key.
func (b *Service) HandleAppAction(ctx context.Context, a AppAction) (SendResult, error) {
	if strings.TrimSpace(a.CallbackID) == "" {
		return SendResult{}, connections.InputErr("no callbackId: HubSpot names every execution of a workflow action")
	}
	template, text := strings.TrimSpace(a.Template), strings.TrimSpace(a.Text)
	switch {
	case template != "" && text != "":
		return SendResult{}, connections.InputErr("choose a template or write a text, not both")
	case template == "" && text == "":
		return SendResult{}, connections.InputErr("no message: choose a template or write a text in the action")
	}
	cs, err := b.conns.ByID(ctx, a.ConnectionID)
	if errors.Is(err, store.ErrNotFound) {
		return SendResult{}, ErrNoConnection
	}
	if err != nil {
		return SendResult{}, fmt.Errorf("connection %d: %w", a.ConnectionID, err)
	}
	props := make(map[string]string, len(a.Properties))
	for k, v := range a.Properties {
		props[strings.ToLower(k)] = v
	}
	req := WorkflowRequest{ContactID: a.ContactID, Properties: props, CallbackID: a.CallbackID, Template: template, Input: MessageInput{Text: text}}
	return b.sendWorkflow(ctx, cs, req, true)
}

// readMissingProperties reads from HubSpot the contact properties the
// messages refer to that the request did not carry, so {{company}} works
// without naming every property in the action's definition.
func (b *Service) readMissingProperties(ctx context.Context, req WorkflowRequest, msgs []json.RawMessage) error {
	var missing []string
	for _, n := range placeholdersIn(msgs) {
		if _, ok := req.Properties[n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 || req.ContactID == "" {
		return nil
	}
	found, _, err := b.hs.BatchReadContacts(ctx, []string{req.ContactID}, missing)
	if err != nil {
		return fmt.Errorf("read contact %s for its placeholders: %w", req.ContactID, err)
	}
	c := found[req.ContactID]
	for _, n := range missing {
		req.Properties[n] = c.Properties[n]
	}
	return nil
}
