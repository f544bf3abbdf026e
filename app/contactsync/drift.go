package contactsync

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"time"

	"linehub/app/connections"
	"linehub/app/hubspot"
	"linehub/app/store"
)

// DriftStats is what one drift repair of a connection found.
type DriftStats struct {
	Checked  int64 `json:"checked"`
	Gone     int64 `json:"gone"`     // deleted in HubSpot, marked gone
	Merged   int64 `json:"merged"`   // merged into another contact, which the friend now follows
	Repaired int64 `json:"repaired"` // properties re-applied
	Kept     int64 `json:"kept"`     // properties someone changed after linehub, left alone
	Contacts int64 `json:"contacts"` // contacts with at least one property re-applied
	Requests int64 `json:"requests"` // HubSpot batch reads
}

// RepairDrift re-reads a connection's contacts from HubSpot, 100 per batch
// read and at most jobs.drift_reads_per_minute reads a minute so the sync
// worker keeps most of the budget. A contact deleted in HubSpot is marked
// gone (recreated only by a message or a re-follow, docs/design.md §3); one
// merged into another contact reads as the merged contact, which the friend
// adopts and which is compared like any other. A LINE
// property whose value differs from what linehub last wrote is written
// again, unless someone other than an app changed it after linehub's write
// (a person in the CRM, a workflow, an import): that edit stands until a
// new LINE event changes the value (docs/design.md §3).
func (b *Sync) RepairDrift(ctx context.Context, connID int64) (DriftStats, error) {
	var stats DriftStats
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil {
		return stats, err
	}
	if !b.hs.HasToken() {
		return stats, connections.HubSpotNotConfiguredErr()
	}
	serial := cs.Conn.Serial
	props := append(PropertyNames(serial), hubspot.PropMergedIDs)
	pace := &pacer{every: time.Minute / time.Duration(max(b.cfg.Jobs.DriftReadsPerMinute, 1))}
	var after int64
	for {
		fs, err := b.st.ContactsPage(ctx, connID, after, 100)
		if err != nil || len(fs) == 0 {
			return stats, err
		}
		after = fs[len(fs)-1].ID
		if err := pace.wait(ctx); err != nil {
			return stats, err
		}
		ids := make([]string, len(fs))
		for i, f := range fs {
			ids[i] = f.ContactID
		}
		found, notFound, err := b.hs.BatchReadContactsWithHistory(ctx, ids, props)
		stats.Requests++
		if err != nil {
			return stats, err
		}
		gone := map[string]bool{}
		for _, id := range notFound {
			gone[id] = true
		}
		friendIDs := make([]int64, len(fs))
		for i, f := range fs {
			friendIDs[i] = f.ID
		}
		edits, err := b.st.ContactEdits(ctx, friendIDs)
		if err != nil {
			return stats, err
		}
		repairs := map[string]Field{} // by user id
		goneUsers := map[string]string{}
		moved := map[string][2]string{} // by user id: old and new contact id
		readAs := map[string]string{}   // by user id: the contact the repairs were compared with
		for i := range fs {
			f := &fs[i]
			stats.Checked++
			readAs[f.UserID] = f.ContactID
			if gone[f.ContactID] {
				goneUsers[f.UserID] = f.ContactID
				continue
			}
			c, ok := hubspot.ContactFor(found, f.ContactID)
			if !ok {
				continue // read as a contact that does not list it: next time
			}
			if c.ID != f.ContactID {
				moved[f.UserID] = [2]string{f.ContactID, c.ID}
				readAs[f.UserID] = c.ID
			}
			fields, kept := driftedFields(f, c, serial)
			fields, kept2 := keepRecordedEdits(fields, f, c, serial, edits[f.ID])
			stats.Kept += int64(kept + kept2)
			if fields != 0 {
				repairs[f.UserID] = fields
			}
		}
		if len(repairs) == 0 && len(goneUsers) == 0 && len(moved) == 0 {
			continue
		}
		touched := map[string]bool{}
		for u := range repairs {
			touched[u] = true
		}
		for u := range goneUsers {
			touched[u] = true
		}
		for u := range moved {
			touched[u] = true
		}
		users := slices.Collect(maps.Keys(touched))
		err = b.st.Apply(ctx, func(tx *store.ApplyTx) error {
			cur, err := tx.Friends(connID, users)
			if err != nil {
				return err
			}
			var save []*store.Friend
			for uid, f := range cur {
				if id, ok := goneUsers[uid]; ok && f.ContactID == id {
					f.ContactID, f.ContactGone, f.Written = "", true, "{}"
					stats.Gone++
					save = append(save, f)
					continue
				}
				adopted := false
				if m, ok := moved[uid]; ok && f.ContactID == m[0] {
					f.ContactID = m[1]
					stats.Merged++
					adopted = true
				}
				fields, ok := repairs[uid]
				if !ok || f.Dirty != 0 || f.ContactID != readAs[uid] {
					// Changed since it was read (the merge webhook may have
					// moved it to another contact than the one compared):
					// the sync worker writes it anyway.
					if adopted {
						save = append(save, f)
					}
					continue
				}
				if fields&FieldUserID != 0 {
					// The sync worker skips a user id it believes written.
					w := decodeWritten(f.Written)
					delete(w, "line_user_id")
					f.Written = encodeWritten(w)
				}
				f.Dirty |= int(fields)
				stats.Contacts++
				for _, d := range fieldDefs {
					if fields&d.field != 0 {
						stats.Repaired++
					}
				}
				save = append(save, f)
			}
			return tx.SaveFriends(save)
		})
		if err != nil {
			return stats, err
		}
		wake(b.syncWake)
	}
}

// appSources are history source types of writes by apps through the API,
// linehub's own included. Everything else (CRM_UI, MOBILE_*, IMPORT,
// WORKFLOW, ...) is a person's decision, directly or through a tool.
var appSources = map[string]bool{"INTEGRATION": true, "API": true}

// driftedFields compares a contact's LINE properties with what linehub
// last wrote and returns the fields to write again, and how many differing
// properties are left alone because someone changed them after linehub.
func driftedFields(f *store.Friend, c hubspot.ContactHistory, serial int) (Field, int) {
	written := decodeWritten(f.Written)
	var out Field
	kept := 0
	for _, d := range fieldDefs {
		w, ok := written[d.key]
		if !ok {
			continue
		}
		name := PropertyName(d.key, serial)
		cur := c.Properties[name]
		if sameValue(d.field, cur, w) {
			continue
		}
		hist := c.History[name]
		var ours time.Time // newest app write of linehub's value
		for _, v := range hist {
			if appSources[v.SourceType] && sameValue(d.field, v.Value, w) {
				ours = v.Timestamp
				break
			}
		}
		if len(hist) > 0 {
			newest := hist[0]
			if !appSources[newest.SourceType] && (ours.IsZero() || !newest.Timestamp.Before(ours)) {
				kept++
				continue
			}
		}
		out |= d.field
	}
	return out, kept
}

// keepRecordedEdits takes out of fields the properties that a person
// changed in HubSpot, as the app's webhooks reported (store.ContactEdit),
// while HubSpot still holds the person's value and linehub has written
// no other since: the history alone may not show it, when another app
// wrote the same value after the person. It returns the fields left and
// how many it kept.
func keepRecordedEdits(fields Field, f *store.Friend, c hubspot.ContactHistory, serial int, edits map[string]store.ContactEdit) (Field, int) {
	if fields == 0 || len(edits) == 0 {
		return fields, 0
	}
	written := decodeWritten(f.Written)
	kept := 0
	for _, d := range fieldDefs {
		e, ok := edits[d.key]
		if fields&d.field == 0 || !ok {
			continue
		}
		if sameValue(d.field, c.Properties[PropertyName(d.key, serial)], e.Value) && e.Overrode == written[d.key] {
			fields &^= d.field
			kept++
		}
	}
	return fields, kept
}

// sameValue compares a HubSpot value with one linehub wrote. Datetimes go
// out as epoch milliseconds and come back as ISO-8601.
func sameValue(field Field, hs, written string) bool {
	if hs == written {
		return true
	}
	if field != FieldSyncDate {
		return false
	}
	a, ok1 := epochMillis(hs)
	b, ok2 := epochMillis(written)
	return ok1 && ok2 && a == b
}

func epochMillis(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), true
	}
	return 0, false
}
