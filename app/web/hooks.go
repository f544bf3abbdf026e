package web

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/messaging"
)

// hookBodyLimit caps a workflow call: a contact with every property is a
// few tens of KiB.
const hookBodyLimit = 1 << 20

// hookTimeout bounds one workflow call; HubSpot retries what fails.
const hookTimeout = 20 * time.Second

// hookRoutes registers the endpoint of HubSpot's "Send a webhook" workflow
// action.
func (s *server) hookRoutes(app *fiber.App) {
	app.Post("/hooks/hubspot/send/:key", s.workflowHook)
}

func (s *server) workflowHook(c *fiber.Ctx) error {
	body := c.Request().Body()
	if len(body) > hookBodyLimit {
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, "request body exceeds 1 MiB")
	}
	body = append([]byte(nil), body...) // fiber reuses its buffers
	q := c.Request().URI().QueryArgs()
	query := map[string][]string{}
	q.VisitAll(func(k, v []byte) { query[string(k)] = append(query[string(k)], string(v)) })
	// HubSpot signs the URL it called, which is the workflow URL linehub
	// showed: the public URL. The request's Host or X-Forwarded-Host is the
	// caller's to choose, so a request HubSpot signed for another site
	// must not verify here by naming that site.
	uris := []string{strings.TrimRight(s.cfg.WebhookBaseURL(), "/") + c.OriginalURL()}
	ctx, cancel := context.WithTimeout(c.UserContext(), hookTimeout)
	defer cancel()
	res, err := s.msg.HandleWorkflow(ctx, messaging.WorkflowCall{
		ConnectionKey: c.Params("key"),
		APIKey:        strings.TrimSpace(c.Get(messaging.WorkflowKeyHeader)),
		Method:        c.Method(),
		URIs:          uris,
		Timestamp:     c.Get("X-HubSpot-Request-Timestamp"),
		Signature:     c.Get("X-HubSpot-Signature-v3"),
		Body:          body,
		Query:         query,
		Now:           time.Now(),
	})
	if err != nil {
		return s.hookError(c, err)
	}
	s.log.Info("workflow message", "status", res.Status, "send", res.SendID)
	return c.JSON(res)
}

// hookError answers as HubSpot's retry rules want: 4xx for what a retry
// cannot fix (HubSpot stops), 429 with Retry-After in milliseconds (as
// HubSpot reads it) when LINE limits us, 5xx for the rest (HubSpot retries).
func (s *server) hookError(c *fiber.Ctx, err error) error {
	var auth *messaging.AuthError
	var skip *messaging.SkipError
	var rl *messaging.RateLimitError
	switch {
	case errors.Is(err, connections.ErrUnknownConnection):
		return fiber.NewError(fiber.StatusNotFound, "no connection has this workflow URL")
	case errors.As(err, &auth):
		s.log.Warn("workflow call rejected", "reason", auth.Msg)
		return fiber.NewError(fiber.StatusUnauthorized, auth.Msg)
	case errors.As(err, &skip):
		return fiber.NewError(fiber.StatusUnprocessableEntity, skip.Msg)
	case errors.As(err, &rl):
		c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(rl.RetryAfter.Milliseconds(), 10))
		return fiber.NewError(fiber.StatusTooManyRequests, rl.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return fiber.NewError(fiber.StatusServiceUnavailable, "LINE did not answer in time; HubSpot will retry (without sending twice)")
	}
	return err
}
