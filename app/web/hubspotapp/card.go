package hubspotapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web/response"
)

// The contact card "LINE" (app/hubspotproject/project/src/app/cards)
// calls these with hubspot.fetch. HubSpot documents for it: at most 15 s
// per request and 1 MB per request and response, and one automatic retry
// when the request fails with a 5xx within those 15 s. So every answer is
// bounded below 1 MB, every handler finishes within cardDeadline, and a
// reply carries the card's idempotency key, which makes that retry (and a
// second click) send nothing twice.
const (
	cardDeadline      = 12 * time.Second
	cardMaxAnswer     = 900 << 10 // below 1 MB with room for the envelope
	cardMaxFriends    = 10
	cardMaxMessages   = 20
	cardMaxParts      = 5
	cardMaxPartText   = 2000 // runes; a LINE text may have 5000
	cardMaxTemplates  = 200
	cardMaxKeyLen     = 100
	cardContactIDSize = 20 // digits of an int64
)

func (h *Server) cardRoutes(g fiber.Router) {
	g.Get("/card", h.card)
	g.Post("/card/reply", h.cardReply)
	g.Get("/card/templates", h.cardTemplates)
	g.Get("/card/templates/preview", h.cardPreview)
}

// CardFriend is one LINE friend linked to the contact, on one connection.
type CardFriend struct {
	ConnectionID   int64         `json:"connection_id"`
	ConnectionName string        `json:"connection_name"`
	UserID         string        `json:"user_id"`
	DisplayName    string        `json:"display_name"`
	PictureURL     string        `json:"picture_url"`
	Following      bool          `json:"following"`
	Unanswered     bool          `json:"unanswered"`
	ChatURL        string        `json:"chat_url"`
	More           bool          `json:"more"` // older messages are in linehub
	Messages       []CardMessage `json:"messages"`
}

// CardMessage is one message of the conversation, newest last.
type CardMessage struct {
	ID          int64      `json:"id"`
	Direction   string     `json:"direction"` // in (from the friend) or out
	Via         string     `json:"via,omitempty"`
	Timestamp   int64      `json:"timestamp"` // ms
	Unconfirmed bool       `json:"unconfirmed,omitempty"`
	Parts       []CardPart `json:"parts"`
}

// CardPart is one LINE message object reduced to what the card shows.
type CardPart struct {
	Type       string   `json:"type"`
	Text       string   `json:"text,omitempty"`
	URL        string   `json:"url,omitempty"`
	PreviewURL string   `json:"preview_url,omitempty"`
	PackageID  string   `json:"package_id,omitempty"`
	StickerID  string   `json:"sticker_id,omitempty"`
	Keywords   []string `json:"keywords,omitempty"`
}

// CardAnswer is GET /hubspot/app/card.
type CardAnswer struct {
	ContactID string       `json:"contact_id"`
	Friends   []CardFriend `json:"friends"`
}

// cardContact is the contact a card request was signed for, after the
// portal check: the id in the signed URL's contactId.
func (h *Server) cardContact(c *fiber.Ctx) (*Caller, string, error) {
	cl := caller(c)
	if cl == nil {
		return nil, "", refuse(fiber.StatusUnauthorized, CodeBadSignature, "not a signed HubSpot request")
	}
	if err := h.samePortal(cl, queryPortal(cl)); err != nil {
		return nil, "", err
	}
	id := cl.Query.Get("contactId")
	if !isContactID(id) {
		return nil, "", fiber.NewError(fiber.StatusBadRequest, "contactId must be a HubSpot contact id (digits)")
	}
	return cl, id, nil
}

func isContactID(s string) bool {
	if s == "" || len(s) > cardContactIDSize || s[0] == '0' {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func (h *Server) card(c *fiber.Ctx) error {
	_, contactID, err := h.cardContact(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), cardDeadline)
	defer cancel()
	ans, err := h.cardAnswer(ctx, contactID)
	if err != nil {
		return err
	}
	return c.JSON(ans)
}

// cardAnswer gathers the contact's friends and their recent messages,
// bounded to cardMaxAnswer: the oldest messages go first.
func (h *Server) cardAnswer(ctx context.Context, contactID string) (*CardAnswer, error) {
	fs, err := h.st.FriendsOfContact(ctx, contactID, cardMaxFriends)
	if err != nil {
		return nil, err
	}
	ans := &CardAnswer{ContactID: contactID, Friends: []CardFriend{}}
	names := map[int64]string{}
	base := strings.TrimRight(h.cfg.WebhookBaseURL(), "/")
	for _, f := range fs {
		name, ok := names[f.ConnectionID]
		if !ok {
			conn, err := h.st.Connection(ctx, f.ConnectionID)
			if errors.Is(err, store.ErrNotFound) {
				names[f.ConnectionID] = ""
				continue
			}
			if err != nil {
				return nil, err
			}
			name = conn.Name
			names[f.ConnectionID] = name
		}
		if name == "" {
			continue // the connection was removed
		}
		ms, err := h.msg.ChatMessages(ctx, f.ConnectionID, f.UserID, 0, cardMaxMessages+1)
		if err != nil {
			return nil, err
		}
		cf := CardFriend{ConnectionID: f.ConnectionID, ConnectionName: name, UserID: f.UserID, DisplayName: f.DisplayName,
			PictureURL: httpsURL(f.PictureURL), Following: f.Following, Unanswered: f.Unanswered,
			ChatURL:  fmt.Sprintf("%s/connections/%d/chat/%s", base, f.ConnectionID, url.PathEscape(f.UserID)),
			Messages: []CardMessage{}}
		if len(ms) > cardMaxMessages {
			ms, cf.More = ms[len(ms)-cardMaxMessages:], true
		}
		for _, m := range ms {
			cf.Messages = append(cf.Messages, cardMessage(m))
		}
		ans.Friends = append(ans.Friends, cf)
	}
	shrink(ans)
	return ans, nil
}

// shrink drops oldest messages, always from the friend with the most, until
// the answer fits cardMaxAnswer: a short conversation keeps its messages
// while a long one gives way.
func shrink(ans *CardAnswer) {
	raw, _ := json.Marshal(ans)
	total := len(raw)
	if total <= cardMaxAnswer {
		return
	}
	sizes := make([][]int, len(ans.Friends))
	for i, f := range ans.Friends {
		for _, m := range f.Messages {
			b, _ := json.Marshal(m)
			sizes[i] = append(sizes[i], len(b)+1) // with its comma
		}
	}
	for total > cardMaxAnswer {
		most := -1
		for i := range ans.Friends {
			if n := len(ans.Friends[i].Messages); n > 0 && (most < 0 || n > len(ans.Friends[most].Messages)) {
				most = i
			}
		}
		if most < 0 {
			return // names alone cannot reach the limit: at most cardMaxFriends of them
		}
		f := &ans.Friends[most]
		total -= sizes[most][0]
		f.Messages, f.More, sizes[most] = f.Messages[1:], true, sizes[most][1:]
	}
}

func cardMessage(m messaging.ChatMessage) CardMessage {
	cm := CardMessage{ID: m.ID, Direction: m.Direction, Via: m.Via, Timestamp: m.Timestamp, Unconfirmed: m.Unconfirmed}
	var objs []json.RawMessage
	if len(m.Messages) > 0 {
		_ = json.Unmarshal(m.Messages, &objs)
	}
	for _, o := range objs {
		if len(cm.Parts) == cardMaxParts {
			break
		}
		cm.Parts = append(cm.Parts, cardPart(o))
	}
	if len(cm.Parts) == 0 {
		cm.Parts = []CardPart{{Type: "text", Text: clip(m.Text)}}
	}
	return cm
}

// cardPart reads a LINE message object: received ones as LINE's webhook
// documents them (an image's content is LINE's unless contentProvider is
// "external" with its URLs), sent ones as the Messaging API's message
// objects (images with originalContentUrl and previewImageUrl).
func cardPart(raw json.RawMessage) CardPart {
	var m struct {
		Type               string   `json:"type"`
		Text               string   `json:"text"`
		AltText            string   `json:"altText"`
		OriginalContentURL string   `json:"originalContentUrl"`
		PreviewImageURL    string   `json:"previewImageUrl"`
		PackageID          string   `json:"packageId"`
		StickerID          string   `json:"stickerId"`
		Keywords           []string `json:"keywords"`
		FileName           string   `json:"fileName"`
		Title              string   `json:"title"`
		Address            string   `json:"address"`
		ContentProvider    struct {
			OriginalContentURL string `json:"originalContentUrl"`
			PreviewImageURL    string `json:"previewImageUrl"`
		} `json:"contentProvider"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return CardPart{Type: "message"}
	}
	switch m.Type {
	case "text":
		return CardPart{Type: "text", Text: clip(m.Text)}
	case "image":
		orig, prev := m.OriginalContentURL, m.PreviewImageURL
		if orig == "" {
			orig, prev = m.ContentProvider.OriginalContentURL, m.ContentProvider.PreviewImageURL
		}
		if prev == "" {
			prev = orig
		}
		// A LINE-hosted image needs the channel token to read: the card
		// cannot show it and links to linehub's conversation instead.
		return CardPart{Type: "image", URL: httpsURL(orig), PreviewURL: httpsURL(prev)}
	case "sticker":
		kw := m.Keywords
		if len(kw) > 5 {
			kw = kw[:5]
		}
		for i := range kw {
			kw[i] = clipTo(kw[i], 50)
		}
		return CardPart{Type: "sticker", PackageID: clipTo(m.PackageID, 20), StickerID: clipTo(m.StickerID, 20), Keywords: kw}
	case "file":
		return CardPart{Type: "file", Text: clipTo(m.FileName, 200)}
	case "location":
		where := m.Address
		if strings.TrimSpace(where) == "" {
			where = m.Title
		}
		return CardPart{Type: "location", Text: clipTo(where, 200)}
	case "video", "audio":
		return CardPart{Type: m.Type}
	}
	// Flex, template, imagemap and whatever LINE adds: the alt text.
	return CardPart{Type: "message", Text: clip(m.AltText)}
}

// httpsURL keeps a URL the card may load (HubSpot's Image needs a public
// https address), else "".
func httpsURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(s) > 2000 {
		return ""
	}
	return s
}

func clip(s string) string { return clipTo(s, cardMaxPartText) }

func clipTo(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// cardReplyIn is POST /hubspot/app/card/reply: text or templateId, to one
// friend of the signed contact, with the card's idempotency key.
type cardReplyIn struct {
	ContactID    string `json:"contactId"`
	ConnectionID int64  `json:"connectionId"`
	UserID       string `json:"userId"`
	Text         string `json:"text"`
	TemplateID   int64  `json:"templateId"`
	Key          string `json:"key"`
}

// CardReplyAnswer says how the answer went out.
type CardReplyAnswer struct {
	Status    string `json:"status"`
	Via       string `json:"via"`
	Duplicate bool   `json:"duplicate"`
	SendID    int64  `json:"send_id,omitempty"`
}

func (h *Server) cardReply(c *fiber.Ctx) error {
	cl, contactID, err := h.cardContact(c)
	if err != nil {
		return err
	}
	var in cardReplyIn
	if err := json.Unmarshal(cl.Body, &in); err != nil {
		return fiber.NewError(fiber.StatusBadRequest, "the body must be a JSON object")
	}
	switch {
	case in.ContactID != "" && in.ContactID != contactID:
		return fiber.NewError(fiber.StatusBadRequest, "contactId in the body differs from the one in the URL")
	case in.ConnectionID <= 0 || in.UserID == "":
		return fiber.NewError(fiber.StatusBadRequest, "connectionId and userId are required")
	case strings.TrimSpace(in.Key) == "" || len(in.Key) > cardMaxKeyLen:
		// Without a key, HubSpot's automatic retry of a 5xx could send twice.
		return fiber.NewError(fiber.StatusBadRequest, "key (an idempotency key of at most 100 characters) is required")
	case (strings.TrimSpace(in.Text) == "") == (in.TemplateID <= 0):
		return fiber.NewError(fiber.StatusBadRequest, "give either text or templateId")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), cardDeadline)
	defer cancel()
	// Only a friend linked to the signed contact may be written to: the
	// card of one contact cannot message another contact's friend.
	f, err := h.st.Friend(ctx, in.ConnectionID, in.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (f.ContactID != contactID || f.ContactGone)) {
		return refuse(fiber.StatusNotFound, CodeNotLinked, "this LINE friend is not linked to the contact: nothing was sent")
	}
	if err != nil {
		return err
	}
	msgIn := messaging.MessageInput{Text: in.Text}
	if in.TemplateID > 0 {
		p, err := h.msg.PreviewTemplate(ctx, in.TemplateID, messaging.MessageInput{}, contactID, nil)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(fiber.StatusNotFound, CodeNoTemplate, "no such template: nothing was sent")
		}
		if err != nil {
			return err
		}
		if len(p.Missing) > 0 {
			return refuse(fiber.StatusUnprocessableEntity, CodeMissingValues, "the contact has no value for "+strings.Join(p.Missing, ", ")+": nothing was sent")
		}
		raw, _ := json.Marshal(p.Messages)
		msgIn = messaging.MessageInput{Messages: raw}
	}
	// The card's keys live apart from the dashboard's and the API's.
	res, err := h.msg.Reply(ctx, in.ConnectionID, in.UserID, msgIn, "hubspot-card:"+in.Key)
	if err != nil {
		var ie *connections.InputError
		if errors.As(err, &ie) {
			return err
		}
		return keepCode(err, response.SendError(c, err))
	}
	h.log.Info("card reply", "connection", in.ConnectionID, "contact", contactID, "via", res.Via, "duplicate", res.Duplicate,
		"hubspot_user", cl.Query.Get("userId"))
	return c.JSON(CardReplyAnswer{Status: res.Status, Via: res.Via, Duplicate: res.Duplicate, SendID: res.SendID})
}

// CardTemplate is one template in the card's picker.
type CardTemplate struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
}

func (h *Server) cardTemplates(c *fiber.Ctx) error {
	if _, _, err := h.cardContact(c); err != nil {
		return err
	}
	ts, err := h.msg.Templates(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]CardTemplate, 0, min(len(ts), cardMaxTemplates))
	for _, t := range ts {
		if len(out) == cardMaxTemplates {
			break
		}
		out = append(out, CardTemplate{ID: t.ID, Name: t.Name})
	}
	return c.JSON(fiber.Map{"templates": out})
}

// CardPreview is a template rendered for the signed contact.
type CardPreview struct {
	Parts   []CardPart `json:"parts"`
	Missing []string   `json:"missing"`
}

func (h *Server) cardPreview(c *fiber.Ctx) error {
	cl, contactID, err := h.cardContact(c)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(cl.Query.Get("templateId"), 10, 64)
	if err != nil || id <= 0 {
		return fiber.NewError(fiber.StatusBadRequest, "templateId must be a template id")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), cardDeadline)
	defer cancel()
	p, err := h.msg.PreviewTemplate(ctx, id, messaging.MessageInput{}, contactID, nil)
	if err != nil {
		return err
	}
	out := CardPreview{Parts: []CardPart{}, Missing: p.Missing}
	if out.Missing == nil {
		out.Missing = []string{}
	}
	for _, m := range p.Messages {
		out.Parts = append(out.Parts, cardPart(m))
	}
	return c.JSON(out)
}
