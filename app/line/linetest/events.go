package linetest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// The builders below produce event objects shaped like the samples in LINE's
// Messaging API reference (#webhook-event-objects): same property names,
// same optional parts, a ULID webhookEventId, mode "active", a first
// delivery. Each returns one event; Body wraps events into a request body.

type wireSource struct {
	Type    string `json:"type"`
	GroupID string `json:"groupId,omitempty"`
	RoomID  string `json:"roomId,omitempty"`
	UserID  string `json:"userId,omitempty"`
}

type wireDelivery struct {
	IsRedelivery bool `json:"isRedelivery"`
}

type wireEvent struct {
	ReplyToken      string          `json:"replyToken,omitempty"`
	Type            string          `json:"type"`
	Mode            string          `json:"mode"`
	Timestamp       int64           `json:"timestamp"`
	Source          wireSource      `json:"source"`
	WebhookEventID  string          `json:"webhookEventId"`
	DeliveryContext wireDelivery    `json:"deliveryContext"`
	Message         json.RawMessage `json:"message,omitempty"`
	Follow          json.RawMessage `json:"follow,omitempty"`
	Postback        json.RawMessage `json:"postback,omitempty"`
}

func newEvent(typ string, src wireSource, ts time.Time, reply bool) wireEvent {
	ev := wireEvent{
		Type:           typ,
		Mode:           "active",
		Timestamp:      ts.UnixMilli(),
		Source:         src,
		WebhookEventID: NewEventID(ts),
	}
	if reply {
		ev.ReplyToken = randHex(16)
	}
	return ev
}

func userSource(userID string) wireSource { return wireSource{Type: "user", UserID: userID} }

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("linetest: marshal: %v", err))
	}
	return b
}

// FollowEvent is a user adding the account as a friend (unblocked false) or
// unblocking it (true).
func FollowEvent(userID string, unblocked bool, ts time.Time) json.RawMessage {
	ev := newEvent("follow", userSource(userID), ts, true)
	ev.Follow = mustJSON(map[string]bool{"isUnblocked": unblocked})
	return mustJSON(ev)
}

// UnfollowEvent is a user blocking the account. It has no reply token.
func UnfollowEvent(userID string, ts time.Time) json.RawMessage {
	return mustJSON(newEvent("unfollow", userSource(userID), ts, false))
}

func messageEvent(src wireSource, msg any, ts time.Time) json.RawMessage {
	ev := newEvent("message", src, ts, true)
	ev.Message = mustJSON(msg)
	return mustJSON(ev)
}

type textMessage struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	QuoteToken string `json:"quoteToken"`
	Text       string `json:"text"`
}

// TextMessageEvent is a one-to-one text message from a user.
func TextMessageEvent(userID, text string, ts time.Time) json.RawMessage {
	return messageEvent(userSource(userID), textMessage{MessageID(), "text", quoteToken(), text}, ts)
}

// GroupTextMessageEvent is a text message from userID in a group chat.
func GroupTextMessageEvent(groupID, userID, text string, ts time.Time) json.RawMessage {
	src := wireSource{Type: "group", GroupID: groupID, UserID: userID}
	return messageEvent(src, textMessage{MessageID(), "text", quoteToken(), text}, ts)
}

// RoomTextMessageEvent is a text message from userID in a multi-person chat.
func RoomTextMessageEvent(roomID, userID, text string, ts time.Time) json.RawMessage {
	src := wireSource{Type: "room", RoomID: roomID, UserID: userID}
	return messageEvent(src, textMessage{MessageID(), "text", quoteToken(), text}, ts)
}

// StickerMessageEvent is a sticker from a user.
func StickerMessageEvent(userID, packageID, stickerID string, ts time.Time) json.RawMessage {
	return messageEvent(userSource(userID), struct {
		Type                string `json:"type"`
		ID                  string `json:"id"`
		QuoteToken          string `json:"quoteToken"`
		StickerID           string `json:"stickerId"`
		PackageID           string `json:"packageId"`
		StickerResourceType string `json:"stickerResourceType"`
	}{"sticker", MessageID(), quoteToken(), stickerID, packageID, "STATIC"}, ts)
}

type contentProvider struct {
	Type string `json:"type"`
}

// ImageMessageEvent is a photo sent by a user (content held by LINE).
func ImageMessageEvent(userID string, ts time.Time) json.RawMessage {
	return messageEvent(userSource(userID), struct {
		Type            string          `json:"type"`
		ID              string          `json:"id"`
		QuoteToken      string          `json:"quoteToken"`
		ContentProvider contentProvider `json:"contentProvider"`
	}{"image", MessageID(), quoteToken(), contentProvider{"line"}}, ts)
}

// VideoMessageEvent is a video sent by a user.
func VideoMessageEvent(userID string, ts time.Time) json.RawMessage {
	return messageEvent(userSource(userID), struct {
		ID              string          `json:"id"`
		Type            string          `json:"type"`
		QuoteToken      string          `json:"quoteToken"`
		Duration        int64           `json:"duration"`
		ContentProvider contentProvider `json:"contentProvider"`
	}{MessageID(), "video", quoteToken(), 60000, contentProvider{"line"}}, ts)
}

// AudioMessageEvent is a voice message sent by a user.
func AudioMessageEvent(userID string, ts time.Time) json.RawMessage {
	return messageEvent(userSource(userID), struct {
		ID              string          `json:"id"`
		Type            string          `json:"type"`
		Duration        int64           `json:"duration"`
		ContentProvider contentProvider `json:"contentProvider"`
	}{MessageID(), "audio", 60000, contentProvider{"line"}}, ts)
}

// FileMessageEvent is a file sent by a user.
func FileMessageEvent(userID, fileName string, size int, ts time.Time) json.RawMessage {
	return messageEvent(userSource(userID), struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		FileName string `json:"fileName"`
		FileSize int    `json:"fileSize"`
	}{MessageID(), "file", fileName, size}, ts)
}

// LocationMessageEvent is a location shared by a user; title and address are
// optional in LINE's payload and left out when empty.
func LocationMessageEvent(userID, title, address string, ts time.Time) json.RawMessage {
	return messageEvent(userSource(userID), struct {
		ID        string  `json:"id"`
		Type      string  `json:"type"`
		Title     string  `json:"title,omitempty"`
		Address   string  `json:"address,omitempty"`
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
	}{MessageID(), "location", title, address, 35.67966, 139.73669}, ts)
}

// PostbackEvent is a user tapping a postback action.
func PostbackEvent(userID, data string, ts time.Time) json.RawMessage {
	ev := newEvent("postback", userSource(userID), ts, true)
	ev.Postback = mustJSON(map[string]string{"data": data})
	return mustJSON(ev)
}

// Body is a webhook request body: {"destination":..., "events":[...]}.
// With no events it is LINE's connectivity check.
func Body(destination string, events ...json.RawMessage) []byte {
	if events == nil {
		events = []json.RawMessage{}
	}
	return mustJSON(struct {
		Destination string            `json:"destination"`
		Events      []json.RawMessage `json:"events"`
	}{destination, events})
}

// Redelivered returns ev as LINE redelivers it: same webhookEventId and
// timestamp, deliveryContext.isRedelivery true.
func Redelivered(ev json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(ev, &m); err != nil {
		panic(fmt.Sprintf("linetest: Redelivered: not an event object: %v", err))
	}
	m["deliveryContext"] = json.RawMessage(`{"isRedelivery":true}`)
	return mustJSON(m)
}

// EventID returns the webhookEventId of an event built here (or any event).
func EventID(ev json.RawMessage) string {
	var e struct {
		ID string `json:"webhookEventId"`
	}
	_ = json.Unmarshal(ev, &e)
	return e.ID
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewEventID returns a ULID for ts: 26 Crockford base32 characters, 48 bits
// of milliseconds then 80 random bits, as LINE's webhookEventId is.
func NewEventID(ts time.Time) string {
	var b [16]byte
	ms := uint64(ts.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("linetest: random: %v", err))
	}
	// 128 bits as 26 base32 digits: the first digit carries the top 3 bits.
	var out [26]byte
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// MessageID returns a random numeric message id like LINE's.
func MessageID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:])>>4, 10)
}

func quoteToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
