// Package response maps errors onto HTTP statuses for the JSON API, the
// dashboard and the machine endpoints alike, so that an error means the
// same status wherever it surfaces.
package response

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/messaging"
	"linehub/app/store"
)

// ErrorHandler answers every error as {"error": "..."}; unexpected ones are
// logged in full and shown without internals.
func ErrorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, msg := StatusOf(err)
		if status >= 500 {
			log.Error("request failed", "method", c.Method(), "path", c.Path(), "status", status, "err", err)
		}
		return c.Status(status).JSON(fiber.Map{"error": msg})
	}
}

// StatusOf is the status and the message to show for err.
func StatusOf(err error) (int, string) {
	var fe *fiber.Error
	var ie *connections.InputError
	switch {
	case errors.As(err, &fe):
		return fe.Code, fe.Message
	case errors.As(err, &ie):
		return fiber.StatusBadRequest, ie.Msg
	case errors.Is(err, store.ErrNotFound):
		return fiber.StatusNotFound, "not found"
	case errors.Is(err, store.ErrKeyReused):
		return fiber.StatusConflict, "this idempotency key was already used for another recipient or message; nothing was sent: use a new key for a new message"
	case errors.Is(err, store.ErrLimit):
		return fiber.StatusConflict, err.Error()
	case errors.Is(err, store.ErrClosed):
		return fiber.StatusServiceUnavailable, "shutting down"
	case isUpstream(err):
		return fiber.StatusBadGateway, err.Error()
	}
	return fiber.StatusInternalServerError, "internal error; the server log has the details"
}

// isUpstream tells failures of LINE or HubSpot (which the admin should
// see) from linehub's own (which stay in the log).
func isUpstream(err error) bool {
	var hsErr *hubspot.APIError
	var lineErr *line.APIError
	var netErr net.Error
	return errors.As(err, &hsErr) || errors.As(err, &lineErr) || errors.As(err, &netErr) ||
		errors.Is(err, hubspot.ErrDailyLimit) || errors.Is(err, context.DeadlineExceeded)
}

// SendError maps messaging's sending errors onto statuses; the rest
// goes to the shared error handler.
func SendError(c *fiber.Ctx, err error) error {
	var rl *messaging.RateLimitError
	var qe *messaging.QuotaError
	var skip *messaging.SkipError
	switch {
	case errors.As(err, &rl):
		c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(int64(rl.RetryAfter.Seconds()), 10))
		return fiber.NewError(fiber.StatusTooManyRequests, rl.Error())
	case errors.As(err, &qe):
		return fiber.NewError(fiber.StatusConflict, qe.Error())
	case errors.As(err, &skip):
		return fiber.NewError(fiber.StatusUnprocessableEntity, skip.Msg)
	}
	return err
}
