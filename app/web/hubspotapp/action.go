package hubspotapp

// The app's custom workflow action "Send LINE message"
// (src/app/workflow-actions/send-line-message-hsmeta.json in the project
// linehub writes). HubSpot's rules it is built on:
//
//   - Definition (developer platform 2025.2/2026.03: actionUrl,
//     inputFields with optionsUrl, objectTypes, objectRequestOptions,
//     labels per language, outputFields, executionRules):
//     https://developers.hubspot.com/docs/apps/developer-platform/add-features/custom-workflow-actions
//     https://developers.hubspot.com/docs/api-reference/latest/automation/workflow-actions/custom-action-reference
//   - Execution: HubSpot POSTs {callbackId, origin{portalId,
//     actionDefinitionId, actionDefinitionVersion}, context{source,
//     workflowId}, object{objectId, objectType, properties},
//     inputFields} to actionUrl, signed like every app request (v3 with
//     the client secret; older versions alongside for compatibility:
//     https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation).
//     The answer's outputFields carry hs_execution_state (SUCCESS,
//     FAIL_CONTINUE, BLOCK, ASYNC) and the output fields a workflow can
//     branch on; errorCode selects an execution rule's message.
//     https://developers.hubspot.com/docs/api-reference/automation-actions-v4-v4/custom-action-guide
//   - Options fetch: POST to optionsUrl with {origin, inputFields,
//     fetchOptions{q, after}}; answer {options: [{label, value,
//     description}], after, searchable}.
//   - Retries: a workflow's outgoing calls are retried for up to three
//     days on connection failures, timeouts and 5xx, never after a 4xx
//     except 429, whose Retry-After is honoured; HubSpot waits up to 30 s
//     for an answer.
//     https://developers.hubspot.com/docs/methods/workflows/webhook_information
//     https://knowledge.hubspot.com/workflows/how-do-i-use-webhooks-with-hubspot-workflows
//     (the retry rules of the workflow extensions custom actions grew
//     out of: "If the Retry-After header value in the form of seconds is
//     provided, that value will be used to schedule the next attempt".)
//
// So an outcome a retry cannot change (not a friend, blocked, quota used
// up, connection gone, message refused) is answered 200 with
// FAIL_CONTINUE and a result the workflow branches on; only LINE being
// down or slow is answered with a status HubSpot retries, and every retry
// of a callback id sends at most once (messaging.HandleAppAction).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/hubspotproject"
	"linehub/app/line"
	"linehub/app/messaging"
	"linehub/app/store"
)

// Input and output field names of the action, as the project declares
// them.
const (
	FieldConnection = hubspotproject.FieldConnection
	FieldTemplate   = hubspotproject.FieldTemplate
	FieldText       = hubspotproject.FieldText
	OutputResult    = hubspotproject.OutputResult
)

// Results the action reports in its "result" output field.
const (
	ResultSent              = "sent"
	ResultNotFriend         = "not_friend"
	ResultBlocked           = "blocked"
	ResultQuotaExhausted    = "quota_exhausted"
	ResultConnectionMissing = "connection_missing"
	ResultInvalidMessage    = "invalid_message"
	ResultFailed            = "failed"
)

// ActionAnswerBudget is how long an execution waits for LINE before it
// answers 503 (HubSpot retries); the send goes on and is recorded, and the
// retry finds it sent. It stays well inside the 30 s HubSpot waits.
// Tests shorten it.
var ActionAnswerBudget = 10 * time.Second

// actionSendLimit bounds a send that outlived its answer.
const actionSendLimit = 2 * time.Minute

// optionsPageSize is how many options one fetch answers; more come with
// "after".
const optionsPageSize = 100

func (h *Server) actionRoutes(g fiber.Router) {
	g.Post(strings.TrimPrefix(hubspotproject.ActionPath, Prefix), h.actionSend)
	g.Post(strings.TrimPrefix(hubspotproject.OptionsPath, Prefix), h.actionConnections)
	g.Post(strings.TrimPrefix(hubspotproject.TemplatesPath, Prefix), h.actionTemplates)
}

// actionRequest is HubSpot's execution request; numbers may come as JSON
// numbers or strings.
type actionRequest struct {
	CallbackID string `json:"callbackId"`
	Origin     struct {
		PortalID json.RawMessage `json:"portalId"`
	} `json:"origin"`
	Object struct {
		ObjectID   json.RawMessage            `json:"objectId"`
		ObjectType string                     `json:"objectType"`
		Properties map[string]json.RawMessage `json:"properties"`
	} `json:"object"`
	InputFields map[string]json.RawMessage `json:"inputFields"`
}

func decodeAction(body []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "body must be HubSpot's JSON for a workflow action")
	}
	return nil
}

// flight is one execution of a callback id in progress: concurrent
// retries wait for it instead of sending in parallel.
type flight struct {
	done chan struct{}
	res  messaging.SendResult
	err  error
}

// parseAction reads an execution request: the portal it was made for and
// the action to carry out. A connection that is not a number (none chosen)
// becomes id 0, which no connection has.
func parseAction(body []byte) (portal int64, a messaging.AppAction, err error) {
	var req actionRequest
	if err := decodeAction(body, &req); err != nil {
		return 0, a, err
	}
	portal, _ = strconv.ParseInt(scalar(req.Origin.PortalID), 10, 64)
	if t := strings.ToUpper(req.Object.ObjectType); t != "" && t != "CONTACT" && t != "0-1" {
		return portal, a, fiber.NewError(fiber.StatusBadRequest, "the action sends to contacts only, not "+req.Object.ObjectType)
	}
	contactID := scalar(req.Object.ObjectID)
	if strings.TrimSpace(req.CallbackID) == "" || contactID == "" {
		return portal, a, fiber.NewError(fiber.StatusBadRequest, "callbackId and object.objectId are required")
	}
	props := map[string]string{}
	for k, v := range req.Object.Properties {
		props[strings.ToLower(k)] = scalar(v)
	}
	in := func(name string) string { return strings.TrimSpace(scalar(req.InputFields[name])) }
	text := in(FieldText)
	if text == "" {
		text = in("message") // the name an earlier project used
	}
	connID, _ := strconv.ParseInt(in(FieldConnection), 10, 64)
	return portal, messaging.AppAction{ConnectionID: connID, CallbackID: req.CallbackID, ContactID: contactID,
		Template: in(FieldTemplate), Text: text, Properties: props}, nil
}

func (h *Server) actionSend(c *fiber.Ctx) error {
	cl := caller(c)
	portal, action, err := parseAction(cl.Body)
	if err != nil {
		return err
	}
	if err := h.samePortal(cl, portal); err != nil {
		return err
	}
	if action.ConnectionID <= 0 {
		return h.actionOutcome(c, action.CallbackID, messaging.SendResult{}, messaging.ErrNoConnection)
	}
	// One execution per callback id at a time: a retry that arrives while
	// the first attempt waits for LINE joins it. The send runs on its own
	// context, so an answer given before LINE's does not cut it short.
	base := context.WithoutCancel(c.UserContext()) // c is fiber's again once the handler returns
	f := &flight{done: make(chan struct{})}
	if prev, running := h.flights.LoadOrStore(action.CallbackID, f); running {
		f = prev.(*flight)
	} else {
		go func() {
			defer h.flights.Delete(action.CallbackID)
			defer close(f.done)
			ctx, cancel := context.WithTimeout(base, actionSendLimit)
			defer cancel()
			f.res, f.err = h.msg.HandleAppAction(ctx, action)
		}()
	}
	timer := time.NewTimer(ActionAnswerBudget)
	defer timer.Stop()
	select {
	case <-f.done:
		return h.actionOutcome(c, action.CallbackID, f.res, f.err)
	case <-timer.C:
		h.log.Warn("workflow action: LINE is slow; answered 503 so HubSpot retries (the send goes on and is not repeated)", "callback", action.CallbackID)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "LINE did not answer in time; HubSpot will retry and the message is not sent twice"})
	}
}

// actionOutcome answers an execution: 200 with SUCCESS or FAIL_CONTINUE
// and a result to branch on, or a status HubSpot retries.
func (h *Server) actionOutcome(c *fiber.Ctx, callbackID string, res messaging.SendResult, err error) error {
	if err == nil {
		h.log.Info("workflow action sent", "callback", callbackID, "send", res.SendID, "duplicate", res.Duplicate)
		return c.JSON(fiber.Map{"outputFields": fiber.Map{
			"hs_execution_state": "SUCCESS", OutputResult: ResultSent, "send_id": store.IDString(res.SendID)}})
	}
	var skip *messaging.SkipError
	var rl *messaging.RateLimitError
	var ie *connections.InputError
	result := ""
	switch {
	case errors.Is(err, messaging.ErrNoConnection) || errors.Is(err, line.ErrUnauthorized):
		result = ResultConnectionMissing
	case errors.As(err, &skip):
		result = map[string]string{messaging.SkipNotFriend: ResultNotFriend, messaging.SkipBlocked: ResultBlocked}[skip.Code]
		if result == "" {
			result = ResultFailed
		}
	case errors.As(err, &rl) && rl.Quota:
		result = ResultQuotaExhausted
	case errors.As(err, &rl):
		// LINE's per-second limit passes; HubSpot waits as told.
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(max(1, int(rl.RetryAfter.Seconds()))))
		return c.Status(fiber.StatusTooManyRequests).JSON(fiber.Map{"error": rl.Error()})
	case errors.As(err, &ie) && ie.Code == connections.CodeNoChannelToken:
		result = ResultConnectionMissing
	case errors.As(err, &ie) || errors.Is(err, store.ErrKeyReused):
		result = ResultInvalidMessage
	default:
		// LINE down or unclear, HubSpot's contact read failing, the
		// database: HubSpot retries, and the retry does not send twice.
		h.log.Error("workflow action failed; HubSpot will retry", "callback", callbackID, "err", err)
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "linehub could not send the message now; HubSpot will retry"})
	}
	h.log.Info("workflow action not sent", "callback", callbackID, "result", result, "reason", err.Error())
	return c.JSON(fiber.Map{"outputFields": fiber.Map{
		"hs_execution_state": "FAIL_CONTINUE", OutputResult: result, "errorCode": strings.ToUpper(result), "message": err.Error()}})
}

// optionsRequest is HubSpot's options fetch.
type optionsRequest struct {
	Origin struct {
		PortalID json.RawMessage `json:"portalId"`
	} `json:"origin"`
	InputFieldName string `json:"inputFieldName"`
	FetchOptions   struct {
		Q     string `json:"q"`
		After string `json:"after"`
	} `json:"fetchOptions"`
	// Older documentation has q and after at the top level.
	Q     string `json:"q"`
	After string `json:"after"`
}

type option struct {
	Label       string `json:"label"`
	Value       string `json:"value"`
	Description string `json:"description,omitempty"`
}

// optionsFetch checks the request and returns it.
func (h *Server) optionsFetch(c *fiber.Ctx) (*optionsRequest, error) {
	cl := caller(c)
	var req optionsRequest
	if err := decodeAction(cl.Body, &req); err != nil {
		return nil, err
	}
	portal, _ := strconv.ParseInt(scalar(req.Origin.PortalID), 10, 64)
	if err := h.samePortal(cl, portal); err != nil {
		return nil, err
	}
	if req.FetchOptions.Q == "" {
		req.FetchOptions.Q = req.Q
	}
	if req.FetchOptions.After == "" {
		req.FetchOptions.After = req.After
	}
	return &req, nil
}

// actionConnections lists linehub's connections for the action's
// "connection" field (and its templates, should HubSpot ask this URL for
// the "template" field).
func (h *Server) actionConnections(c *fiber.Ctx) error {
	req, err := h.optionsFetch(c)
	if err != nil {
		return err
	}
	if req.InputFieldName == FieldTemplate {
		return h.templateOptions(c, req)
	}
	cs, err := h.st.Connections(c.UserContext())
	if err != nil {
		return err
	}
	opts := make([]option, 0, len(cs))
	for _, x := range cs {
		desc := x.BotName
		if desc == "" {
			desc = x.Description
		}
		opts = append(opts, option{Label: x.Name, Value: strconv.FormatInt(x.ID, 10), Description: desc})
	}
	return answerOptions(c, req, opts)
}

func (h *Server) actionTemplates(c *fiber.Ctx) error {
	req, err := h.optionsFetch(c)
	if err != nil {
		return err
	}
	return h.templateOptions(c, req)
}

func (h *Server) templateOptions(c *fiber.Ctx, req *optionsRequest) error {
	ts, err := h.msg.Templates(c.UserContext())
	if err != nil {
		return err
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
	opts := make([]option, 0, len(ts))
	for _, t := range ts {
		desc := ""
		if len(t.Placeholders) > 0 {
			desc = "{{" + strings.Join(t.Placeholders, "}} {{") + "}}"
		}
		opts = append(opts, option{Label: t.Name, Value: strconv.FormatInt(t.ID, 10), Description: desc})
	}
	return answerOptions(c, req, opts)
}

// answerOptions filters by the search text and pages by offset.
func answerOptions(c *fiber.Ctx, req *optionsRequest, all []option) error {
	q := strings.ToLower(strings.TrimSpace(req.FetchOptions.Q))
	if q != "" {
		all = slices.DeleteFunc(all, func(o option) bool {
			return !strings.Contains(strings.ToLower(o.Label), q) && !strings.Contains(strings.ToLower(o.Description), q)
		})
	}
	start, _ := strconv.Atoi(req.FetchOptions.After)
	start = min(max(start, 0), len(all))
	end := min(start+optionsPageSize, len(all))
	out := fiber.Map{"options": all[start:end], "searchable": true}
	if end < len(all) {
		out["after"] = strconv.Itoa(end)
	}
	return c.Status(http.StatusOK).JSON(out)
}

// scalar reads a string or number, or the {"value": …} HubSpot wraps
// input fields in for an options fetch.
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return strconv.FormatBool(b)
	}
	var w struct {
		Value json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &w) == nil && len(w.Value) > 0 && w.Value[0] != '{' {
		return scalar(w.Value)
	}
	return ""
}
