package bridge

import (
	"context"
	"errors"
	"html"
	"net/http"
	"strings"
	"time"

	"linehub/app/hubspot"
	"linehub/app/store"
)

// notesBatch is one HubSpot batch-create request: 100 notes for one
// request of the shared budget.
const notesBatch = 100

// notesPerPass bounds one pass so notes never starve broadcasts.
const notesPerPass = 10

// flushNotes logs pending chat messages as notes on their contacts, in
// batches of 100 through the client's shared request budget. Messages of
// friends without a contact wait until the contact exists.
func (b *Bridge) flushNotes(ctx context.Context) {
	if !b.hs.HasToken() {
		return
	}
	for range notesPerPass {
		pending, err := b.st.PendingNotes(ctx, notesBatch)
		if err != nil {
			b.log.Error("read pending notes", "err", err)
			return
		}
		if len(pending) == 0 {
			return
		}
		notes := make([]hubspot.Note, len(pending))
		for i, p := range pending {
			notes[i] = hubspot.Note{ContactID: p.ContactID, Body: noteBody(&p.ChatMessage), Timestamp: time.UnixMilli(p.Timestamp)}
		}
		ids, err := b.hs.BatchCreateNotes(ctx, notes)
		done := map[int64]string{}
		var failed []int64
		for i, p := range pending {
			if i < len(ids) && ids[i] != "" {
				done[p.ID] = ids[i]
			} else {
				failed = append(failed, p.ID)
			}
		}
		msg := ""
		if err != nil {
			msg = err.Error()
			b.log.Warn("create HubSpot notes", "notes", len(pending), "created", len(done), "err", err)
			var apiErr *hubspot.APIError
			if !errors.As(err, &apiErr) || !noteRejected(apiErr.Status) {
				// HubSpot down, rate or daily limit, token or scope missing:
				// not the notes' fault. They wait, keeping their attempts.
				failed = nil
			}
		}
		if ferr := b.st.FinishNotes(context.WithoutCancel(ctx), done, failed, msg); ferr != nil {
			b.log.Error("record notes", "err", ferr)
			return
		}
		if err != nil || len(pending) < notesBatch {
			return
		}
	}
}

// noteRejected tells a refusal of the notes themselves (worth only a few
// attempts) from HubSpot being unavailable to us.
func noteRejected(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// noteBody is the note's HTML: who said it, how it went, and the text.
func noteBody(m *store.ChatMessage) string {
	head := "<strong>LINE message received</strong>"
	if m.Direction == store.ChatOut {
		head = "<strong>LINE message sent</strong> (" + html.EscapeString(m.Via) + ")"
	}
	text := html.EscapeString(m.Text)
	return head + "<br>" + strings.ReplaceAll(text, "\n", "<br>")
}
