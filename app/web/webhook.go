package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/line"
	"linehub/app/metrics"
	"linehub/app/store"
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
	res, err := s.sync.Ingest(c.UserContext(), key, c.Get("X-Line-Signature"), body)
	if err != nil {
		r := refusal(err)
		metrics.WebhookRequests.Inc(r.result)
		s.log.Warn("webhook rejected", "connection", res.ConnectionID, "status", r.status, "err", err)
		return fiber.NewError(r.status, r.msg)
	}
	if res.Events > 0 {
		s.log.Debug("webhook stored", "connection", res.ConnectionID, "events", res.Events, "new", res.New)
	}
	metrics.WebhookRequests.Inc("ok")
	return c.JSON(fiber.Map{})
}

// webhookRefusal is the answer to a webhook request that stored nothing:
// its status, the message LINE's console shows, and the name the webhook
// request counter gives it.
type webhookRefusal struct {
	status      int
	msg, result string
}

func refusal(err error) webhookRefusal {
	switch {
	case errors.Is(err, connections.ErrUnknownConnection):
		return webhookRefusal{fiber.StatusNotFound, "no connection has this webhook URL", "unknown_connection"}
	case errors.Is(err, line.ErrNoSignature):
		return webhookRefusal{fiber.StatusBadRequest, "missing X-Line-Signature header", "bad_request"}
	case errors.Is(err, line.ErrBadSignature):
		return webhookRefusal{fiber.StatusUnauthorized, "signature does not match the channel secret", "bad_signature"}
	case errors.Is(err, line.ErrBadBody):
		return webhookRefusal{fiber.StatusBadRequest, "body is not a LINE webhook request", "bad_request"}
	case errors.Is(err, contactsync.ErrNoSecret):
		return webhookRefusal{fiber.StatusServiceUnavailable, "the channel secret of this connection is not set in linehub yet", "no_secret"}
	case store.IsFull(err):
		return webhookRefusal{fiber.StatusServiceUnavailable, "linehub's disk is full, so the events were not stored; LINE redelivers them if webhook redelivery is on", "storage_full"}
	}
	return webhookRefusal{fiber.StatusInternalServerError, "could not store the events; LINE redelivers them if webhook redelivery is on", "error"}
}
