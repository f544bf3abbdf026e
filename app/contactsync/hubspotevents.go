package contactsync

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"linehub/app/hubspot"
	"linehub/app/store"
)

// The webhooks of linehub's HubSpot app are a second inbound queue beside
// LINE's inbox: a batch is stored in one transaction before HubSpot gets
// its 200 (IngestHubSpotEvents), and this worker applies it to friends
// afterwards, oldest event first, so a crash after the 200 loses nothing.
//
//   - contact.deletion: the friends of that contact are marked gone at once,
//     exactly as a write answered 404 does: no contact until a message or
//     a re-follow (docs/design.md §3).
//   - contact.merge: the friends of a merged contact follow the surviving
//     one (adoptMergedContact) and every LINE property is written there;
//     so do friends a deletion webhook took that contact from (HubSpot
//     does not document whether a merge also reports the merged-away
//     records as deleted, nor in which order).
//   - contact.propertyChange of a LINE property by a person: recorded
//     (store.ContactEdit); drift repair leaves that value alone.
//
// Drift repair and reconcile stay the safety net when the app is not
// installed or a webhook is lost.

// hubspotEventBatch is how many events one apply transaction takes.
const hubspotEventBatch = 100

// IngestHubSpotEvents stores the contact events of a verified webhook
// batch (other subscription types are left out) and wakes the worker. It
// returns how many were new; on nil the batch survives a crash and HubSpot
// may be answered 200. Redelivered events are stored once.
func (b *Sync) IngestHubSpotEvents(ctx context.Context, evs []hubspot.WebhookEvent) (int, error) {
	received := time.Now().UTC()
	rows := make([]store.HubSpotEvent, 0, len(evs))
	for _, ev := range evs {
		kind := ev.Kind()
		if kind == "" {
			continue
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			return 0, fmt.Errorf("encode HubSpot event %d: %w", ev.EventID, err)
		}
		rows = append(rows, store.HubSpotEvent{
			DedupeKey: ev.DedupeKey(), Kind: kind, ObjectID: hubspot.FormatID(ev.ObjectID), OccurredAt: ev.OccurredAt,
			Raw: string(raw), ReceivedAt: received, Pending: true,
		})
	}
	n, err := b.st.AppendHubSpotEvents(ctx, rows)
	if err != nil || n > 0 {
		b.noteStorage(err)
	}
	if err != nil {
		return 0, err
	}
	if n > 0 {
		wake(b.hubspotWake)
	}
	return n, nil
}

func (b *Sync) runHubSpotEvents(ctx, workCtx context.Context) {
	backoff := time.Second
	for {
		n, err := b.applyHubSpotEvents(workCtx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			b.log.Error("apply HubSpot webhook events", "err", err)
			sleep(ctx, backoff)
			backoff = min(backoff*2, time.Minute)
			continue
		}
		backoff = time.Second
		if n == hubspotEventBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-b.hubspotWake:
		case <-time.After(10 * time.Second):
		}
	}
}

// ApplyHubSpotEvents applies every pending HubSpot event (tests).
func (b *Sync) ApplyHubSpotEvents(ctx context.Context) error {
	for {
		n, err := b.applyHubSpotEvents(ctx)
		if err != nil || n < hubspotEventBatch {
			return err
		}
	}
}

// applyHubSpotEvents applies one batch of pending events in one
// transaction and returns how many it took.
func (b *Sync) applyHubSpotEvents(ctx context.Context) (int, error) {
	rows, err := b.st.PendingHubSpotEvents(ctx, hubspotEventBatch)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	conns, err := b.st.Connections(ctx)
	if err != nil {
		return 0, fmt.Errorf("list connections: %w", err)
	}
	bySerial := make(map[int]int64, len(conns))
	for _, c := range conns {
		bySerial[c.Serial] = c.ID
	}
	// A sync round holds contactMu: a contact id changed here while a round
	// writes the old one would be put back by the round's results.
	b.contactMu.Lock()
	defer b.contactMu.Unlock()
	moved := false
	err = b.st.Apply(ctx, func(tx *store.ApplyTx) error {
		at := time.Now().UTC()
		for _, row := range rows {
			var ev hubspot.WebhookEvent
			msg := ""
			if err := json.Unmarshal([]byte(row.Raw), &ev); err != nil {
				msg = "unreadable event: " + err.Error()
			} else {
				m, err := b.applyHubSpotEvent(tx, ev, bySerial)
				if err != nil {
					return err
				}
				msg = m.err
				moved = moved || m.moved
			}
			if err := tx.MarkHubSpotEvent(row.ID, at, msg); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if moved {
		b.Wake() // the adopted contacts are written now, not at the next tick
	}
	return len(rows), nil
}

type eventOutcome struct {
	moved bool   // friends follow another contact and have properties to write
	err   string // why the event changed nothing, kept on its row
}

func (b *Sync) applyHubSpotEvent(tx *store.ApplyTx, ev hubspot.WebhookEvent, bySerial map[int]int64) (eventOutcome, error) {
	id := hubspot.FormatID(ev.ObjectID)
	switch ev.Kind() {
	case hubspot.EventContactDeletion:
		fs, err := tx.FriendsOfContacts([]string{id})
		if err != nil {
			return eventOutcome{}, err
		}
		for _, f := range fs {
			b.log.Info("HubSpot contact deleted; the friend has no contact until a message or a re-follow",
				"connection", f.ConnectionID, "friend", f.ID, "contact", id)
			markContactDeleted(f, ev.OccurredAt)
			if err := tx.DeleteContactEdits(f.ID); err != nil {
				return eventOutcome{}, err
			}
		}
		return eventOutcome{}, tx.SaveFriends(fs)

	case hubspot.EventContactMerge:
		survivor := hubspot.FormatID(ev.SurvivorID())
		var ids []string
		for _, x := range append([]int64{ev.PrimaryObjectID, ev.ObjectID}, ev.MergedObjectIDs...) {
			if s := hubspot.FormatID(x); x != 0 && s != survivor {
				ids = append(ids, s)
			}
		}
		fs, err := tx.FriendsOfContacts(ids)
		if err != nil {
			return eventOutcome{}, err
		}
		gone, err := tx.FriendsGoneFrom(ids)
		if err != nil {
			return eventOutcome{}, err
		}
		fs = append(fs, gone...)
		for _, f := range fs {
			b.adoptMergedContact(f, survivor, "merge webhook")
			if err := tx.DeleteContactEdits(f.ID); err != nil {
				return eventOutcome{}, err
			}
		}
		return eventOutcome{moved: len(fs) > 0}, tx.SaveFriends(fs)

	case hubspot.EventContactPropertyChange:
		if appSources[ev.ChangeSource] {
			// linehub's own writes (and other apps'): drift repair judges
			// those by the property history.
			return eventOutcome{}, nil
		}
		key, serial, ok := parsePropertyName(ev.PropertyName)
		if !ok {
			return eventOutcome{err: fmt.Sprintf("%q is not one of linehub's properties", ev.PropertyName)}, nil
		}
		connID, ok := bySerial[serial]
		if !ok {
			return eventOutcome{err: fmt.Sprintf("no connection has serial %d", serial)}, nil
		}
		fs, err := tx.FriendsOfContacts([]string{id})
		if err != nil {
			return eventOutcome{}, err
		}
		for _, f := range fs {
			if f.ConnectionID != connID {
				continue
			}
			e := &store.ContactEdit{
				FriendID: f.ID, Property: key, ConnectionID: connID, ContactID: id,
				Value: ev.PropertyValue, Overrode: decodeWritten(f.Written)[key],
				Source: ev.ChangeSource, SourceID: ev.SourceID, OccurredAt: ev.OccurredAt,
			}
			if err := tx.SaveContactEdit(e); err != nil {
				return eventOutcome{}, err
			}
		}
		return eventOutcome{}, nil
	}
	return eventOutcome{err: "not a contact event linehub handles"}, nil
}

// markContactDeleted forgets a friend's contact as a write answered 404
// does: the friend is gone from HubSpot until a message or a re-follow.
// One that came after the deletion may create the contact again.
func markContactDeleted(f *store.Friend, deletedAt int64) {
	f.GoneContactID = f.ContactID
	f.ContactID, f.ContactGone, f.Written = "", true, "{}"
	f.MayCreate = f.MayCreate && (f.LastMessageAt > deletedAt || (f.Following && f.FollowAt > deletedAt))
}

// adoptMergedContact makes a friend follow the contact its contact was
// merged into, with every LINE property due there: the merge may have kept
// the other record's values. Email and first name are never written, and
// nothing is created. It is the one way a friend adopts a merged contact,
// whether the app's merge webhook said so, a write or read showed it, or
// linking chose the contact (how): the caller then has the contact written at once (the webhook
// worker wakes the sync worker, a sync round writes it in the same round).
func (b *Sync) adoptMergedContact(f *store.Friend, survivor, how string) {
	b.log.Info("the friend follows another contact (merged in HubSpot, or linked)",
		"connection", f.ConnectionID, "friend", f.ID, "from", cmp.Or(f.ContactID, f.GoneContactID), "to", survivor, "seen_by", how)
	f.ContactID, f.ContactGone, f.GoneContactID, f.Written = survivor, false, "", "{}"
	f.Dirty |= int(allFields)
	f.NextSyncAt = 0
}

// parsePropertyName splits line_follow_3 into line_follow and 3.
func parsePropertyName(name string) (key string, serial int, ok bool) {
	i := strings.LastIndexByte(name, '_')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(name[i+1:])
	if err != nil || n <= 0 || name[i+1] == '0' || name[i+1] == '+' {
		return "", 0, false
	}
	for _, d := range fieldDefs {
		if d.key == name[:i] {
			return d.key, n, true
		}
	}
	return "", 0, false
}
