package ui

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/web/response"
)

// notice is a message for a person: what happened and what to do (Text),
// where the fix is (Link), and the technical text LINE, HubSpot or the
// system gave (Detail), shown folded away.
type notice struct {
	L                            *locale
	Text, Link, LinkText, Detail string
}

// fixLink is where the fix for a coded error is: Settings for the HubSpot
// token, the connection's credentials for LINE's. connID 0: no
// connection page is known.
func fixLink(l *locale, code string, connID string) (string, string) {
	switch {
	case strings.HasPrefix(code, "hubspot_") && code != connections.CodeHubSpotNoList:
		return "/settings", l.T("fix.settings")
	case (code == connections.CodeLINETokenRejected || code == connections.CodeNoChannelToken) && connID != "":
		return "/connections/" + connID + "#credentials", l.T("fix.credentials")
	}
	return "", ""
}

// explain words err for a person in their language. Errors with a code
// (connections.ErrorCode) get their catalogue text, the link to the fix and
// the raw text as detail; linehub's own failures are logged and shown
// generically; anything else (an input error without a code) as it is.
func (s *Server) explain(c *fiber.Ctx, err error) notice {
	l := s.locale(c)
	connID := ""
	if strings.HasPrefix(c.Path(), "/connections/") {
		connID = c.Params("id")
	}
	var ie *connections.InputError
	if code := connections.ErrorCode(err); code != "" && l.Has("bridge."+code) {
		n := notice{L: l}
		if errors.As(err, &ie) && ie.Code == code {
			n.Text = l.T("bridge."+code, ie.Args...)
		} else {
			n.Text = l.T("bridge." + code)
			n.Detail = err.Error()
			s.log.Warn("LINE or HubSpot refused", "method", c.Method(), "path", c.Path(), "code", code, "err", err)
		}
		n.Link, n.LinkText = fixLink(l, code, connID)
		return n
	}
	status, msg := response.StatusOf(err)
	if status >= 500 && status != fiber.StatusBadGateway {
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
		return notice{L: l, Text: l.T("err.internal")}
	}
	if status == fiber.StatusBadGateway {
		s.log.Warn("LINE or HubSpot failed", "method", c.Method(), "path", c.Path(), "err", err)
		return notice{L: l, Text: l.T("err.upstream"), Detail: msg}
	}
	return notice{L: l, Text: msg}
}

// standin shows the stand-ins LINE messages are summarised with
// ("[Sticker]", "[File] menu.pdf") in the admin's language; other text as
// it is.
func standin(l *locale, text string) string {
	if !strings.HasPrefix(text, "[") {
		return text
	}
	word, rest, ok := strings.Cut(text[1:], "]")
	if !ok || !l.Has("standin."+strings.ToLower(word)) {
		return text
	}
	return l.T("standin."+strings.ToLower(word)) + rest
}

// syncMessages are the reasons the bridge gives a friend waiting to be
// synced, with their catalogue keys.
var syncMessages = map[string]string{
	"waiting for the LINE profile (LINE API unavailable)":       "friends.sync_wait_profile",
	"HubSpot properties of this connection are not created yet": "friends.sync_wait_properties",
	"HubSpot returned no result for this contact":               "friends.sync_no_result",
}

// syncNote words a friend's sync error: a known reason in the admin's
// language, anything else (HubSpot's own text) as "will retry" with the
// text as detail.
func syncNote(l *locale, msg string) notice {
	if k, ok := syncMessages[msg]; ok {
		return notice{L: l, Text: l.T(k)}
	}
	// A cause the admin can fix (HubSpot refused the token, the token
	// lacks a scope, HubSpot is out of reach): what happened, what to do
	// and where.
	code, text := contactsync.SplitSyncError(msg)
	if code == contactsync.SharedContactCode {
		// Not an error to retry: staff merged this friend's contact into
		// another friend's, which keeps it.
		return notice{L: l, Text: l.T("friends.contact_shared"), Detail: text}
	}
	if code != "" && l.Has("bridge."+code) {
		n := notice{L: l, Text: l.T("friends.sync_coded", l.T("bridge."+code)), Detail: text}
		n.Link, n.LinkText = fixLink(l, code, "")
		return n
	}
	return notice{L: l, Text: l.T("friends.sync_retrying"), Detail: msg}
}
