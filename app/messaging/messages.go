package messaging

import (
	"context"
	"strings"

	"linehub/app/connections"
	"linehub/app/line"
)

// SendText pushes one text message to a friend and records that the chat
// no longer ends with the friend's message (Unanswered = No).
func (b *Service) SendText(ctx context.Context, connID int64, to, text string) error {
	if to == "" || text == "" {
		return connections.InputErr("to and text are required")
	}
	_, err := b.SendMessages(ctx, connID, to, MessageInput{Text: text}, "")
	return err
}

// SendMessages pushes text or LINE message objects (sent as written: no
// placeholders are filled) to one friend. A non-empty idemKey makes the
// request idempotent: repeating it sends nothing more (see deliver).
func (b *Service) SendMessages(ctx context.Context, connID int64, to string, in MessageInput, idemKey string) (SendResult, error) {
	if to == "" {
		return SendResult{}, connections.InputErr("to is required")
	}
	if !isUserID(to) {
		// Anything else would fail at LINE (a 500 here) or, for a group or
		// room id, be recorded as a friend.
		return SendResult{}, connections.InputErr("to must be a LINE user ID: U followed by 32 hex digits")
	}
	msgs, err := in.messages()
	if err != nil {
		return SendResult{}, err
	}
	for i, m := range msgs {
		// LINE's limit is in characters (UTF-16 units), not bytes: 2,000
		// Japanese characters are 6,000 bytes of UTF-8 and still fine.
		if err := line.ValidateMessage(m); err != nil {
			return SendResult{}, connections.MessageErr(i, "", err)
		}
	}
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil {
		return SendResult{}, err
	}
	if cs.Client == nil {
		return SendResult{}, connections.NoChannelTokenErr()
	}
	var reqHash string
	if idemKey = strings.TrimSpace(idemKey); idemKey != "" {
		if len(idemKey) > 200 {
			return SendResult{}, connections.InputErr("idempotency key is longer than 200 characters")
		}
		idemKey = "api:" + idemKey
		reqHash = requestHash(connID, to, canonicalMessages(msgs))
	}
	return b.deliver(ctx, cs, "api", idemKey, reqHash, 0, to, msgs)
}

// isUserID reports whether id looks like a LINE user ID ("U" + 32 hex).
func isUserID(id string) bool {
	if len(id) != 33 || id[0] != 'U' {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
