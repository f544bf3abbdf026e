package contactsync

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"linehub/app/connections"
	"linehub/app/line"
	"linehub/app/store"
)

const (
	// applyBatch is how many inbox events one apply transaction takes. The
	// transaction holds SQLite's single writer, which webhook commits wait
	// for, so it is kept short: with 500 a webhook ack could wait 60-110 ms
	// behind it under load (docs/benchmarks.md).
	applyBatch       = 100
	profileFetchers  = 8
	profileFetchWait = 10 * time.Second

	// While webhooks are arriving (one stored new events within
	// ingestRecent), the applier rests applyYield times as long as its last
	// batch worked, leaving CPU and writer to acknowledging LINE, which has
	// a deadline; applying has none and catches up after the burst. (The
	// starter budget writes at most 1,000 contacts a second to HubSpot.)
	applyYield   = 2
	ingestRecent = 200 * time.Millisecond
)

func (b *Sync) runApplier(ctx, workCtx context.Context) {
	backoff := time.Second
	for {
		n, work, err := b.applyOnce(workCtx)
		if ctx.Err() != nil {
			return
		}
		if err != nil || n > 0 {
			b.noteStorage(err)
		}
		if err != nil {
			b.log.Error("apply inbox", "err", err)
			b.setStatus(func(s *Status) { s.LastApplyError = err.Error() })
			sleep(ctx, backoff)
			backoff = min(backoff*2, time.Minute)
			continue
		}
		if backoff > time.Second { // the last round failed; this one did not
			b.setStatus(func(s *Status) { s.LastApplyError = "" })
		}
		backoff = time.Second
		if n > 0 && b.ingestActive() {
			sleep(ctx, applyYield*work)
		}
		if n == applyBatch {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-b.applyWake:
		case <-time.After(5 * time.Second):
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// pending is one inbox row with its decoded event.
type pending struct {
	row store.InboxEvent
	ev  line.Event
	err error
}

// ApplyPending applies everything in the inbox now (tests and the drain on
// shutdown use it); it returns how many events it applied.
func (b *Sync) ApplyPending(ctx context.Context) (int, error) {
	total := 0
	for {
		n, _, err := b.applyOnce(ctx)
		total += n
		if err != nil || n < applyBatch {
			return total, err
		}
	}
}

// applyOnce applies up to applyBatch pending events in one transaction.
// work is the time it took apart from reading LINE profiles (waiting on
// the network): the share of CPU and database it took from webhooks.
func (b *Sync) applyOnce(ctx context.Context) (n int, work time.Duration, err error) {
	started := time.Now()
	rows, err := b.st.PendingInboxFair(ctx, applyBatch)
	if err != nil || len(rows) == 0 {
		return 0, time.Since(started), err
	}
	byConn := map[int64][]*pending{}
	var order []int64
	for _, r := range rows {
		p := &pending{row: r}
		p.ev, p.err = line.DecodeEvent([]byte(r.Raw))
		if _, ok := byConn[r.ConnectionID]; !ok {
			order = append(order, r.ConnectionID)
		}
		byConn[r.ConnectionID] = append(byConn[r.ConnectionID], p)
	}

	// Profiles are read before the write transaction so that slow LINE
	// calls never hold the database's single writer.
	profiles := map[int64]map[string]profileResult{}
	fetchStarted := time.Now()
	// Connections in parallel: a fair batch holds a few events of each of
	// many connections, and one after the other their LINE round trips
	// added up to most of the batch's time (docs/benchmarks.md, soak).
	var pmu sync.Mutex
	var pwg sync.WaitGroup
	psem := make(chan struct{}, profileFetchers)
	for _, connID := range order {
		pwg.Add(1)
		psem <- struct{}{}
		go func() {
			defer func() { <-psem; pwg.Done() }()
			p := b.prefetchProfiles(ctx, connID, byConn[connID])
			pmu.Lock()
			profiles[connID] = p
			pmu.Unlock()
		}()
	}
	pwg.Wait()
	fetching := time.Since(fetchStarted)

	appliedAt := time.Now().UTC()
	err = b.st.Apply(ctx, func(tx *store.ApplyTx) error {
		for _, connID := range order {
			if err := b.applyConnection(tx, connID, byConn[connID], profiles[connID], appliedAt); err != nil {
				return err
			}
		}
		return nil
	})
	work = time.Since(started) - fetching
	if err != nil {
		return 0, work, err
	}
	wake(b.syncWake)
	return len(rows), work, nil
}

type profileResult struct {
	p   line.Profile
	at  int64
	err error
}

// needsProfile says whether applying ev wants the friend's LINE profile.
func needsProfile(ev line.Event, known *store.Friend) bool {
	if ev.SourceType != "user" || ev.UserID == "" {
		return false
	}
	switch ev.Type {
	case "follow":
		return true
	case "message":
		return known == nil || known.ProfileAt == 0
	}
	return false
}

func (b *Sync) prefetchProfiles(ctx context.Context, connID int64, ps []*pending) map[string]profileResult {
	out := map[string]profileResult{}
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil || cs.Client == nil {
		return out // deleted connection or no token: applied without profiles
	}
	users := map[string]bool{}
	var ids []string
	for _, p := range ps {
		if p.err == nil && p.ev.UserID != "" && !users[p.ev.UserID] {
			users[p.ev.UserID] = true
			ids = append(ids, p.ev.UserID)
		}
	}
	known, err := b.st.FriendsByUser(ctx, connID, ids)
	if err != nil {
		return out
	}
	want := map[string]bool{}
	for _, p := range ps {
		if p.err == nil && needsProfile(p.ev, known[p.ev.UserID]) {
			if p.ev.Type == "follow" {
				// A (re)follow is when a name change is most likely to matter.
				b.profiles.Invalidate(cacheKey(connID), p.ev.UserID)
			}
			want[p.ev.UserID] = true
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var lineDown error // first failure other than "not a friend"
	sem := make(chan struct{}, profileFetchers)
	for uid := range want {
		wg.Add(1)
		sem <- struct{}{}
		go func(uid string) {
			defer func() { <-sem; wg.Done() }()
			mu.Lock()
			down := lineDown
			mu.Unlock()
			if down != nil {
				// LINE is failing: don't make every friend of the batch wait
				// out its own timeout. The events are applied without profiles.
				mu.Lock()
				out[uid] = profileResult{err: down}
				mu.Unlock()
				return
			}
			fctx, cancel := context.WithTimeout(ctx, profileFetchWait)
			defer cancel()
			p, err := b.profiles.Get(fctx, cacheKey(connID), uid, b.fetchProfile(ctx, cs, uid))
			mu.Lock()
			out[uid] = profileResult{p: p, at: time.Now().UnixMilli(), err: err}
			if err != nil && !errors.Is(err, line.ErrNotFriend) && lineDown == nil {
				lineDown = err
				b.log.Warn("LINE profile API failing; applying events without profiles", "connection", connID, "err", err)
			}
			mu.Unlock()
		}(uid)
	}
	wg.Wait()
	return out
}

// fetchProfile asks LINE for a profile on a cache miss, the one place both
// the applier and the sync worker reach LINE's profile API, and records
// whether LINE answered (an answer, or "not a friend") or failed, for the
// status and the dashboard. A failure because ctx (the worker) ended says
// nothing about LINE.
func (b *Sync) fetchProfile(ctx context.Context, cs *connections.Conn, uid string) func(context.Context) (line.Profile, error) {
	return func(fctx context.Context) (line.Profile, error) {
		p, err := cs.Client.Profile(fctx, uid)
		switch {
		case err == nil || errors.Is(err, line.ErrNotFriend):
			b.conns.NoteLINE(cs.Conn.ID, nil)
		case ctx.Err() == nil:
			b.conns.NoteLINE(cs.Conn.ID, err)
		}
		return p, err
	}
}

func cacheKey(connID int64) string { return fmt.Sprint(connID) }

func (b *Sync) applyConnection(tx *store.ApplyTx, connID int64, ps []*pending, profiles map[string]profileResult, at time.Time) error {
	var ids []string
	seen := map[string]bool{}
	for _, p := range ps {
		if p.err == nil && p.ev.UserID != "" && !seen[p.ev.UserID] {
			seen[p.ev.UserID] = true
			ids = append(ids, p.ev.UserID)
		}
	}
	friends, err := tx.Friends(connID, ids)
	if err != nil {
		return err
	}
	changed := map[string]*store.Friend{}
	var done []int64
	var chat []store.ChatMessage
	for _, p := range ps {
		if p.err != nil {
			b.log.Warn("undecodable inbox event", "connection", connID, "event", p.row.WebhookEventID, "err", p.err)
			if err := tx.MarkApplied(p.row.ID, at, p.err.Error()); err != nil {
				return err
			}
			continue
		}
		done = append(done, p.row.ID)
		ev := p.ev
		if ev.SourceType != "user" || ev.UserID == "" {
			continue // group and room events never touch contacts
		}
		chat = appendChat(chat, connID, ev) // chat.go
		f := friends[ev.UserID]
		isNew := f == nil
		if isNew {
			f = &store.Friend{ConnectionID: connID, UserID: ev.UserID}
		}
		var prof *profileResult
		if r, ok := profiles[ev.UserID]; ok {
			prof = &r
		}
		if !applyEvent(f, ev, prof) {
			continue
		}
		if isNew {
			friends[ev.UserID] = f
		}
		changed[ev.UserID] = f
	}
	save := make([]*store.Friend, 0, len(changed))
	for _, f := range changed {
		save = append(save, f)
	}
	if err := tx.SaveFriends(save); err != nil {
		return err
	}
	if err := tx.AddChatMessages(chat); err != nil {
		return err
	}
	return tx.MarkAppliedIDs(done, at)
}

// applyEvent changes a friend as docs/design.md §3 says for one event and
// reports whether anything changed. Each value remembers the timestamp of
// the event that set it, so an older event arriving late loses.
func applyEvent(f *store.Friend, ev line.Event, prof *profileResult) bool {
	mark := func(fields Field) { f.Dirty |= int(fields) }
	switch ev.Type {
	case "follow":
		if ev.Timestamp < f.FollowAt {
			return false
		}
		f.Following, f.FollowAt = true, ev.Timestamp
		f.MayCreate, f.ContactGone = true, false
		mark(FieldUserID | FieldFollow)
		applyProfile(f, prof, mark)
		return true
	case "unfollow":
		if ev.Timestamp < f.FollowAt {
			return false
		}
		f.Following, f.FollowAt = false, ev.Timestamp
		mark(FieldFollow)
		return true
	case "message":
		if ev.Timestamp >= f.LastMessageAt {
			f.LastResponse, f.LastMessageAt = ev.Summary, ev.Timestamp
			mark(FieldLastResponse)
		}
		if ev.Timestamp >= f.UnansweredAt {
			f.Unanswered, f.UnansweredAt = true, ev.Timestamp
			mark(FieldUnanswered)
		}
		// Only a friend can message the account, so a message newer than the
		// last known follow state means the user is following.
		if ev.Timestamp >= f.FollowAt && (!f.Following || f.FollowAt == 0) {
			f.Following, f.FollowAt = true, ev.Timestamp
			mark(FieldFollow)
		}
		f.MayCreate, f.ContactGone = true, false
		mark(FieldUserID)
		applyProfile(f, prof, mark)
		return true
	}
	return false
}

func applyProfile(f *store.Friend, prof *profileResult, mark func(Field)) {
	if prof == nil {
		return
	}
	if prof.err != nil {
		// Not a friend (404): nothing to read. Anything else: try later.
		f.ProfileMissing = !errors.Is(prof.err, line.ErrNotFriend)
		return
	}
	f.ProfileMissing = false
	if prof.p.DisplayName != f.DisplayName {
		f.DisplayName = prof.p.DisplayName
		mark(FieldName)
	}
	if prof.p.PictureURL != f.PictureURL {
		f.PictureURL = prof.p.PictureURL
		mark(FieldPicture)
	}
	if prof.at > f.ProfileAt {
		f.ProfileAt = prof.at
		mark(FieldSyncDate)
	}
}
