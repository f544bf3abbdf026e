package linking

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"strings"
	"time"

	"linehub/app/hubspot"
	"linehub/app/store"
)

// Every finished link and unlink becomes a timeline note on the contact,
// so that HubSpot users see who linked the LINE account, when and how.
// Notes go out as messaging's do (hubspot/notes.go): each with a marker
// recorded before the request, and a batch whose answer was lost is looked
// up by marker before anything is sent again, so a crash neither loses
// nor doubles a note.

const linkNotesBatch = 100

func (s *Service) flushNotes(ctx context.Context) error {
	due, err := s.st.LinkNotesDue(ctx, linkNotesBatch)
	if err != nil || len(due) == 0 {
		return err
	}
	names := map[int64]string{}
	var unclear, send []store.LinkRecord
	for _, r := range due {
		switch {
		case r.NoteSentAt == 0 || r.NoteMarker == "":
			send = append(send, r)
		case s.now().Sub(time.UnixMilli(r.NoteSentAt)) >= s.noteSettle:
			unclear = append(unclear, r)
		}
	}
	done := map[int64]string{}
	if len(unclear) > 0 {
		markers := make(map[string]string, len(unclear))
		for _, r := range unclear {
			markers[r.NoteMarker] = noteContact(r)
		}
		found, err := s.hs.FindNotes(ctx, markers, func(ids []string) (map[string]bool, error) {
			return s.st.KnownLinkNoteIDs(ctx, ids)
		})
		if err != nil {
			return fmt.Errorf("look up link notes whose creation was not confirmed: %w", err)
		}
		for _, r := range unclear {
			if id := found[r.NoteMarker]; id != "" {
				done[r.ID] = id
			} else {
				send = append(send, r)
			}
		}
	}
	if len(send) > 0 {
		marks := make(map[int64]string, len(send))
		notes := make([]hubspot.Note, 0, len(send))
		var sent []store.LinkRecord
		for _, r := range send {
			if noteContact(r) == "" {
				done[r.ID] = "" // nothing to note it on
				continue
			}
			if r.NoteMarker == "" {
				r.NoteMarker = newMarker()
			}
			if names[r.ConnectionID] == "" {
				names[r.ConnectionID] = s.connName(ctx, r.ConnectionID)
			}
			marks[r.ID] = r.NoteMarker
			notes = append(notes, hubspot.Note{ContactID: noteContact(r), Body: noteBody(r, names[r.ConnectionID]),
				Timestamp: noteTime(r), Marker: r.NoteMarker})
			sent = append(sent, r)
		}
		if len(notes) > 0 {
			if err := s.st.SendingLinkNotes(ctx, marks); err != nil {
				return err
			}
			ids, err := s.hs.BatchCreateNotes(ctx, notes)
			for i, id := range ids {
				done[sent[i].ID] = id
			}
			if err != nil {
				// Recorded as sent: the next pass looks them up first.
				if derr := s.st.LinkNotesDone(context.WithoutCancel(ctx), done); derr != nil {
					return derr
				}
				return fmt.Errorf("create link notes: %w", err)
			}
		}
	}
	return s.st.LinkNotesDone(context.WithoutCancel(ctx), done)
}

func (s *Service) connName(ctx context.Context, id int64) string {
	c, err := s.st.Connection(ctx, id)
	if err != nil {
		return fmt.Sprintf("#%d", id)
	}
	return fmt.Sprintf("%s (#%d)", c.Name, c.Serial)
}

// noteContact is the contact a record's note goes on: the one linked to
// (its id after a merge), or the one unlinked from.
func noteContact(r store.LinkRecord) string {
	if r.Action == store.LinkActionLink {
		return r.ResultID
	}
	return r.ContactID
}

func noteTime(r store.LinkRecord) time.Time {
	if r.DoneAt != nil {
		return *r.DoneAt
	}
	return r.CreatedAt
}

var howWords = map[string]string{
	HowLink:  "LINE連携リンク / link from an email",
	HowEmail: "LINEログインのメールアドレス / the email LINE Login gave",
	HowHand:  "手動 / by hand",
}

// noteBody says, in Japanese then English, what happened; every value is
// escaped (HubSpot renders the body as HTML).
func noteBody(r store.LinkRecord, conn string) string {
	var b strings.Builder
	if r.Action == store.LinkActionLink {
		b.WriteString("<p><strong>LINE連携 / LINE account linked</strong></p>")
	} else {
		b.WriteString("<p><strong>LINE連携解除 / LINE account unlinked</strong></p>")
	}
	line := func(k, v string) {
		if v != "" {
			b.WriteString("<p>" + k + ": " + html.EscapeString(v) + "</p>")
		}
	}
	line("LINE公式アカウント / LINE account", conn)
	line("LINE user ID", r.UserID)
	line("方法 / How", howWords[r.How])
	line("操作者 / By", r.By)
	if r.MergeID != "" {
		line("統合した連絡先 / Merged contact", r.MergeID)
	}
	line("理由 / Reason", r.Reason)
	return b.String()
}

func newMarker() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "lk" + hex.EncodeToString(b)
}
