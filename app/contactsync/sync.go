package contactsync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"linehub/app/connections"
	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/store"
)

// syncRound is how many dirty friends one round takes; the HubSpot client
// splits them into requests of 100.
const syncRound = 500

// probeInterval is how often the sync worker asks a down HubSpot whether
// it is back: soon enough that contacts are right about 2 s after HubSpot
// is, rarely enough that an outage costs no more requests than the retries
// of a long backoff did (docs/benchmarks.md). probeTimeout bounds one probe
// (a HubSpot that hangs is down).
const (
	probeInterval = 2 * time.Second
	probeTimeout  = 5 * time.Second
)

func (b *Sync) runSync(ctx, workCtx context.Context) {
	backoff := time.Second
	for {
		n, err := b.syncOnce(workCtx)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, hubspot.ErrUnavailable) {
			// HubSpot is down. Batches wait while one small probe per
			// interval asks whether it is back; the first answer resumes
			// full speed at once, with no backoff left to sit out.
			b.log.Error("sync to HubSpot: HubSpot unavailable; probing until it answers", "err", err, "every", probeInterval)
			if !b.awaitHubSpot(ctx) {
				return
			}
			backoff = time.Second
			continue
		}
		if err != nil {
			// HubSpot answers but will not take the round (token, limits):
			// probing would not help, waiting longer each time does.
			b.log.Error("sync to HubSpot", "err", err)
			sleep(ctx, backoff)
			backoff = min(backoff*2, 5*time.Minute)
			continue
		}
		backoff = time.Second
		if n >= syncRound {
			continue
		}
		// Waiting a moment after a wake-up lets a burst fill whole batches of
		// 100 instead of spending a request on every few friends.
		select {
		case <-ctx.Done():
			return
		case <-b.syncWake:
			sleep(ctx, b.cfg.Sync.Interval)
		case <-time.After(10 * time.Second):
		}
	}
}

// awaitHubSpot probes HubSpot every probeInterval until it answers (or
// refuses for another reason than being down); false when ctx ended.
func (b *Sync) awaitHubSpot(ctx context.Context) bool {
	for probes := 1; ; probes++ {
		if !b.probeWait(ctx) {
			return false
		}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := b.hs.Probe(pctx)
		cancel()
		if ctx.Err() != nil {
			return false
		}
		if err == nil || !(errors.Is(err, hubspot.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)) {
			b.log.Info("HubSpot answers again; syncing", "probes", probes)
			return true
		}
		b.log.Debug("HubSpot still unavailable", "probes", probes, "err", err)
	}
}

// waitProbeInterval is the wait before each probe; false when ctx ended.
func waitProbeInterval(ctx context.Context) bool {
	sleep(ctx, probeInterval)
	return ctx.Err() == nil
}

// SyncPending syncs until nothing eligible is left (tests, shutdown).
func (b *Sync) SyncPending(ctx context.Context) error {
	for {
		n, err := b.syncOnce(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// syncItem is one friend on its way to HubSpot.
type syncItem struct {
	f       store.Friend
	serial  int
	mask    Field
	written map[string]string
	props   map[string]string
	ref     string
	profile *store.ProfileUpdate // read from LINE in this round, to store
	// conflict: the contact was found by the email of a create.
	conflict bool
	// email replaces the dummy email of a create (sharedEmail).
	email string
	// landed: a write to the id landed on a merged record with another id.
	landed bool
}

// retryProperties tries again, at most once a minute per connection, to
// create properties that HubSpot refused or could not create at connect time.
func (b *Sync) retryProperties(ctx context.Context, connID int64) bool {
	b.mu.Lock()
	if time.Since(b.propsTried[connID]) < time.Minute {
		b.mu.Unlock()
		return false
	}
	b.propsTried[connID] = time.Now()
	b.mu.Unlock()
	if err := b.EnsureProperties(ctx, connID); err != nil {
		b.log.Warn("HubSpot properties still missing", "connection", connID, "err", err)
		return false
	}
	return true
}

// profileGrace is how long a new contact waits for a LINE profile that
// could not be read before it is created without a name.
const profileGrace = 10 * time.Minute

// retryProfile reads the profile that the applier could not, and reports
// which fields it changed.
func (b *Sync) retryProfile(ctx context.Context, cs *connections.Conn, f *store.Friend) (Field, error) {
	if cs.Client == nil {
		return 0, nil
	}
	fctx, cancel := context.WithTimeout(ctx, profileFetchWait)
	defer cancel()
	p, err := b.profiles.Get(fctx, cacheKey(f.ConnectionID), f.UserID, b.fetchProfile(ctx, cs, f.UserID))
	if errors.Is(err, line.ErrNotFriend) {
		f.ProfileMissing = false
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var changed Field
	applyProfile(f, &profileResult{p: p, at: time.Now().UnixMilli()}, func(fl Field) { changed |= fl })
	return changed, nil
}

// syncOnce writes one round of dirty friends to HubSpot and returns how
// many friends it looked at.
func (b *Sync) syncOnce(ctx context.Context) (int, error) {
	if !b.hs.HasToken() {
		return 0, nil
	}
	b.contactMu.Lock()
	defer b.contactMu.Unlock()
	friends, err := b.st.DirtyFriendsFair(ctx, time.Now().UnixMilli(), syncRound)
	if err != nil || len(friends) == 0 {
		return 0, err
	}
	var updates, creates []*syncItem
	var results []store.SyncResult
	lineDown := false
	for _, f := range friends {
		cs, err := b.conns.ByID(ctx, f.ConnectionID)
		if errors.Is(err, store.ErrNotFound) {
			// The connection was deleted: its friends have nothing left to sync.
			results = append(results, store.SyncResult{FriendID: f.ID, Version: f.Version, ContactID: f.ContactID, ContactGone: f.ContactGone, Synced: true})
			continue
		}
		if err != nil {
			return 0, err
		}
		if !cs.Conn.PropertiesReady && !b.retryProperties(ctx, cs.Conn.ID) {
			r := retryLater(f, "HubSpot properties of this connection are not created yet", time.Minute)
			r.KeepAttempts = true
			results = append(results, r)
			continue
		}
		it := &syncItem{f: f, serial: cs.Conn.Serial, written: decodeWritten(f.Written), ref: fmt.Sprint(f.ID)}
		var profileFields Field
		if f.ProfileMissing && (f.ContactID != "" || f.MayCreate) && !lineDown {
			var err error
			profileFields, err = b.retryProfile(ctx, cs, &it.f)
			lineDown = err != nil
		}
		if it.f.ProfileMissing && f.ContactID == "" && f.MayCreate && time.Since(f.CreatedAt) < profileGrace {
			// Wait a little for LINE so the new contact gets its name (and
			// firstname, which is only ever set on create).
			r := retryLater(f, "waiting for the LINE profile (LINE API unavailable)", 30*time.Second)
			r.KeepAttempts = true
			results = append(results, r)
			continue
		}
		if profileFields != 0 {
			it.profile = &store.ProfileUpdate{DisplayName: it.f.DisplayName, PictureURL: it.f.PictureURL, ProfileAt: it.f.ProfileAt}
		}
		switch {
		case f.ContactID != "":
			it.mask = Field(f.Dirty) | profileFields
			if it.written["line_user_id"] == f.UserID {
				it.mask &^= FieldUserID // never changes once written
			}
			it.props = contactProperties(&it.f, it.serial, it.mask, it.written)
			if len(it.props) == 0 {
				results = append(results, syncedResult(it))
				continue
			}
			updates = append(updates, it)
		case f.MayCreate:
			it.mask = allFields
			it.props = contactProperties(&it.f, it.serial, it.mask, it.written)
			creates = append(creates, it)
		default:
			// No contact and no message or follow since it was deleted (or an
			// unfollow from someone never seen): nothing may be created.
			results = append(results, syncedResult(it))
		}
	}

	// Requests go out sync.batch_size friends at a time. After a whole-call
	// failure the rest of the round is left as it is (still dirty, no
	// attempt counted): HubSpot is likely down for them too. A down HubSpot
	// fails the call within seconds rather than after a long backoff
	// inside it: the worker then probes until HubSpot is back.
	ctx = hubspot.FailFast(ctx)
	var callErr error
	size := b.cfg.Sync.BatchSize
	for i := 0; i < len(creates) && callErr == nil; i += size {
		rs, conflicts, err := b.createContacts(ctx, creates[i:min(i+size, len(creates))])
		results = append(results, rs...)
		updates = append(updates, conflicts...)
		callErr = err
	}
	for i := 0; i < len(updates) && callErr == nil; i += size {
		rs, err := b.updateContacts(ctx, updates[i:min(i+size, len(updates))])
		results = append(results, rs...)
		callErr = err
	}
	read := make(map[int64]string, len(friends))
	for _, f := range friends {
		read[f.ID] = f.ContactID
	}
	for i := range results {
		// Drift repair may have moved the friend to another contact while
		// the round wrote: its result must not put the old id back.
		results[i].ReadContactID = read[results[i].FriendID]
	}
	if err := b.st.SaveSyncResults(ctx, results); err != nil {
		return 0, err
	}
	t := time.Now().UTC()
	b.setStatus(func(s *Status) {
		s.LastSyncAt = &t
		if callErr != nil {
			s.LastSyncError, s.LastErrorAt, s.SyncErrorCode = callErr.Error(), &t, connections.ErrorCode(callErr)
		} else {
			s.LastSyncOKAt = &t
		}
	})
	if callErr != nil {
		return len(friends), callErr
	}
	return len(friends), nil
}

func (b *Sync) email(userID string) string {
	return strings.ToLower(userID) + "@" + b.cfg.EmailDomain()
}

// createContacts creates contacts for new friends. An email that already
// exists (a contact made before a crash, or one linehub forgot) is not an
// error: that contact is adopted and updated instead, without firstname.
func (b *Sync) createContacts(ctx context.Context, items []*syncItem) ([]store.SyncResult, []*syncItem, error) {
	inputs := make([]hubspot.ContactInput, len(items))
	for i, it := range items {
		props := make(map[string]string, len(it.props)+1)
		for k, v := range it.props {
			props[k] = v
		}
		if it.f.DisplayName != "" {
			props["firstname"] = it.f.DisplayName // on create only: a human may edit it later
		}
		inputs[i] = hubspot.ContactInput{Ref: it.ref, Email: cmp.Or(it.email, b.email(it.f.UserID)), Properties: props}
	}
	res, err := b.hs.BatchCreateContacts(ctx, inputs)
	if err != nil {
		return failAll(items, err), nil, err
	}
	var out []store.SyncResult
	var adopted []*syncItem
	failed := failures(res.Failed)
	for _, it := range items {
		if c, ok := res.Contacts[it.ref]; ok {
			it.f.ContactID = c.ID
			out = append(out, syncedResult(it))
		} else if id, ok := res.Conflicts[it.ref]; ok && b.unlinked != nil && b.unlinked(ctx, it.f.ConnectionID, it.f.UserID, id) {
			// The friend's dummy email lives on, as an additional email, in
			// the contact an admin unlinked it from (its dummy contact had
			// been merged there): adopting it would undo the unlink. The
			// friend stays without a contact until linked by hand.
			b.log.Warn("not re-adopting the contact this friend was unlinked from; link it by hand",
				"connection", it.f.ConnectionID, "friend", it.f.ID, "contact", id)
			out = append(out, store.SyncResult{FriendID: it.f.ID, Version: it.f.Version, Written: "{}", Synced: true})
		} else if ok {
			it.f.ContactID, it.conflict = id, true
			adopted = append(adopted, it)
		} else if msg, ok := failed[it.ref]; ok {
			out = append(out, retryLater(it.f, msg, backoffFor(it.f.SyncAttempts)))
		} else {
			out = append(out, retryLater(it.f, "HubSpot returned no result for this contact", backoffFor(it.f.SyncAttempts)))
		}
	}
	return out, adopted, nil
}

// updateContacts writes changed friends to their contacts. A contact that
// was merged in HubSpot is followed: the write lands on the merged contact,
// whose new id the answer carries, and linehub keeps that id from then on.
func (b *Sync) updateContacts(ctx context.Context, items []*syncItem) ([]store.SyncResult, error) {
	items, separated, err := b.separateSharedContacts(ctx, items, false)
	if err != nil {
		return append(separated, failAll(items, err)...), err
	}
	if len(items) == 0 {
		return separated, nil
	}
	rs, err := b.updateContactsOnce(ctx, items)
	// A write to a merged-away id may have landed on the merged record,
	// which another friend of the connection may have too.
	var landed []*syncItem
	for _, it := range items {
		if it.landed {
			landed = append(landed, it)
		}
	}
	if len(landed) > 0 {
		_, detached, serr := b.separateSharedContacts(ctx, landed, true)
		if serr != nil {
			b.log.Warn("check contacts followed to a merge for other friends", "err", serr)
		}
		for _, d := range detached {
			for i := range rs {
				if rs[i].FriendID == d.FriendID {
					rs[i] = d
				}
			}
		}
	}
	return append(separated, rs...), err
}

func (b *Sync) updateContactsOnce(ctx context.Context, items []*syncItem) ([]store.SyncResult, error) {
	inputs := make([]hubspot.ContactInput, len(items))
	for i, it := range items {
		inputs[i] = hubspot.ContactInput{Ref: it.ref, ID: it.f.ContactID, Properties: it.props}
	}
	res, err := b.hs.BatchUpdateContacts(ctx, inputs)
	if err != nil {
		return failAll(items, err), err
	}
	failed := failures(res.Failed)
	unanswered := map[string]bool{}
	for _, f := range res.Failed {
		// HubSpot took the batch but said nothing of this input: it may
		// have written a merged contact under an id linehub does not know.
		unanswered[f.Ref] = f.Status >= 200 && f.Status < 300
	}
	var out []store.SyncResult
	var lost []*syncItem // refused as not found, or not in the answer
	for _, it := range items {
		c, written := res.Contacts[it.ref]
		switch {
		case failed[it.ref] != "" && !unanswered[it.ref]:
			out = append(out, retryLater(it.f, failed[it.ref], backoffFor(it.f.SyncAttempts)))
		case written:
			it.landed = c.ID != it.f.ContactID
			it.f.ContactID = c.ID
			out = append(out, syncedResult(it))
		default:
			lost = append(lost, it)
		}
	}
	if len(lost) == 0 {
		return out, nil
	}
	rs, err := b.followLost(ctx, lost)
	return append(out, rs...), err
}

// followLost handles contacts a write did not reach. HubSpot may refuse a
// merged-away id as not found, just as a deleted one, so each id is read
// first: a merged id reads as the merged contact, which the friend adopts
// and is written at once with all its LINE properties (the merge may have
// kept another contact's values; its email and first name are never
// written). A deleted contact is recreated at once when a message or a
// follow allows it (docs/design.md §3), and otherwise left gone.
func (b *Sync) followLost(ctx context.Context, lost []*syncItem) ([]store.SyncResult, error) {
	ids := make([]string, len(lost))
	for i, it := range lost {
		ids[i] = it.f.ContactID
	}
	became, err := b.hs.ResolveContactIDs(ctx, ids)
	if err != nil {
		return failAll(lost, err), err
	}
	var out []store.SyncResult
	var adopt, recreate []*syncItem
	for _, it := range lost {
		id := it.f.ContactID
		switch {
		case became.Merged[id] != "":
			b.adoptMergedContact(&it.f, became.Merged[id], "write")
			it.rewriteAll()
			adopt = append(adopt, it)
		case became.Gone[id] && it.f.MayCreate:
			it.f.ContactID, it.f.ContactGone = "", false
			it.rewriteAll()
			recreate = append(recreate, it)
		case became.Gone[id]:
			out = append(out, store.SyncResult{FriendID: it.f.ID, Version: it.f.Version, ContactGone: true, Synced: true, Written: "{}"})
		default:
			// Live, yet the write said nothing of it: try again later.
			out = append(out, retryLater(it.f, "HubSpot returned no result for this contact", backoffFor(it.f.SyncAttempts)))
		}
	}
	if len(recreate) > 0 {
		rs, conflicts, err := b.createContacts(ctx, recreate)
		out = append(out, rs...)
		adopt = append(adopt, conflicts...)
		if err != nil {
			return append(out, rewriteLater(failAll(adopt, err))...), err
		}
	}
	if len(adopt) == 0 {
		return rewriteLater(out), nil
	}
	rs, err := b.writeAdopted(ctx, adopt)
	return rewriteLater(append(out, rs...)), err
}

// rewriteLater keeps every LINE property dirty for friends whose new or
// adopted contact was not written yet, and forgets what was written to the
// contact they had, so the next try writes all of them (the user id too),
// as after an adoption by the merge webhook.
func rewriteLater(rs []store.SyncResult) []store.SyncResult {
	for i := range rs {
		if !rs[i].Synced && !rs[i].ContactGone {
			rs[i].DirtyAll, rs[i].Written = int(allFields), "{}"
		}
	}
	return rs
}

// writeAdopted writes contacts just adopted (merged into, or found by the
// email of a recreated contact). A contact that vanishes again in between
// waits for the next round rather than being chased here.
func (b *Sync) writeAdopted(ctx context.Context, items []*syncItem) ([]store.SyncResult, error) {
	items, out, err := b.separateSharedContacts(ctx, items, false)
	if err != nil {
		return append(out, failAll(items, err)...), err
	}
	if len(items) == 0 {
		return out, nil
	}
	inputs := make([]hubspot.ContactInput, len(items))
	for i, it := range items {
		inputs[i] = hubspot.ContactInput{Ref: it.ref, ID: it.f.ContactID, Properties: it.props}
	}
	res, err := b.hs.BatchUpdateContacts(ctx, inputs)
	if err != nil {
		return append(out, failAll(items, err)...), err
	}
	failed := failures(res.Failed)
	for _, it := range items {
		c, written := res.Contacts[it.ref]
		switch {
		case failed[it.ref] != "":
			out = append(out, retryLater(it.f, failed[it.ref], backoffFor(it.f.SyncAttempts)))
		case written:
			it.f.ContactID = c.ID
			out = append(out, syncedResult(it))
		default:
			out = append(out, retryLater(it.f, "the contact changed in HubSpot while linehub followed it", backoffFor(it.f.SyncAttempts)))
		}
	}
	return out, nil
}

// rewriteAll makes the item write every LINE property, as to a contact
// that has none of linehub's values yet.
func (it *syncItem) rewriteAll() {
	it.written = map[string]string{}
	it.mask = allFields
	it.props = contactProperties(&it.f, it.serial, it.mask, it.written)
}

func syncedResult(it *syncItem) store.SyncResult {
	return store.SyncResult{FriendID: it.f.ID, Version: it.f.Version, ContactID: it.f.ContactID, ContactGone: it.f.ContactGone,
		Written: encodeWritten(it.written), Synced: true, Profile: it.profile}
}

func retryLater(f store.Friend, msg string, d time.Duration) store.SyncResult {
	return store.SyncResult{FriendID: f.ID, Version: f.Version, ContactID: f.ContactID, ContactGone: f.ContactGone,
		Error: msg, NextSyncAt: time.Now().Add(d).UnixMilli()}
}

// codedSyncError is the error kept on each friend of a failed call: the
// text, after the code of a cause a person can fix (connections.ErrorCode:
// a rejected token, a missing scope, HubSpot out of reach) in brackets,
// so that the friends page can say what happened and where to fix it.
func codedSyncError(err error) string {
	if code := connections.ErrorCode(err); code != "" {
		return "[" + code + "] " + err.Error()
	}
	return err.Error()
}

// SplitSyncError splits a friend's stored sync error into the code it
// starts with ("" for none; see codedSyncError) and the text.
func SplitSyncError(msg string) (code, text string) {
	rest, ok := strings.CutPrefix(msg, "[")
	if !ok {
		return "", msg
	}
	code, text, ok = strings.Cut(rest, "] ")
	if !ok || code == "" || strings.Trim(code, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "", msg
	}
	return code, text
}

func failAll(items []*syncItem, err error) []store.SyncResult {
	out := make([]store.SyncResult, len(items))
	for i, it := range items {
		// A whole-call failure says nothing about the friend. A first one
		// with HubSpot down costs it no wait: the worker probes until
		// HubSpot is back, and these friends go out with the others then.
		// A batch that fails again and again although HubSpot answers
		// probes (or fails otherwise) backs off gently, longer each time.
		wait := backoffFor(min(it.f.SyncAttempts, 3))
		if errors.Is(err, hubspot.ErrUnavailable) && it.f.SyncAttempts == 0 {
			wait = 0
		}
		out[i] = retryLater(it.f, codedSyncError(err), wait)
	}
	return out
}

func failures(fs []hubspot.ItemFailure) map[string]string {
	m := make(map[string]string, len(fs))
	for _, f := range fs {
		// The prefix is what makes SweepDeadLetters park the friend.
		m[f.Ref] = fmt.Sprintf("%s the contact (%d %s): %s", rejectedPrefix, f.Status, f.Category, f.Message)
	}
	return m
}

// backoffFor grows from 30 s to 6 h with the number of failed attempts.
func backoffFor(attempts int) time.Duration {
	d := 30 * time.Second
	for i := 0; i < attempts && d < 6*time.Hour; i++ {
		d *= 2
	}
	return min(d, 6*time.Hour)
}

// separateSharedContacts keeps one LINE friend per connection on a
// contact. Staff who merge the dummy contacts of two friends leave both
// friends on the merged contact, where each would overwrite the other's
// line_*_N properties. The contact keeps the friend whose user id its
// line_user_id_N holds (without one that matches, the friend linked
// first); the other is detached from it as from a deleted contact: no
// contact, a notice on the friends page, a log line naming both, and
// nothing written until a new LINE event from that friend. Then, because
// its dummy email now belongs to the merged contact, it gets a new contact
// under sharedEmail. The friend kept has every LINE property written
// again: the other's may have reached the contact. written says the items
// were written already (their write landed on a merged record): a friend
// detached then is only detached. It returns the items to write, the
// results of those it took out, and an error of the read or the store.
func (b *Sync) separateSharedContacts(ctx context.Context, items []*syncItem, written bool) ([]*syncItem, []store.SyncResult, error) {
	byConn := map[int64][]*syncItem{}
	for _, it := range items {
		byConn[it.f.ConnectionID] = append(byConn[it.f.ConnectionID], it)
	}
	type claim struct {
		f  store.Friend
		it *syncItem // nil: a friend not in this round
	}
	detached := map[*syncItem]string{}
	for connID, its := range byConn {
		claims := map[string][]claim{}
		var ids []string
		inRound := map[int64]bool{}
		for _, it := range its {
			if len(claims[it.f.ContactID]) == 0 {
				ids = append(ids, it.f.ContactID)
			}
			claims[it.f.ContactID] = append(claims[it.f.ContactID], claim{f: it.f, it: it})
			inRound[it.f.ID] = true
		}
		others, err := b.st.FriendsWithContacts(ctx, connID, ids)
		if err != nil {
			return items, nil, err
		}
		for _, f := range others {
			if !inRound[f.ID] {
				claims[f.ContactID] = append(claims[f.ContactID], claim{f: f})
			}
		}
		var shared []string
		for _, id := range ids {
			if len(claims[id]) > 1 {
				shared = append(shared, id)
			}
		}
		if len(shared) == 0 {
			continue
		}
		prop := PropertyName("line_user_id", its[0].serial)
		found, _, err := b.hs.BatchReadContacts(ctx, shared, []string{prop, hubspot.PropMergedIDs})
		if err != nil {
			return items, nil, fmt.Errorf("read contacts shared by LINE friends: %w", err)
		}
		for _, id := range shared {
			cs := claims[id]
			holder := ""
			if c, ok := hubspot.ContactFor(found, id); ok {
				holder = c.Properties[prop]
			}
			keep := -1
			for i, c := range cs {
				if c.f.UserID == holder {
					keep = i
					break
				}
			}
			if keep < 0 {
				keep = 0
				for i, c := range cs {
					if c.f.ID < cs[keep].f.ID {
						keep = i
					}
				}
			}
			k := cs[keep].f
			switch {
			case cs[keep].it != nil && !written:
				cs[keep].it.rewriteAll()
			default:
				if err := b.st.RewriteFriend(ctx, k.ID, int(allFields)); err != nil {
					return items, nil, err
				}
			}
			for i, c := range cs {
				if i == keep {
					continue
				}
				b.log.Warn("two LINE friends share one HubSpot contact after a merge; the contact keeps the friend its LINE user id names, the other is detached from it",
					"connection", connID, "contact", id, "kept_friend", k.ID, "kept_user", k.UserID, "detached_friend", c.f.ID, "detached_user", c.f.UserID)
				notice := fmt.Sprintf("[%s] HubSpot contact %s was merged with the contact of LINE friend %s (%s), which keeps it: this friend has no contact until its next message or follow",
					SharedContactCode, id, k.DisplayName, k.UserID)
				if c.it != nil {
					detached[c.it] = notice
				} else if err := b.st.DetachFriend(ctx, c.f.ID, id, notice); err != nil {
					return items, nil, err
				}
			}
		}
	}
	if len(detached) == 0 {
		return items, nil, nil
	}
	var keep, again []*syncItem
	var out []store.SyncResult
	for _, it := range items {
		notice, ok := detached[it]
		switch {
		case !ok:
			keep = append(keep, it)
		case it.conflict && it.f.MayCreate && !written:
			// A new LINE event after it was detached: its own contact.
			it.f.ContactID, it.conflict, it.email = "", false, b.sharedEmail(it.f.UserID)
			it.rewriteAll()
			again = append(again, it)
		default:
			out = append(out, store.SyncResult{FriendID: it.f.ID, Version: it.f.Version, ContactGone: true, Synced: true, Written: "{}", Notice: notice})
		}
	}
	if len(again) > 0 {
		rs, conflicts, err := b.createContacts(ctx, again)
		out = append(out, rewriteLater(rs)...)
		keep = append(keep, conflicts...) // made before a crash: its own
		if err != nil {
			return keep, out, err
		}
	}
	return keep, out, nil
}

// SharedContactCode starts the sync error of a friend detached from a
// contact it shared with another friend (separateSharedContacts).
const SharedContactCode = "contact_shared"

// sharedEmail is the email of the new contact of a friend whose dummy
// email went to another friend's contact in a merge: as fixed as the
// dummy email, so that a create repeated after a crash finds it.
func (b *Sync) sharedEmail(userID string) string {
	return strings.ToLower(userID) + "+2@" + b.cfg.EmailDomain()
}
