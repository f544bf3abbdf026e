package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"linehub/app/bridge"
	"linehub/app/line"
	"linehub/app/metrics"
)

// webhook receives LINE's POST. It answers 200 only once every event of
// the request is durable; any other answer means nothing was stored and
// LINE may redeliver.
func (s *server) webhook(c *fiber.Ctx) error {
	key := c.Params("key")
	// The raw bytes as sent: LINE signs exactly those, and c.Body() would
	// inflate a Content-Encoding body first (unbounded, before any check).
	body := c.Request().Body()
	if len(body) > s.cfg.Webhook.MaxBodyBytes {
		s.log.Warn("webhook body too large", "bytes", len(body), "limit", s.cfg.Webhook.MaxBodyBytes)
		metrics.WebhookRequests.Inc("too_large")
		return fiber.NewError(fiber.StatusRequestEntityTooLarge, "request body exceeds the webhook limit")
	}
	res, err := s.b.Ingest(c.UserContext(), key, c.Get("X-Line-Signature"), body)
	if err != nil {
		status, msg := webhookStatus(err)
		metrics.WebhookRequests.Inc(webhookResult(status))
		s.log.Warn("webhook rejected", "connection", res.ConnectionID, "status", status, "err", err)
		return fiber.NewError(status, msg)
	}
	if res.Events > 0 {
		s.log.Debug("webhook stored", "connection", res.ConnectionID, "events", res.Events, "new", res.New)
	}
	metrics.WebhookRequests.Inc("ok")
	return c.JSON(fiber.Map{})
}

func webhookStatus(err error) (int, string) {
	switch {
	case errors.Is(err, bridge.ErrUnknownConnection):
		return fiber.StatusNotFound, "no connection has this webhook URL"
	case errors.Is(err, line.ErrNoSignature):
		return fiber.StatusBadRequest, "missing X-Line-Signature header"
	case errors.Is(err, line.ErrBadSignature):
		return fiber.StatusUnauthorized, "signature does not match the channel secret"
	case errors.Is(err, line.ErrBadBody):
		return fiber.StatusBadRequest, "body is not a LINE webhook request"
	case errors.Is(err, bridge.ErrNoSecret):
		return fiber.StatusServiceUnavailable, "the channel secret of this connection is not set in linehub yet"
	}
	return fiber.StatusInternalServerError, "could not store the events; LINE will redeliver"
}

// webhookResult names a refusal for the webhook request counter.
func webhookResult(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "unknown_connection"
	case fiber.StatusUnauthorized:
		return "bad_signature"
	case fiber.StatusBadRequest:
		return "bad_request"
	case fiber.StatusServiceUnavailable:
		return "no_secret"
	}
	return "error"
}
