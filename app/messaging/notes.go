package messaging

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"net/http"
	"slices"
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

// defaultNoteSettle is how long a batch whose outcome is unknown is left
// alone before it is looked up: a request HubSpot was still working on
// when its answer was lost has finished by then.
const defaultNoteSettle = 10 * time.Second

// flushNotes logs pending chat messages as notes on their contacts, in
// batches of 100 through the client's shared request budget. Messages of
// friends without a contact wait until the contact exists.
//
// Each note is sent with a marker, and its row is marked as being sent
// (committed) before the batch goes out. HubSpot's notes API has no
// idempotency key, and a batch whose answer never arrived (kill -9, a
// timeout, a 5xx) may or may not have created its notes; such rows are
// looked up by marker among their contacts' notes first, and only those
// not found are sent again. See hubspot/notes.go for why the lookup reads
// the contacts' associations rather than searching.
func (b *Service) flushNotes(ctx context.Context) {
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
		sent, err := b.sendNotes(ctx, pending)
		if err != nil {
			b.log.Warn("create HubSpot notes", "notes", len(pending), "err", err)
			return
		}
		if !sent || len(pending) < notesBatch {
			return
		}
	}
}

// sendNotes resolves the pending messages whose earlier batch has an
// unknown outcome and sends the rest as one batch. sent reports whether
// the pass made progress worth another.
func (b *Service) sendNotes(ctx context.Context, pending []store.PendingNote) (sent bool, err error) {
	rctx := context.WithoutCancel(ctx)
	var unclear, send []store.PendingNote
	waiting := false
	for _, p := range pending {
		switch {
		case p.NoteSentAt == 0 || p.NoteMarker == "":
			send = append(send, p)
		case time.Since(time.UnixMilli(p.NoteSentAt)) < b.noteSettle:
			waiting = true
		default:
			unclear = append(unclear, p)
		}
	}
	if len(unclear) > 0 {
		markers := make(map[string]string, len(unclear))
		for _, p := range unclear {
			markers[p.NoteMarker] = p.ContactID
		}
		found, err := b.hs.FindNotes(ctx, markers, func(ids []string) (map[string]bool, error) {
			return b.st.KnownNoteIDs(ctx, ids)
		})
		if err != nil {
			return false, fmt.Errorf("look up notes whose creation was not confirmed: %w", err)
		}
		done := map[int64]string{}
		for _, p := range unclear {
			if id := found[p.NoteMarker]; id != "" {
				done[p.ID] = id
			} else {
				send = append(send, p)
			}
		}
		b.log.Info("looked up notes whose creation was not confirmed", "notes", len(unclear), "found", len(done))
		if err := b.st.FinishNotes(rctx, store.NoteOutcome{Done: done}); err != nil {
			return false, err
		}
	}
	if len(send) == 0 {
		return !waiting && len(unclear) > 0, nil
	}

	marks := make(map[int64]string, len(send))
	notes := make([]hubspot.Note, len(send))
	for i := range send {
		p := &send[i]
		if p.NoteMarker == "" {
			p.NoteMarker = newNoteMarker()
		}
		marks[p.ID] = p.NoteMarker
		notes[i] = hubspot.Note{ContactID: p.ContactID, Body: noteBody(&p.ChatMessage), Timestamp: time.UnixMilli(p.Timestamp), Marker: p.NoteMarker}
	}
	if err := b.st.SendingNotes(rctx, marks); err != nil {
		return false, err
	}
	ids, err := b.hs.BatchCreateNotes(ctx, notes)
	var gone []int64
	if err != nil && len(ids) == 0 && notesOutcome(err) == notesRefused {
		// HubSpot refused the whole batch, which it does for a note on a
		// contact that does not exist; the contact may have been merged
		// (a merged-away id reads as the merged record, but HubSpot does
		// not document associations to one), as writes find. Refused,
		// nothing was created: resolve the ids and send again.
		var retry bool
		if notes, gone, retry = b.followMergedNotes(ctx, send, notes); retry {
			ids, err = b.hs.BatchCreateNotes(ctx, notes)
		}
	}
	out := store.NoteOutcome{Done: map[int64]string{}, Refused: gone}
	if len(gone) > 0 {
		out.Error = "the contact was deleted in HubSpot"
	}
	var rest []int64 // not in the answer
	k := 0           // send without the notes of gone contacts, as notes is
	for _, p := range send {
		if slices.Contains(gone, p.ID) {
			continue
		}
		if k < len(ids) && ids[k] != "" {
			out.Done[p.ID] = ids[k]
		} else {
			rest = append(rest, p.ID)
		}
		k++
	}
	if err != nil {
		out.Error = err.Error()
		switch notesOutcome(err) {
		case notesRefused:
			out.Refused = append(out.Refused, rest...)
		case notesUnsent:
			out.Unsent = rest
		default:
			// The batch may exist in HubSpot: the rows keep their sending
			// mark and are looked up by marker before they are sent again.
		}
	}
	if ferr := b.st.FinishNotes(rctx, out); ferr != nil {
		return false, fmt.Errorf("record notes: %w", ferr)
	}
	if err != nil {
		return false, err
	}
	return !waiting, nil
}

// followMergedNotes reads the contact ids of a refused batch: a note on a
// merged-away contact goes to the merged record, one on a deleted contact
// is left out (gone: refused, counted as an attempt). retry says whether
// the rest is worth sending again: some contact was merged or gone.
func (b *Service) followMergedNotes(ctx context.Context, send []store.PendingNote, notes []hubspot.Note) (out []hubspot.Note, gone []int64, retry bool) {
	ids := make([]string, 0, len(notes))
	for _, n := range notes {
		if !slices.Contains(ids, n.ContactID) {
			ids = append(ids, n.ContactID)
		}
	}
	became, err := b.hs.ResolveContactIDs(ctx, ids)
	if err != nil {
		b.log.Warn("read the contacts of refused notes", "notes", len(notes), "err", err)
		return notes, nil, false
	}
	if len(became.Merged) == 0 && len(became.Gone) == 0 {
		return notes, nil, false
	}
	for i, n := range notes {
		if became.Gone[n.ContactID] {
			gone = append(gone, send[i].ID)
			continue
		}
		if id := became.Merged[n.ContactID]; id != "" {
			b.log.Info("timeline note follows a merged contact", "connection", send[i].ConnectionID, "user", send[i].UserID, "from", n.ContactID, "to", id)
			n.ContactID = id
		}
		out = append(out, n)
	}
	return out, gone, len(out) > 0 || len(gone) > 0
}

const (
	notesUnknown = iota
	notesRefused
	notesUnsent
)

// notesOutcome tells from a batch create's error whether HubSpot refused
// the notes themselves (worth only a few attempts), certainly created
// nothing for a reason that is not the notes' fault (HubSpot answered
// 401, 403 or 429, or the daily limit or the token stopped the request
// before it went out), or may have created them (anything else).
func notesOutcome(err error) int {
	var apiErr *hubspot.APIError
	switch {
	case errors.Is(err, hubspot.ErrDailyLimit), errors.Is(err, hubspot.ErrUnauthorized) && !errors.As(err, &apiErr):
		return notesUnsent
	case errors.As(err, &apiErr) && apiErr.Status >= 400 && apiErr.Status < 500:
		if noteRejected(apiErr.Status) {
			return notesRefused
		}
		return notesUnsent
	}
	return notesUnknown
}

// newNoteMarker is a token unique to one note, written into its body.
func newNoteMarker() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "lh" + hex.EncodeToString(b[:])
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
	if m.Direction == store.ChatOut && m.Unconfirmed {
		head = "<strong>LINE message sent, not confirmed</strong> (" + html.EscapeString(m.Via) + "; LINE never confirmed it, so it may not have been delivered)"
	}
	text := html.EscapeString(m.Text)
	return head + "<br>" + strings.ReplaceAll(text, "\n", "<br>")
}
