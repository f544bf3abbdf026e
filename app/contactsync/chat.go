package contactsync

import (
	"encoding/json"

	"linehub/app/line"
	"linehub/app/store"
)

// appendChat adds a received 1:1 message to the conversation rows the
// applier stores with the friend changes. The source key is the webhook
// event id, so a redelivered event is recorded once.
func appendChat(rows []store.ChatMessage, connID int64, ev line.Event) []store.ChatMessage {
	if ev.Type != "message" || ev.SourceType != "user" || ev.UserID == "" {
		return rows
	}
	var msg struct {
		Message json.RawMessage `json:"message"`
	}
	_ = json.Unmarshal(ev.Raw, &msg)
	token := ev.ReplyToken
	if ev.Mode == "standby" || ev.Redelivery {
		// Standby: another module owns the chat. Redelivered: LINE sends no
		// usable token. Either way replying is not ours to do.
		token = ""
	}
	return append(rows, store.ChatMessage{
		ConnectionID: connID, SourceKey: "ev:" + ev.ID, UserID: ev.UserID, Direction: store.ChatIn,
		Text: ev.Summary, Messages: wrapMessage(msg.Message), ReplyToken: token, Timestamp: ev.Timestamp, NotePending: true,
	})
}

// wrapMessage stores a received message object as a one-element array, the
// shape sent messages have, so the chat view reads both alike.
func wrapMessage(m json.RawMessage) string {
	if len(m) == 0 || !json.Valid(m) {
		return "[]"
	}
	return "[" + string(m) + "]"
}
