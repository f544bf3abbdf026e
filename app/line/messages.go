package line

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf16"
)

// Limits from the Messaging API reference (#message-objects).
const (
	maxTextChars    = 5000
	maxAltTextChars = 1500
	maxImageURL     = 2000
)

// TextMessage is a text message object.
func TextMessage(text string) json.RawMessage {
	b, _ := json.Marshal(struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}{"text", text})
	return b
}

// ParseMessages reads message objects from outside input: one object or an
// array of 1 to 5, each checked by ValidateMessage. The objects are
// returned compacted, exactly as they will be sent.
func ParseMessages(raw []byte) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, errors.New("no messages")
	}
	var msgs []json.RawMessage
	if raw[0] == '{' {
		msgs = []json.RawMessage{raw}
	} else if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, errors.New("messages must be a JSON array of LINE message objects")
	}
	if len(msgs) == 0 || len(msgs) > MaxMessagesPerRequest {
		return nil, fmt.Errorf("between 1 and %d messages are allowed, got %d", MaxMessagesPerRequest, len(msgs))
	}
	out := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		if err := ValidateMessage(m); err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, m); err != nil {
			return nil, fmt.Errorf("messages[%d]: %w", i, err)
		}
		out[i] = buf.Bytes()
	}
	return out, nil
}

// ValidateMessage checks one message object of a type linehub sends (text,
// image, sticker, flex) against LINE's documented required properties and
// limits, so a bad message is refused before anything is sent.
func ValidateMessage(m json.RawMessage) error {
	var head struct {
		Type               string          `json:"type"`
		Text               *string         `json:"text"`
		OriginalContentURL string          `json:"originalContentUrl"`
		PreviewImageURL    string          `json:"previewImageUrl"`
		PackageID          json.RawMessage `json:"packageId"`
		StickerID          json.RawMessage `json:"stickerId"`
		AltText            *string         `json:"altText"`
		Contents           json.RawMessage `json:"contents"`
	}
	if err := json.Unmarshal(m, &head); err != nil {
		return errors.New("not a JSON message object")
	}
	switch head.Type {
	case "text":
		if head.Text == nil || strings.TrimSpace(*head.Text) == "" {
			return errors.New("text message needs a non-empty text")
		}
		if n := len(utf16.Encode([]rune(*head.Text))); n > maxTextChars {
			return &TooLongError{Field: "text", N: n, Max: maxTextChars}
		}
	case "image":
		for name, u := range map[string]string{"originalContentUrl": head.OriginalContentURL, "previewImageUrl": head.PreviewImageURL} {
			if err := checkHTTPS(u); err != nil {
				return fmt.Errorf("image %s: %w", name, err)
			}
		}
	case "sticker":
		if !nonEmptyID(head.PackageID) || !nonEmptyID(head.StickerID) {
			return errors.New("sticker message needs packageId and stickerId")
		}
	case "flex":
		if head.AltText == nil || strings.TrimSpace(*head.AltText) == "" {
			return errors.New("flex message needs an altText")
		}
		if n := len(utf16.Encode([]rune(*head.AltText))); n > maxAltTextChars {
			return &TooLongError{Field: "altText", N: n, Max: maxAltTextChars}
		}
		var c struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(head.Contents, &c) != nil || (c.Type != "bubble" && c.Type != "carousel") {
			return errors.New("flex contents must be a bubble or carousel object")
		}
	case "":
		return errors.New("message has no type")
	default:
		return fmt.Errorf("message type %q is not supported (text, image, sticker, flex)", head.Type)
	}
	return nil
}

func checkHTTPS(u string) error {
	if u == "" {
		return errors.New("is required")
	}
	if len(u) > maxImageURL {
		return fmt.Errorf("is longer than %d characters", maxImageURL)
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.Host == "" {
		return errors.New("must be an https URL")
	}
	return nil
}

// nonEmptyID accepts a non-empty string (LINE's type) or a number (which
// LINE also takes in practice).
func nonEmptyID(raw json.RawMessage) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s) != ""
	}
	var n json.Number
	return json.Unmarshal(raw, &n) == nil && n != ""
}

// MessageSummary is a short readable form of message objects for the chat
// view and HubSpot notes: the text, or a stand-in like [Sticker].
func MessageSummary(msgs []json.RawMessage) string {
	var parts []string
	for _, m := range msgs {
		var h struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			AltText string `json:"altText"`
		}
		_ = json.Unmarshal(m, &h)
		switch h.Type {
		case "text":
			parts = append(parts, h.Text)
		case "flex":
			parts = append(parts, "[Flex] "+h.AltText)
		case "image":
			parts = append(parts, "[Image]")
		case "sticker":
			parts = append(parts, "[Sticker]")
		default:
			parts = append(parts, "["+h.Type+"]")
		}
	}
	return strings.Join(parts, "\n")
}

// TooLongError is a message text (or a flex message's altText) over
// LINE's limit, counted as LINE counts it (UTF-16 units): the admin can
// be told both numbers in their language.
type TooLongError struct {
	Field  string // "text" or "altText"
	N, Max int
}

func (e *TooLongError) Error() string {
	return fmt.Sprintf("%s is %d characters, LINE allows %d", e.Field, e.N, e.Max)
}
