package hubspotapp

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"linehub/app/linking"
	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web/response"
)

// The card shows linehub's refusals to a person in the HubSpot user's
// language, so its answers carry, besides the English text ("error",
// kept as the detail), a code from this small set that the card
// translates (TEXT.errors in LineCard.jsx). Codes are a contract with the
// card's code: add new ones, never rename one.
const (
	CodeBadSignature    = "bad_signature"    // 401: not signed by the app, or signed too long ago
	CodeAppNotSetUp     = "app_not_set_up"   // 401: linehub has no client secret of the app
	CodeOtherPortal     = "other_portal"     // 403: signed for another portal
	CodePortalUnknown   = "portal_unknown"   // 503: linehub does not know its portal yet
	CodeBadRequest      = "bad_request"      // 400
	CodeTooLarge        = "too_large"        // 413
	CodeNotFound        = "not_found"        // 404: anything else not found
	CodeNoFriend        = "no_friend"        // 404: linehub knows no such LINE friend
	CodeNotLinked       = "not_linked"       // 404: the friend is not linked to this contact
	CodeLinkingOff      = "linking_off"      // 404: linking is not offered by this linehub
	CodeContactGone     = "contact_gone"     // 404: the contact was deleted in HubSpot
	CodeContactTaken    = "contact_taken"    // 409: the contact has another friend of the account
	CodeLinkedElsewhere = "linked_elsewhere" // 409: the friend follows another customer's contact
	CodeBusy            = "busy"             // 409: a link of the friend is being finished
	CodeNoTemplate      = "no_template"      // 404
	CodeMissingValues   = "missing_values"   // 422: the template needs values the contact lacks
	CodeNotSendable     = "not_sendable"     // 422: LINE cannot deliver to this friend (blocked, ...)
	CodeQuota           = "quota"            // 409: the month's message quota is used up
	CodeRateLimited     = "rate_limited"     // 429
	CodeKeyReused       = "key_reused"       // 409
	CodeUpstream        = "upstream"         // 502: LINE or HubSpot failed
	CodeUnavailable     = "unavailable"      // 503
	CodeInternal        = "internal"         // 500
)

// CardCodes is every code the card's answers may carry.
var CardCodes = []string{CodeBadSignature, CodeAppNotSetUp, CodeOtherPortal, CodePortalUnknown, CodeBadRequest,
	CodeTooLarge, CodeNotFound, CodeNoFriend, CodeNotLinked, CodeLinkingOff, CodeContactGone, CodeContactTaken,
	CodeLinkedElsewhere, CodeBusy, CodeNoTemplate, CodeMissingValues, CodeNotSendable, CodeQuota, CodeRateLimited,
	CodeKeyReused, CodeUpstream, CodeUnavailable, CodeInternal}

// codedError gives an error the code the card shows it by.
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// refuse is a refusal with its status, code and English text.
func refuse(status int, code, msg string) error {
	return &codedError{code: code, err: fiber.NewError(status, msg)}
}

// cardErrors answers the card's failed requests (signature checks
// included: it runs before verify) as {"error", "code"}; the other routes
// keep the shared error handler.
func (h *Server) cardErrors(c *fiber.Ctx) error {
	err := c.Next()
	if err == nil || !strings.HasPrefix(c.Path(), Prefix+"/card") {
		return err
	}
	status, msg := response.StatusOf(err)
	if status >= 500 {
		h.log.Error("request failed", "method", c.Method(), "path", c.Path(), "status", status, "err", err)
	}
	return c.Status(status).JSON(fiber.Map{"error": msg, "code": cardCode(err, status)})
}

// cardCode is the code of err: the one it was given, else by its kind,
// else by its status.
func cardCode(err error, status int) string {
	if code := kindCode(err); code != "" {
		return code
	}
	switch status {
	case fiber.StatusBadRequest:
		return CodeBadRequest
	case fiber.StatusUnauthorized:
		return CodeBadSignature
	case fiber.StatusForbidden:
		return CodeOtherPortal
	case fiber.StatusNotFound:
		return CodeNotFound
	case fiber.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case fiber.StatusUnprocessableEntity:
		return CodeNotSendable
	case fiber.StatusTooManyRequests:
		return CodeRateLimited
	case fiber.StatusBadGateway, fiber.StatusGatewayTimeout:
		return CodeUpstream
	case fiber.StatusServiceUnavailable:
		return CodeUnavailable
	}
	if status >= 500 {
		return CodeInternal
	}
	return CodeBadRequest
}

// kindCode is the code an error carries or its kind implies, "" for none.
func kindCode(err error) string {
	var ce *codedError
	var qe *messaging.QuotaError
	var rl *messaging.RateLimitError
	var skip *messaging.SkipError
	switch {
	case errors.As(err, &ce):
		return ce.code
	case errors.Is(err, linking.ErrContactTaken):
		return CodeContactTaken
	case errors.Is(err, linking.ErrLinkedElsewhere):
		return CodeLinkedElsewhere
	case errors.Is(err, linking.ErrBusy):
		return CodeBusy
	case errors.Is(err, linking.ErrContactGone):
		return CodeContactGone
	case errors.Is(err, linking.ErrNotLinked):
		return CodeNotLinked
	case errors.Is(err, linking.ErrBadRequest):
		return CodeBadRequest
	case errors.As(err, &qe):
		return CodeQuota
	case errors.As(err, &rl):
		return CodeRateLimited
	case errors.As(err, &skip):
		return CodeNotSendable
	case errors.Is(err, store.ErrKeyReused):
		return CodeKeyReused
	}
	return ""
}

// keepCode gives mapped (err turned into a status) the code err had.
func keepCode(err, mapped error) error {
	if code := kindCode(err); code != "" && mapped != nil {
		return &codedError{code: code, err: mapped}
	}
	return mapped
}
