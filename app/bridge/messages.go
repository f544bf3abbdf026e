package bridge

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"linehub/app/store"
)

// SendText pushes one text message to a friend and records that the chat
// no longer ends with the friend's message (Unanswered = No).
func (b *Bridge) SendText(ctx context.Context, connID int64, to, text string) error {
	if to == "" || text == "" {
		return inputErr("to and text are required")
	}
	if len(text) > 5000 {
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
