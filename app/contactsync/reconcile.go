package contactsync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"linehub/app/connections"
	"linehub/app/line"
	"linehub/app/store"
)

// Reconcile phases, stored in the job cursor so that a restart resumes
// where the run stopped.
const (
	phaseIDs      = "ids"      // paging LINE's follower ids, confirming friends
	phaseMissing  = "missing"  // friends LINE did not list → Follow = No
	phaseProfiles = "profiles" // profile of every friend marked following

	jobReconcile = "reconcile"

	followerPage = 1000 // LINE's maximum for GET /v2/bot/followers/ids
	confirmChunk = 200
	profilePage  = 200
	// A stored cursor older than this belongs to a run too old to finish:
	// its confirmations no longer say anything about now.
	cursorMaxAge = 24 * time.Hour
	// A remembered 403 from the follower-ids API is checked again after
	// this long: an account can become verified.
	forbiddenRecheck = 7 * 24 * time.Hour
)

// ReconcileStats is what one reconcile of a connection did.
type ReconcileStats struct {
	Path       string `json:"path"` // followers_ids | profiles
	Confirmed  int64  `json:"confirmed"`
	Unfollowed int64  `json:"unfollowed"`
	NotListed  int64  `json:"not_listed"` // of Unfollowed: missing from LINE's follower list
	Refreshed  int64  `json:"profiles_refreshed"`
	Unknown    int64  `json:"unknown_followers"` // LINE followers linehub had never seen: their follow is applied
	Errors     int64  `json:"errors"`
	Resumed    bool   `json:"resumed"`
}

// Items is the number of friends the run looked at.
func (s ReconcileStats) Items() int64 { return s.Confirmed + s.Unfollowed + s.Refreshed }

// pacer spaces calls at most rate per second (LINE counts per channel and
// endpoint; jobs.line_rate stays far below its 2,000 a second).
type pacer struct {
	mu    sync.Mutex
	every time.Duration
	next  time.Time
}

func newPacer(perSecond int) *pacer {
	return &pacer{every: time.Second / time.Duration(max(perSecond, 1))}
}

func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	at := p.next
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	if d := time.Until(at); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func forbiddenKey(connID int64) string {
	return "line.followers_forbidden." + strconv.FormatInt(connID, 10)
}

// followersForbidden says whether LINE refused this connection's follower
// list recently, with the same token.
func (b *Sync) followersForbidden(ctx context.Context, cs *connections.Conn) bool {
	v, err := b.st.Setting(ctx, forbiddenKey(cs.Conn.ID))
	if err != nil || v == "" {
		return false
	}
	last4, unix, _ := strings.Cut(v, "|")
	at, _ := strconv.ParseInt(unix, 10, 64)
	return last4 == cs.Conn.TokenLast4 && time.Since(time.Unix(at, 0)) < forbiddenRecheck
}

func (b *Sync) rememberForbidden(ctx context.Context, cs *connections.Conn) {
	v := cs.Conn.TokenLast4 + "|" + strconv.FormatInt(time.Now().Unix(), 10)
	if err := b.st.SetSetting(ctx, forbiddenKey(cs.Conn.ID), v); err != nil {
		b.log.Warn("remember follower-ids 403", "connection", cs.Conn.ID, "err", err)
	}
}

// FollowerIDsAvailable reports whether LINE lists this connection's
// followers (verified and premium accounts), as far as linehub knows.
func (b *Sync) FollowerIDsAvailable(ctx context.Context, connID int64) (bool, error) {
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil {
		return false, err
	}
	return cs.Client != nil && !b.followersForbidden(ctx, cs), nil
}

// Reconcile checks one connection's friends against LINE: follow status
// (follower ids for verified accounts, else the profile API), names and
// pictures, and the LINE ID Sync Date of every friend confirmed. Changes go
// through the friend state, so the sync worker writes them and docs/design.md §3
// holds: reconcile never allows a contact to be created, so a contact
// deleted in HubSpot stays deleted. It resumes a run a restart interrupted.
func (b *Sync) Reconcile(ctx context.Context, connID int64) (ReconcileStats, error) {
	var stats ReconcileStats
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil {
		return stats, err
	}
	if cs.Client == nil {
		return stats, connections.NoChannelTokenErr()
	}
	cur, err := b.st.JobCursor(ctx, jobReconcile, connID)
	if err != nil {
		return stats, err
	}
	if cur != nil && time.Since(time.UnixMilli(cur.RunStarted)) < cursorMaxAge {
		stats.Resumed = true
	} else {
		cur = &store.JobCursor{Job: jobReconcile, ConnectionID: connID, RunStarted: time.Now().UnixMilli(), Phase: phaseIDs}
	}
	if cur.Phase == phaseIDs && b.followersForbidden(ctx, cs) {
		cur.Phase, cur.Cursor = phaseProfiles, ""
	}
	stats.Path = "followers_ids"
	if b.followersForbidden(ctx, cs) {
		stats.Path = "profiles"
	}
	pace := newPacer(b.cfg.Jobs.LINERate)
	defer wake(b.syncWake)

	if cur.Phase == phaseIDs {
		for {
			if err := pace.wait(ctx); err != nil {
				return stats, b.saveCursor(cur, err)
			}
			ids, next, err := cs.Client.FollowerIDs(ctx, cur.Cursor, followerPage)
			if errors.Is(err, line.ErrForbidden) {
				// Not a verified or premium account: LINE keeps the list to
				// itself. Checked once; the profile path does the work.
				b.rememberForbidden(ctx, cs)
				stats.Path = "profiles"
				cur.Phase, cur.Cursor = phaseProfiles, ""
				break
			}
			if err != nil {
				return stats, b.saveCursor(cur, fmt.Errorf("list LINE followers: %w", err))
			}
			// Transactions of confirmChunk friends: each holds the single
			// writer that webhook acknowledgements wait for.
			var unknown []string
			at := time.Now().UnixMilli()
			for part := range slices.Chunk(ids, confirmChunk) {
				u, err := b.confirmFollowers(ctx, connID, part, at, &stats)
				if err != nil {
					return stats, b.saveCursor(cur, err)
				}
				unknown = append(unknown, u...)
			}
			// A follower linehub never heard of followed while its webhook
			// was lost: that follow is applied now (docs/design.md §3, follow).
			if len(unknown) > 0 {
				if err := b.importChunk(ctx, cs, unknown, pace); err != nil {
					return stats, b.saveCursor(cur, err)
				}
			}
			cur.Cursor = next
			if next == "" {
				cur.Phase, cur.Cursor = phaseMissing, "0"
				break
			}
			if err := b.st.SaveJobCursor(ctx, cur); err != nil {
				return stats, err
			}
		}
		if err := b.st.SaveJobCursor(ctx, cur); err != nil {
			return stats, err
		}
	}

	if cur.Phase == phaseMissing {
		after, _ := strconv.ParseInt(cur.Cursor, 10, 64)
		for {
			fs, err := b.st.UnconfirmedFollowers(ctx, connID, cur.RunStarted, after, 500)
			if err != nil {
				return stats, b.saveCursor(cur, err)
			}
			if len(fs) == 0 {
				break
			}
			ids := make([]string, len(fs))
			for i, f := range fs {
				ids[i] = f.UserID
			}
			runStarted := cur.RunStarted
			err = b.st.Apply(ctx, func(tx *store.ApplyTx) error {
				loaded, err := tx.Friends(connID, ids)
				if err != nil {
					return err
				}
				var save []*store.Friend
				for _, f := range loaded {
					// Re-checked inside the transaction: an event applied since
					// the query may have confirmed the friend.
					if f.ProfileAt >= runStarted || f.FollowAt >= runStarted {
						continue
					}
					if markUnfollowed(f, runStarted) {
						save = append(save, f)
					}
				}
				stats.Unfollowed += int64(len(save))
				stats.NotListed += int64(len(save))
				return tx.SaveFriends(save)
			})
			if err != nil {
				return stats, b.saveCursor(cur, err)
			}
			after = fs[len(fs)-1].ID
			cur.Cursor = strconv.FormatInt(after, 10)
			if err := b.st.SaveJobCursor(ctx, cur); err != nil {
				return stats, err
			}
		}
		cur.Phase, cur.Cursor = phaseProfiles, "0"
		if err := b.st.SaveJobCursor(ctx, cur); err != nil {
			return stats, err
		}
	}

	if cur.Phase == phaseProfiles {
		after, _ := strconv.ParseInt(cur.Cursor, 10, 64)
		for {
			fs, err := b.st.FollowingPage(ctx, connID, after, profilePage)
			if err != nil {
				return stats, b.saveCursor(cur, err)
			}
			if len(fs) == 0 {
				break
			}
			if err := b.checkProfiles(ctx, cs, fs, pace, cur.RunStarted, &stats); err != nil {
				return stats, b.saveCursor(cur, err)
			}
			after = fs[len(fs)-1].ID
			cur.Cursor = strconv.FormatInt(after, 10)
			if err := b.st.SaveJobCursor(ctx, cur); err != nil {
				return stats, err
			}
		}
	}
	return stats, b.st.DeleteJobCursor(context.WithoutCancel(ctx), jobReconcile, connID)
}

// saveCursor stores where a failed or stopped run got to, and returns err.
func (b *Sync) saveCursor(cur *store.JobCursor, err error) error {
	if serr := b.st.SaveJobCursor(context.Background(), cur); serr != nil {
		return errors.Join(err, serr)
	}
	return err
}

// markUnfollowed records that LINE says the friend no longer follows, as
// of at (ms). An event newer than at still wins.
func markUnfollowed(f *store.Friend, at int64) bool {
	if !f.Following || at <= f.FollowAt {
		return false
	}
	f.Following, f.FollowAt = false, at
	f.Dirty |= int(FieldFollow)
	return true
}

// confirmFollowers records that LINE listed ids as followers at (ms):
// Follow = Yes (a missed re-follow) and a new LINE ID Sync Date.
// It returns the ids linehub has no friend for.
func (b *Sync) confirmFollowers(ctx context.Context, connID int64, ids []string, at int64, stats *ReconcileStats) (unknown []string, err error) {
	err = b.st.Apply(ctx, func(tx *store.ApplyTx) error {
		unknown = unknown[:0]
		fs, err := tx.Friends(connID, ids)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if fs[id] == nil {
				unknown = append(unknown, id)
			}
		}
		stats.Unknown += int64(len(unknown))
		save := make([]*store.Friend, 0, len(fs))
		for _, f := range fs {
			if !f.Following && at > f.FollowAt {
				f.Following, f.FollowAt = true, at
				f.Dirty |= int(FieldFollow)
			}
			if f.Following && at > f.ProfileAt {
				f.ProfileAt = at
				f.Dirty |= int(FieldSyncDate)
			}
			save = append(save, f)
			stats.Confirmed++
		}
		return tx.SaveFriends(save)
	})
	return unknown, err
}

// lineDownAfter consecutive LINE failures end a profile pass: LINE is
// down, and the cursor lets the next run go on.
const lineDownAfter = 5

// checkProfiles reads the profile of each friend (marked following) and
// records what it says: a changed name or picture, a new sync date, or
// (404) that the friend blocked the account.
func (b *Sync) checkProfiles(ctx context.Context, cs *connections.Conn, fs []store.Friend, pace *pacer, runStarted int64, stats *ReconcileStats) error {
	results := make([]profileResult, len(fs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	sem := make(chan struct{}, profileFetchers)
	for i := range fs {
		mu.Lock()
		down := failures >= lineDownAfter
		mu.Unlock()
		if down || ctx.Err() != nil {
			results[i] = profileResult{err: errors.New("not checked")}
			continue
		}
		if err := pace.wait(ctx); err != nil {
			results[i] = profileResult{err: err}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			p, err := cs.Client.Profile(ctx, fs[i].UserID)
			results[i] = profileResult{p: p, at: time.Now().UnixMilli(), err: err}
			mu.Lock()
			if err != nil && !errors.Is(err, line.ErrNotFriend) {
				failures++
			} else {
				failures = 0
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	ids := make([]string, len(fs))
	byUser := make(map[string]profileResult, len(fs))
	for i, f := range fs {
		ids[i] = f.UserID
		byUser[f.UserID] = results[i]
	}
	var firstErr error
	err := b.st.Apply(ctx, func(tx *store.ApplyTx) error {
		cur, err := tx.Friends(cs.Conn.ID, ids)
		if err != nil {
			return err
		}
		var save []*store.Friend
		for uid, f := range cur {
			r := byUser[uid]
			switch {
			case errors.Is(r.err, line.ErrNotFriend):
				if markUnfollowed(f, r.at) {
					stats.Unfollowed++
					save = append(save, f)
				}
			case r.err != nil:
				stats.Errors++
				if firstErr == nil {
					firstErr = r.err
				}
			default:
				name, pic := f.DisplayName, f.PictureURL
				if f.ProfileAt >= runStarted {
					// Already confirmed by this run's follower list: a second
					// sync date would only cost another HubSpot write.
					r.at = f.ProfileAt
				} else {
					stats.Confirmed++
				}
				applyProfile(f, &r, func(fl Field) { f.Dirty |= int(fl) })
				if f.DisplayName != name || f.PictureURL != pic {
					stats.Refreshed++
				}
				save = append(save, f)
			}
		}
		return tx.SaveFriends(save)
	})
	if err != nil {
		return err
	}
	if failures >= lineDownAfter {
		return fmt.Errorf("LINE profile API failing: %w", firstErr)
	}
	return nil
}
