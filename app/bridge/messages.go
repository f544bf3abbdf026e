package bridge

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf16"

	"github.com/google/uuid"

	"linehub/app/store"
)

// SendText pushes one text message to a friend and records that the chat
// no longer ends with the friend's message (Unanswered = No).
func (b *Bridge) SendText(ctx context.Context, connID int64, to, text string) error {
	if to == "" || text == "" {
		return inputErr("to and text are required")
	}
	if !isUserID(to) {
		// Anything else would fail at LINE (a 500 here) or, for a group or
		// room id, be recorded as a friend.
		return inputErr("to must be a LINE user ID: U followed by 32 hex digits")
	}
	// LINE's limit is in characters (UTF-16 units), not bytes: 2,000
	// Japanese characters are 6,000 bytes of UTF-8 and still fine.
	if len(utf16.Encode([]rune(text))) > 5000 {
		return inputErr("text is longer than LINE's 5000 characters")
	}
	cs, err := b.connByID(ctx, connID)
	if err != nil {
		return err
	}
	if cs.client == nil {
		return inputErr("this connection has no channel access token yet")
	}
	if err := cs.client.PushText(ctx, to, text, uuid.NewString()); err != nil {
		return fmt.Errorf("push to LINE: %w", err)
	}
	// A push to someone linehub has not seen yet (a friend from before the
	// connection) records nothing: there is no contact to update, and the
	// friend's first message creates it with the right Unanswered.
	if _, err := b.st.Friend(ctx, connID, to); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("record sent message: %w", err)
	}
	_, err = b.st.UpdateFriend(ctx, connID, to, func(f *store.Friend) error {
		// The reply answers every message seen so far. Stamping it just after
		// the newest one keeps the comparison on LINE's clock: a later message
		// flips Unanswered back whatever this server's clock says.
		f.Unanswered, f.UnansweredAt = false, max(f.UnansweredAt, f.LastMessageAt+1)
		f.Dirty |= int(FieldUnanswered)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record sent message: %w", err)
	}
	wake(b.syncWake)
	return nil
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
