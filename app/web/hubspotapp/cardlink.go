package hubspotapp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"linehub/app/linking"
	"linehub/app/store"
)

// Linking by hand from the contact card: find a LINE friend linehub knows
// (by display name or user id), link it to the signed contact, or unlink
// a friend of the signed contact. The same rules as the friends page
// (package linking): the friend's dummy contact is merged into this one,
// a contact already followed by another friend of the account is refused.
// The HubSpot user the request was signed for is recorded as who did it.

func (h *Server) cardLinkRoutes(g fiber.Router) {
	g.Get("/card/link/friends", h.cardLinkFriends)
	g.Post("/card/link", h.cardLink)
	g.Post("/card/unlink", h.cardUnlink)
}

// CardLinkFriend is a LINE friend the card may link to the contact.
type CardLinkFriend struct {
	ConnectionID   int64  `json:"connection_id"`
	ConnectionName string `json:"connection_name"`
	UserID         string `json:"user_id"`
	DisplayName    string `json:"display_name"`
	PictureURL     string `json:"picture_url"`
	ContactID      string `json:"contact_id"` // the contact it follows now, "" for none
}

func (h *Server) cardLinkFriends(c *fiber.Ctx) error {
	cl, _, err := h.cardContact(c)
	if err != nil {
		return err
	}
	if h.link == nil {
		return refuse(fiber.StatusNotFound, CodeLinkingOff, "linking is not available")
	}
	q := strings.TrimSpace(cl.Query.Get("q"))
	if n := utf8.RuneCountInString(q); n < 1 || n > 100 {
		return fiber.NewError(fiber.StatusBadRequest, "q (1 to 100 characters of a display name or LINE user id) is required")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), cardDeadline)
	defer cancel()
	conns, err := h.st.Connections(ctx)
	if err != nil {
		return err
	}
	out := []CardLinkFriend{}
	for _, conn := range conns {
		fs, _, err := h.st.SearchFriends(ctx, conn.ID, q, 0, cardMaxFriends-len(out))
		if err != nil {
			return err
		}
		for _, f := range fs {
			out = append(out, CardLinkFriend{ConnectionID: conn.ID, ConnectionName: conn.Name, UserID: f.UserID,
				DisplayName: clipTo(f.DisplayName, 200), PictureURL: httpsURL(f.PictureURL), ContactID: f.ContactID})
		}
		if len(out) >= cardMaxFriends {
			break
		}
	}
	return c.JSON(fiber.Map{"friends": out})
}

var errNotLinkedHere = refuse(fiber.StatusNotFound, CodeNotLinked, "this LINE friend is not linked to the contact: nothing was unlinked")

// cardLinkIn is POST /hubspot/app/card/link and /card/unlink.
type cardLinkIn struct {
	ContactID    string `json:"contactId"`
	ConnectionID int64  `json:"connectionId"`
	UserID       string `json:"userId"`
	Reason       string `json:"reason"`
}

// CardLinkAnswer says what a link or unlink did.
type CardLinkAnswer struct {
	Outcome   string `json:"outcome"` // linked, already, pending, unlinked
	ContactID string `json:"contact_id"`
	Merged    string `json:"merged,omitempty"`
}

func (h *Server) cardLinkInput(c *fiber.Ctx) (*cardLinkIn, string, string, error) {
	cl, contactID, err := h.cardContact(c)
	if err != nil {
		return nil, "", "", err
	}
	if h.link == nil {
		return nil, "", "", refuse(fiber.StatusNotFound, CodeLinkingOff, "linking is not available")
	}
	var in cardLinkIn
	if err := json.Unmarshal(cl.Body, &in); err != nil {
		return nil, "", "", fiber.NewError(fiber.StatusBadRequest, "the body must be a JSON object")
	}
	switch {
	case in.ContactID != "" && in.ContactID != contactID:
		return nil, "", "", fiber.NewError(fiber.StatusBadRequest, "contactId in the body differs from the one in the URL")
	case in.ConnectionID <= 0 || in.UserID == "":
		return nil, "", "", fiber.NewError(fiber.StatusBadRequest, "connectionId and userId are required")
	case utf8.RuneCountInString(in.Reason) > 500:
		return nil, "", "", fiber.NewError(fiber.StatusBadRequest, "reason is at most 500 characters")
	}
	// Who did it, as the signed request names the HubSpot user.
	by := "HubSpot user " + firstNonEmpty(cl.Query.Get("userEmail"), cl.Query.Get("userId"), "(unknown)")
	return &in, contactID, by, nil
}

func (h *Server) cardLink(c *fiber.Ctx) error {
	in, contactID, by, err := h.cardLinkInput(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), cardDeadline)
	defer cancel()
	// Only friends linehub knows: a LINE user id typed in is not proof of
	// anything.
	if _, err := h.st.Friend(ctx, in.ConnectionID, in.UserID); errors.Is(err, store.ErrNotFound) {
		return refuse(fiber.StatusNotFound, CodeNoFriend, "no such LINE friend: nothing was linked")
	} else if err != nil {
		return err
	}
	res, err := h.link.Link(ctx, linking.Request{ConnID: in.ConnectionID, Identity: linking.Identity{UserID: in.UserID},
		ContactID: contactID, How: linking.HowHand, By: by, Reason: strings.TrimSpace(in.Reason), KeepOthers: true})
	if err != nil {
		return linkStatus(err)
	}
	h.log.Info("card link", "connection", in.ConnectionID, "contact", contactID, "outcome", res.Outcome, "by", by)
	return c.JSON(CardLinkAnswer{Outcome: res.Outcome, ContactID: res.ContactID, Merged: res.Merged})
}

func (h *Server) cardUnlink(c *fiber.Ctx) error {
	in, contactID, by, err := h.cardLinkInput(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), cardDeadline)
	defer cancel()
	// The card of one contact unlinks only that contact's friends; UnlinkFrom
	// checks it again while the friend is held still.
	f, err := h.st.Friend(ctx, in.ConnectionID, in.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && f.ContactID != contactID) {
		return errNotLinkedHere
	}
	if err != nil {
		return err
	}
	res, err := h.link.UnlinkFrom(ctx, in.ConnectionID, in.UserID, contactID, by, strings.TrimSpace(in.Reason))
	if errors.Is(err, linking.ErrNotLinked) {
		return errNotLinkedHere
	}
	if err != nil {
		return linkStatus(err)
	}
	h.log.Info("card unlink", "connection", in.ConnectionID, "contact", contactID, "outcome", res.Outcome, "by", by)
	return c.JSON(CardLinkAnswer{Outcome: res.Outcome})
}

// linkStatus turns a refusal into a status, with the code the card
// shows it by in the user's language.
func linkStatus(err error) error {
	var mapped error
	switch {
	case errors.Is(err, linking.ErrContactTaken), errors.Is(err, linking.ErrBusy), errors.Is(err, linking.ErrLinkedElsewhere):
		mapped = fiber.NewError(fiber.StatusConflict, err.Error())
	case errors.Is(err, linking.ErrContactGone), errors.Is(err, linking.ErrNotLinked):
		mapped = fiber.NewError(fiber.StatusNotFound, err.Error())
	case errors.Is(err, linking.ErrBadRequest):
		mapped = fiber.NewError(fiber.StatusBadRequest, err.Error())
	default:
		return err
	}
	return keepCode(err, mapped)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			return s
		}
	}
	return ""
}
