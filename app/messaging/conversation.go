package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/line"
	"linehub/app/store"
)

// replyTokenWindow is how old a received message may be for its reply
// token to be tried. LINE's reference: a reply token is single use and must
// be used within one minute of receiving the webhook (later use is not
// guaranteed; LINE answers 400 "Invalid reply token"). The event timestamp
// is earlier than the receipt, so 50 s of it stays inside the minute.
const replyTokenWindow = 50 * time.Second

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
func (b *Service) Conversations(ctx context.Context, connID int64, limit int) ([]Conversation, error) {
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
func (b *Service) ChatMessages(ctx context.Context, connID int64, userID string, beforeID int64, limit int) ([]ChatMessage, error) {
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
func (b *Service) Reply(ctx context.Context, connID int64, userID string, in MessageInput, idemKey string) (SendResult, error) {
	if !isUserID(userID) {
		return SendResult{}, connections.CodedErr(connections.CodeNotLINEUserID, "not a LINE user ID: U followed by 32 hex digits")
	}
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil {
		return SendResult{}, err
	}
	if cs.Client == nil {
		return SendResult{}, connections.NoChannelTokenErr()
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
		props[contactsync.PropertyName("line_user_name", cs.Conn.Serial)] = fs[userID].DisplayName
	}
	if msgs, err = Render(msgs, props); err != nil {
		return SendResult{}, err
	}
	// The answer is recorded before LINE is called, whichever way it goes
	// out: a repeated request (a double submit, a client retry) must not
	// answer twice, and a crash must leave a send the next start can settle
	// (recoverSends). Without a key from the caller it gets one of its own,
	// which no request can repeat.
	if idemKey = strings.TrimSpace(idemKey); idemKey != "" {
		idemKey = "reply:" + idemKey
	} else {
		idemKey = autoKeyPrefix + uuid.NewString()
	}
	raw, _ := json.Marshal(msgs)
	row, created, err := b.st.ClaimSend(ctx, &store.Send{ConnectionID: connID, IdemKey: idemKey, Kind: "reply", UserID: userID, Messages: string(raw), RetryKey: uuid.NewString(), RequestHash: reqHash}, 0)
	if err != nil {
		return SendResult{}, err
	}
	switch {
	case !created && row.Status == store.SendSent:
		return duplicateOf(row), nil
	case !created && row.Status == store.SendUnconfirmed:
		return SendResult{}, &SkipError{Msg: "this answer went out with the reply token, but LINE never confirmed it, so it may not have been delivered; it is not sent again (that could answer twice): send it with a new request if the friend did not get it"}
	case !created && row.Kind == "reply" && row.Status == store.SendPending:
		// Another request is answering with the reply token, or one
		// was cut short after LINE may have delivered it: a reply
		// has no retry key, so pushing now could answer twice.
		return SendResult{}, &SkipError{Msg: "this answer is already being sent, or its first attempt ended without a clear answer from LINE: reload the conversation to see whether it arrived"}
	case !created:
		// An earlier attempt that went (or was to go) out as a push, or a
		// reply LINE refused: deliver pushes it with its stored retry key.
		if row.Kind == "reply" {
			if err := b.st.SetSendKind(ctx, row.ID, "push"); err != nil {
				return SendResult{}, err
			}
		}
		return b.deliver(ctx, cs, "push", idemKey, reqHash, 0, userID, msgs)
	}
	tok, err := b.st.TakeReplyToken(ctx, connID, userID, time.Now().Add(-replyTokenWindow).UnixMilli(), row.ID)
	if err != nil {
		return SendResult{}, err
	}
	if tok != nil {
		err := cs.Client.Reply(ctx, tok.ReplyToken, msgs)
		switch {
		case err == nil:
			// The outcome commits with its record (see deliver).
			if err := b.recordReply(context.WithoutCancel(ctx), cs.Conn.ID, row, tok.ID, msgs, store.SendSent, ""); err != nil {
				return SendResult{}, err
			}
			return SendResult{SendID: row.ID, Status: "sent", To: userID, Via: "reply", Messages: msgs}, nil
		case errors.Is(err, line.ErrInvalidReplyToken):
			b.log.Info("reply token no longer valid; pushing instead", "connection", connID)
		default:
			// Without a retry key a failed reply may still have been
			// delivered: pushing now could send it twice.
			cerr := classifySendErr(err)
			var ie *connections.InputError
			var rl *RateLimitError
			if errors.As(cerr, &ie) || errors.As(cerr, &rl) { // LINE refused it: nothing went out
				if ferr := b.st.FinishSend(context.WithoutCancel(ctx), row.ID, store.SendFailed, err.Error()); ferr != nil {
					return SendResult{}, ferr
				}
				return SendResult{}, cerr
			}
			// No answer (a timeout, a 5xx): it may have arrived. The chat
			// says so, and the friend stays unanswered for a person to check.
			if rerr := b.recordReply(context.WithoutCancel(ctx), cs.Conn.ID, row, tok.ID, msgs, store.SendUnconfirmed, err.Error()); rerr != nil {
				b.log.Error("record unconfirmed reply", "send", row.ID, "err", rerr)
			}
			return SendResult{}, fmt.Errorf("%w (the answer may or may not have reached the friend: the conversation marks it; it is not sent again)", cerr)
		}
	}
	// From here the answer is a push with the row's retry key.
	if err := b.st.SetSendKind(ctx, row.ID, "push"); err != nil {
		return SendResult{}, err
	}
	// Recorded as "push", so the chat and the timeline note say how the
	// answer went out.
	return b.deliver(ctx, cs, "push", idemKey, reqHash, 0, userID, msgs)
}

// recordReply records the outcome of a send answered with the reply token
// of chat message tokID, with its chat row: sent (Unanswered = No, as any
// answer) or unconfirmed, LINE's answer unknown (the chat row says it may
// not have arrived, and Unanswered stays: a person should look).
func (b *Service) recordReply(ctx context.Context, connID int64, row *store.Send, tokID int64, msgs []json.RawMessage, status, errMsg string) error {
	source := fmt.Sprintf("reply:%d", tokID)
	if tokID <= 0 {
		source = "send:" + store.IDString(row.ID)
	}
	done := func(tx *store.ApplyTx) error { return tx.FinishSend(row.ID, status, errMsg) }
	var err error
	if status == store.SendSent {
		err = b.recordSent(ctx, connID, []string{row.UserID}, msgs, "reply", source, done)
	} else {
		err = b.recordUnconfirmed(ctx, connID, row.UserID, msgs, "reply", source, done)
	}
	if errors.Is(err, store.ErrSendFinished) {
		return nil // another attempt recorded it first
	}
	return err
}
