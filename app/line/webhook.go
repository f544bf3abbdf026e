package line

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/line/line-bot-sdk-go/v8/linebot/webhook"
)

// Event is what linehub keeps of one webhook event. Raw is the event's exact
// JSON as LINE sent it; it is what gets stored, and DecodeEvent rebuilds the
// rest from it.
type Event struct {
	ID          string // webhookEventId (ULID)
	Type        string // "follow", "unfollow", "message", "postback", ...
	Mode        string // "active", or "standby" when a module owns the chat: send nothing then
	Timestamp   int64  // ms since epoch; when it happened, even if redelivered
	SourceType  string // "user", "group", "room"
	UserID      string // source.userId ("" if absent)
	GroupID     string // source.groupId for group events
	RoomID      string // source.roomId for room events
	Redelivery  bool   // deliveryContext.isRedelivery
	Unblocked   bool   // follow.isUnblocked
	MessageType string // "text", "sticker", ... for message events
	// Summary is the message text, or a short readable stand-in for other
	// message types; "" for non-message events.
	Summary    string
	ReplyToken string
	Raw        json.RawMessage
}

// Callback is one verified webhook request.
type Callback struct {
	Destination string // the bot's user ID
	Events      []Event
}

// envelope holds the properties every event object has. They are read from
// the raw JSON rather than from the SDK's typed events because the SDK has a
// separate struct per event type (and none for types newer than itself),
// while linehub needs the same few fields from all of them.
type envelope struct {
	Type            string `json:"type"`
	Mode            string `json:"mode"`
	Timestamp       int64  `json:"timestamp"`
	WebhookEventID  string `json:"webhookEventId"`
	ReplyToken      string `json:"replyToken"`
	DeliveryContext *struct {
		IsRedelivery bool `json:"isRedelivery"`
	} `json:"deliveryContext"`
	Source *struct {
		Type    string `json:"type"`
		UserID  string `json:"userId"`
		GroupID string `json:"groupId"`
		RoomID  string `json:"roomId"`
	} `json:"source"`
}

// rawCallback keeps each event's bytes exactly as received.
type rawCallback struct {
	Destination string            `json:"destination"`
	Events      []json.RawMessage `json:"events"`
}

// Sign returns the X-Line-Signature LINE would send for body: base64 of the
// HMAC-SHA256 of the raw body keyed by the channel secret.
func Sign(channelSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(channelSecret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ParseWebhook verifies signature over the raw body, then decodes it. Nothing
// of the body is looked at before the signature holds, so an unsigned request
// costs no parsing. A body with no events (LINE's "Verify" button and
// connectivity checks) gives a Callback with zero events and no error.
//
// The caller bounds the body size; LINE bodies are small.
func ParseWebhook(channelSecret, signature string, body []byte) (Callback, error) {
	if signature == "" {
		return Callback{}, ErrNoSignature
	}
	if channelSecret == "" {
		// An empty key would let anyone who guesses it is empty forge requests.
		return Callback{}, fmt.Errorf("%w: no channel secret configured", ErrBadSignature)
	}
	if !webhook.ValidateSignature(channelSecret, strings.TrimSpace(signature), body) {
		return Callback{}, ErrBadSignature
	}

	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Callback{}, fmt.Errorf("%w: not a JSON object", ErrBadBody)
	}
	// The SDK's parse validates every event against LINE's schema; the raw
	// pass keeps each event's bytes for storage.
	var typed webhook.CallbackRequest
	if err := json.Unmarshal(body, &typed); err != nil {
		return Callback{}, fmt.Errorf("%w: %w", ErrBadBody, err)
	}
	var raw rawCallback
	if err := json.Unmarshal(body, &raw); err != nil {
		return Callback{}, fmt.Errorf("%w: %w", ErrBadBody, err)
	}
	if raw.Events == nil {
		return Callback{}, fmt.Errorf("%w: no events array", ErrBadBody)
	}
	if len(raw.Events) != len(typed.Events) {
		// Both passes use encoding/json, so this means a duplicated "events"
		// key or similar trickery; refuse rather than guess which one counts.
		return Callback{}, fmt.Errorf("%w: ambiguous events array", ErrBadBody)
	}

	cb := Callback{Destination: raw.Destination, Events: make([]Event, 0, len(raw.Events))}
	for i, r := range raw.Events {
		ev, err := buildEvent(typed.Events[i], r)
		if err != nil {
			return Callback{}, fmt.Errorf("%w: event %d: %w", ErrBadBody, i, err)
		}
		cb.Events = append(cb.Events, ev)
	}
	return cb, nil
}

// DecodeEvent rebuilds an Event from stored raw JSON, exactly as ParseWebhook
// built it when the event arrived.
func DecodeEvent(raw []byte) (Event, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Event{}, fmt.Errorf("%w: event is not a JSON object", ErrBadBody)
	}
	typed, err := webhook.UnmarshalEvent(raw)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrBadBody, err)
	}
	ev, err := buildEvent(typed, raw)
	if err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrBadBody, err)
	}
	return ev, nil
}

func buildEvent(typed webhook.EventInterface, raw []byte) (Event, error) {
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return Event{}, errors.New("event is not a JSON object")
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Event{}, fmt.Errorf("reading common properties: %w", err)
	}
	ev := Event{
		ID:         env.WebhookEventID,
		Type:       env.Type,
		Mode:       env.Mode,
		Timestamp:  env.Timestamp,
		ReplyToken: env.ReplyToken,
		Raw:        append(json.RawMessage(nil), raw...),
	}
	if env.DeliveryContext != nil {
		ev.Redelivery = env.DeliveryContext.IsRedelivery
	}
	if env.Source != nil {
		ev.SourceType = env.Source.Type
		ev.UserID = env.Source.UserID
		ev.GroupID = env.Source.GroupID
		ev.RoomID = env.Source.RoomID
	}

	switch t := typed.(type) {
	case webhook.FollowEvent:
		if t.Follow != nil {
			ev.Unblocked = t.Follow.IsUnblocked
		}
	case webhook.MessageEvent:
		ev.MessageType, ev.Summary = summarize(t.Message)
	}
	return ev, nil
}

// summarize gives the message type and what a person reading HubSpot should
// see as the friend's last response.
func summarize(m webhook.MessageContentInterface) (msgType, summary string) {
	switch c := m.(type) {
	case nil:
		return "", ""
	case webhook.TextMessageContent:
		return "text", c.Text
	case webhook.StickerMessageContent:
		return "sticker", "[Sticker]"
	case webhook.ImageMessageContent:
		return "image", "[Image]"
	case webhook.VideoMessageContent:
		return "video", "[Video]"
	case webhook.AudioMessageContent:
		return "audio", "[Audio]"
	case webhook.FileMessageContent:
		return "file", joinNonEmpty("[File]", c.FileName)
	case webhook.LocationMessageContent:
		where := c.Address
		if strings.TrimSpace(where) == "" {
			where = c.Title
		}
		return "location", joinNonEmpty("[Location]", where)
	case webhook.UnknownMessageContent:
		return c.Type, "[" + readableType(c.Type) + "]"
	default:
		t := m.GetType()
		return t, "[" + readableType(t) + "]"
	}
}

func joinNonEmpty(label, s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return label
	}
	return label + " " + s
}

// readableType turns a message type LINE may add later ("beacon", say) into
// a stand-in label, refusing anything that is not a plain word so a hostile
// type string cannot leak odd text into HubSpot.
func readableType(t string) string {
	if t == "" || len(t) > 32 {
		return "Message"
	}
	for _, r := range t {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_') {
			return "Message"
		}
	}
	r, n := utf8.DecodeRuneInString(t)
	return string(unicode.ToUpper(r)) + t[n:]
}
