package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"linehub/app/line"
	"linehub/app/store"
)

// replyTokenWindow is how old a received message may be for its reply
// token to be tried. LINE's reference: a reply token is single use and must
// be used within one minute of receiving the webhook (later use is not
// guaranteed; LINE answers 400 "Invalid reply token"). The event timestamp
// is earlier than the receipt, so 50 s of it stays inside the minute.
const replyTokenWindow = 50 * time.Second

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

// Conversation is one friend in the chat list.
type Conversation struct {
	UserID        string `json:"user_id"`
	DisplayName   string `json:"display_name"`
	PictureURL    string `json:"picture_url"`
	ContactID     string `json:"contact_id,omitempty"`
	Following     bool   `json:"following"`
	Unanswered    bool   `json:"unanswered"`
	LastResponse  string `json:"last_response"`
	LastMessageAt int64  `json:"last_message_at"`
}

// Conversations lists a connection's chats, unanswered first.
func (b *Bridge) Conversations(ctx context.Context, connID int64, limit int) ([]Conversation, error) {
	if _, err := b.st.Connection(ctx, connID); err != nil {
		return nil, err
	}
	fs, err := b.st.Conversations(ctx, connID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Conversation, 0, len(fs))
	for _, f := range fs {
		out = append(out, Conversation{UserID: f.UserID, DisplayName: f.DisplayName, PictureURL: f.PictureURL, ContactID: f.ContactID,
			Following: f.Following, Unanswered: f.Unanswered, LastResponse: f.LastResponse, LastMessageAt: f.LastMessageAt})
	}
	return out, nil
}

// ChatMessage is one message of a conversation as the API shows it.
type ChatMessage struct {
	store.ChatMessage
	Messages json.RawMessage `json:"messages,omitempty"`
}

// ChatMessages returns a conversation, newest last.
func (b *Bridge) ChatMessages(ctx context.Context, connID int64, userID string, beforeID int64, limit int) ([]ChatMessage, error) {
	if _, err := b.st.Connection(ctx, connID); err != nil {
		return nil, err
	}
	ms, err := b.st.ChatMessages(ctx, connID, userID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	out := make([]ChatMessage, 0, len(ms))
	broadcasts := map[int64]string{}
	for _, m := range ms {
		v := ChatMessage{ChatMessage: m}
		raw := m.Messages
		if id, ok := broadcastOf(m.SourceKey); ok && raw == "" {
			if _, seen := broadcasts[id]; !seen {
				if bc, err := b.st.GetBroadcast(ctx, id); err == nil {
					broadcasts[id] = bc.Messages
				} else if !errors.Is(err, store.ErrNotFound) {
					return nil, err
				} else {
					broadcasts[id] = ""
				}
			}
			raw = broadcasts[id]
		}
		if json.Valid([]byte(raw)) {
			v.Messages = json.RawMessage(raw)
		}
		out = append(out, v)
	}
	return out, nil
}

// broadcastOf reads the broadcast id from a chat row's source key
// ("bc:<broadcast>:<chunk>:<user>", see runBroadcast).
func broadcastOf(sourceKey string) (int64, bool) {
	rest, ok := strings.CutPrefix(sourceKey, "bc:")
	if !ok {
		return 0, false
	}
	id, _, _ := strings.Cut(rest, ":")
	n, err := strconv.ParseInt(id, 10, 64)
	return n, err == nil
}

// Reply answers a friend: with the reply token of their latest message
// while it is fresh and unused (free), otherwise, or when LINE says the
// token is no longer valid, by push. idemKey (optional) makes a repeated
// push request send nothing twice.
func (b *Bridge) Reply(ctx context.Context, connID int64, userID string, in MessageInput, idemKey string) (SendResult, error) {
	if !isUserID(userID) {
		return SendResult{}, inputErr("not a LINE user ID: U followed by 32 hex digits")
	}
	cs, err := b.connByID(ctx, connID)
	if err != nil {
		return SendResult{}, err
	}
	if cs.client == nil {
		return SendResult{}, errNoChannelToken()
	}
	msgs, err := in.messages()
	if err != nil {
		return SendResult{}, err
	}
	// The key is bound to the answer as written: a display name changed
	// between a request and its retry changes nothing.
	reqHash := requestHash(connID, userID, canonicalMessages(msgs))
	props := map[string]string{}
	if fs, err := b.st.FriendsByUser(ctx, connID, []string{userID}); err == nil && fs[userID] != nil {
		props["display_name"] = fs[userID].DisplayName
		props[PropertyName("line_user_name", cs.conn.Serial)] = fs[userID].DisplayName
	}
	if msgs, err = Render(msgs, props); err != nil {
		return SendResult{}, err
	}
	if idemKey != "" {
		idemKey = "reply:" + strings.TrimSpace(idemKey)
	}
	// With an idempotency key the answer is recorded before LINE is
	// called, whichever way it goes out: a repeated request (a double
	// submit, a client retry) must not answer twice.
	var row *store.Send
	if idemKey != "" {
		raw, _ := json.Marshal(msgs)
		got, created, err := b.st.ClaimSend(ctx, &store.Send{ConnectionID: connID, IdemKey: idemKey, Kind: "reply", UserID: userID, Messages: string(raw), RetryKey: uuid.NewString(), RequestHash: reqHash}, 0)
		if err != nil {
			return SendResult{}, err
		}
		switch {
		case !created && got.Status == store.SendSent:
			var prev []json.RawMessage
			_ = json.Unmarshal([]byte(got.Messages), &prev)
			return SendResult{SendID: got.ID, Status: "duplicate", To: got.UserID, Via: got.Kind, Messages: prev, Duplicate: true}, nil
		case !created && got.Kind == "reply" && got.Status == store.SendPending:
			// Another request is answering with the reply token, or one
			// was cut short after LINE may have delivered it: a reply
			// has no retry key, so pushing now could answer twice.
			return SendResult{}, &SkipError{Msg: "this answer is already being sent, or its first attempt ended without a clear answer from LINE: reload the conversation to see whether it arrived"}
		case !created:
			// An earlier push attempt of this answer: deliver retries it
			// with its stored retry key.
			return b.deliver(ctx, cs, "push", idemKey, reqHash, 0, userID, msgs)
		}
		row = got
	}
	tok, err := b.st.TakeReplyToken(ctx, connID, userID, time.Now().Add(-replyTokenWindow).UnixMilli())
	if err != nil {
		return SendResult{}, err
	}
	if tok != nil {
		err := cs.client.Reply(ctx, tok.ReplyToken, msgs)
		switch {
		case err == nil:
			// The outcome commits with its record (see deliver).
			var done func(*store.ApplyTx) error
			if row != nil {
				done = func(tx *store.ApplyTx) error { return tx.FinishSend(row.ID, store.SendSent, "") }
			}
			if err := b.recordSent(context.WithoutCancel(ctx), connID, []string{userID}, msgs, "reply", fmt.Sprintf("reply:%d", tok.ID), done); err != nil {
				return SendResult{}, err
			}
			res := SendResult{Status: "sent", To: userID, Via: "reply", Messages: msgs}
			if row != nil {
				res.SendID = row.ID
			}
			return res, nil
		case errors.Is(err, line.ErrInvalidReplyToken):
			b.log.Info("reply token no longer valid; pushing instead", "connection", connID)
		default:
			// Without a retry key a failed reply may still have been
			// delivered: pushing now could send it twice.
			cerr := classifySendErr(err)
			var ie *InputError
			if row != nil && errors.As(cerr, &ie) { // LINE refused it: nothing went out
				if ferr := b.st.FinishSend(context.WithoutCancel(ctx), row.ID, store.SendFailed, err.Error()); ferr != nil {
					return SendResult{}, ferr
				}
			}
			return SendResult{}, cerr
		}
	}
	if row != nil {
		// From here the answer is a push with the row's retry key.
		if err := b.st.SetSendKind(ctx, row.ID, "push"); err != nil {
			return SendResult{}, err
		}
	}
	// Recorded as "push", so the chat and the timeline note say how the
	// answer went out.
	return b.deliver(ctx, cs, "push", idemKey, reqHash, 0, userID, msgs)
}
