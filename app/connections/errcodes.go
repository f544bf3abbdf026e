package connections

import (
	"errors"

	"linehub/app/hubspot"
	"linehub/app/line"
)

// Codes for failures of LINE and HubSpot themselves (not of the input):
// like the InputError codes, each is a key "bridge.<code>" in the UI's
// catalogue, saying what happened and what to do.
const (
	CodeHubSpotUnreachable = "hubspot_unreachable"
	CodeHubSpotNoScope     = "hubspot_no_scope"
	CodeLINEForbidden      = "line_forbidden"
	// CodeNotLINEUserID: a chat address whose user ID is not LINE's.
	CodeNotLINEUserID = "not_line_user_id"
	// CodeHubSpotAppID, CodeHubSpotAppSecret: what was pasted as the
	// HubSpot app's id or client secret is not one.
	CodeHubSpotAppID     = "hubspot_app_id"
	CodeHubSpotAppSecret = "hubspot_app_secret"
)

// ErrorCode names the catalogue message for err: the InputError's own
// code, or the code of a LINE or HubSpot failure a person can act on
// (a rejected token, a missing scope, HubSpot out of reach); "" when
// there is none and the text is shown as it is.
func ErrorCode(err error) string {
	var ie *InputError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ie) && ie.Code != "":
		return ie.Code
	case errors.Is(err, hubspot.ErrUnauthorized):
		return CodeHubSpotTokenRejected
	case errors.Is(err, hubspot.ErrMissingScopes):
		return CodeHubSpotNoScope
	case errors.Is(err, hubspot.ErrUnavailable):
		return CodeHubSpotUnreachable
	case errors.Is(err, line.ErrUnauthorized):
		return CodeLINETokenRejected
	case errors.Is(err, line.ErrForbidden):
		return CodeLINEForbidden
	}
	return ""
}
