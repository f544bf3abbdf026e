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

// NotVerifiedMessage is what the API and dashboard say about importing the
// friends of an account LINE does not list followers for.
const NotVerifiedMessage = "LINE lists the friends only of verified and premium accounts, so existing friends of this account cannot be imported: each appears in HubSpot when they next send a message (new friends appear when they follow)."

// importChunk friends get their profiles read and are stored together.
const importChunk = 200

// ImportProgress is an import's state with its rate and ETA.
type ImportProgress struct {
	store.FriendImport
	RatePerSec float64 `json:"rate_per_sec"`
	ETASeconds int64   `json:"eta_seconds"`
	Percent    float64 `json:"percent"`
	// PendingSync is how many of the connection's friends still wait to be
	// written to HubSpot (imported friends become contacts through it).
	PendingSync int64 `json:"pending_sync"`
}

// ImportStatus reports a connection's import (State "" when none ran).
func (b *Sync) ImportStatus(ctx context.Context, connID int64) (ImportProgress, error) {
	if _, err := b.st.Connection(ctx, connID); err != nil {
		return ImportProgress{}, err
	}
	fi, err := b.st.FriendImport(ctx, connID)
	if err != nil {
		return ImportProgress{}, err
	}
	var p ImportProgress
	if fi == nil {
		p.ConnectionID = connID
	} else {
		p.FriendImport = *fi
		end := time.Now()
		if fi.FinishedAt != nil {
			end = *fi.FinishedAt
		}
		if secs := end.Sub(fi.StartedAt).Seconds(); secs > 0 && fi.Done > 0 {
			p.RatePerSec = float64(fi.Done) / secs
			if fi.State == store.ImportRunning && fi.Total > fi.Done {
				p.ETASeconds = int64(float64(fi.Total-fi.Done)/p.RatePerSec + 0.5)
			}
		}
		if fi.Total > 0 {
			p.Percent = float64(fi.Done) * 100 / float64(fi.Total)
		}
	}
	if st, err := b.st.FriendStats(ctx, connID); err == nil {
		p.PendingSync = st.Backlog
	}
	return p, nil
}

// ImportFriends makes every follower of a verified or premium account a
// contact as if they had just followed (name and picture from LINE,
// Follow = Yes). Friends linehub already has a contact for are counted as
// done; a contact deleted in HubSpot is not brought back (docs/design.md §3:
// only a message or a re-follow does that). Accounts LINE does not list
// followers for end in state "unavailable" with NotVerifiedMessage. A run
// cut short is picked up again from the start: friends imported before
// are skipped.
func (b *Sync) ImportFriends(ctx context.Context, connID int64) (store.FriendImport, error) {
	cs, err := b.conns.ByID(ctx, connID)
	if err != nil {
		return store.FriendImport{}, err
	}
	fi := &store.FriendImport{ConnectionID: connID, State: store.ImportRunning, StartedAt: time.Now().UTC()}
	if cs.Client == nil {
		return *fi, connections.NoChannelTokenErr()
	}
	if err := b.st.SaveFriendImport(ctx, fi); err != nil {
		return *fi, err
	}
	finish := func(state, msg string) (store.FriendImport, error) {
		t := time.Now().UTC()
		fi.State, fi.Message, fi.FinishedAt = state, msg, &t
		return *fi, b.st.SaveFriendImport(context.WithoutCancel(ctx), fi)
	}
	pace := newPacer(b.cfg.Jobs.LINERate)

	// The whole list first: it is cheap (1,000 ids a call) and gives the
	// progress bar its total.
	var ids []string
	next := ""
	for {
		if err := pace.wait(ctx); err != nil {
			return *fi, err
		}
		page, nx, err := cs.Client.FollowerIDs(ctx, next, followerPage)
		if errors.Is(err, line.ErrForbidden) {
			b.rememberForbidden(ctx, cs)
			return finish(store.ImportUnavailable, NotVerifiedMessage)
		}
		if err != nil {
			out, _ := finish(store.ImportFailed, "listing LINE followers failed: "+err.Error())
			return out, fmt.Errorf("list LINE followers: %w", err)
		}
		ids = append(ids, page...)
		if nx == "" {
			break
		}
		next = nx
	}
	fi.Total = int64(len(ids))
	if err := b.st.SaveFriendImport(ctx, fi); err != nil {
		return *fi, err
	}

	for start := 0; start < len(ids); start += importChunk {
		chunk := ids[start:min(start+importChunk, len(ids))]
		if err := b.importChunk(ctx, cs, chunk, pace); err != nil {
			if ctx.Err() != nil {
				return *fi, err // stopping: stays "running", resumed after the restart
			}
			out, _ := finish(store.ImportFailed, err.Error())
			return out, err
		}
		fi.Done += int64(len(chunk))
		if err := b.st.SaveFriendImport(ctx, fi); err != nil {
			return *fi, err
		}
		wake(b.syncWake)
	}
	b.log.Info("friends imported", "connection", connID, "followers", fi.Total)
	return finish(store.ImportDone, "")
}

// importChunk imports one slice of follower ids.
func (b *Sync) importChunk(ctx context.Context, cs *connections.Conn, ids []string, pace *pacer) error {
	known, err := b.st.FriendsByUser(ctx, cs.Conn.ID, ids)
	if err != nil {
		return err
	}
	var todo []string
	for _, uid := range ids {
		if f := known[uid]; f == nil || importable(f) {
			todo = append(todo, uid)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	profiles := make(map[string]profileResult, len(todo))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, profileFetchers)
	for _, uid := range todo {
		if err := pace.wait(ctx); err != nil {
			wg.Wait()
			return err
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(uid string) {
			defer func() { <-sem; wg.Done() }()
			p, err := cs.Client.Profile(ctx, uid)
			mu.Lock()
			profiles[uid] = profileResult{p: p, at: time.Now().UnixMilli(), err: err}
			mu.Unlock()
		}(uid)
	}
	wg.Wait()
	now := time.Now().UnixMilli()
	return b.st.Apply(ctx, func(tx *store.ApplyTx) error {
		fs, err := tx.Friends(cs.Conn.ID, todo)
		if err != nil {
			return err
		}
		var save []*store.Friend
		for _, uid := range todo {
			r := profiles[uid]
			if errors.Is(r.err, line.ErrNotFriend) {
				continue // blocked since the list was read
			}
			f := fs[uid]
			if f == nil {
				f = &store.Friend{ConnectionID: cs.Conn.ID, UserID: uid}
			} else if !importable(f) {
				continue // an event got there first
			}
			if !f.Following {
				// Listed as a follower now: any older unfollow is outdated.
				// A new friend keeps FollowAt 0, the weakest claim, so that
				// any real follow or unfollow event wins.
				if f.ID != 0 {
					f.FollowAt = max(f.FollowAt+1, now)
				}
				f.Following = true
			}
			f.MayCreate = true
			f.Dirty |= int(FieldUserID | FieldFollow)
			var prof *profileResult
			if r.err == nil {
				prof = &r
			} else {
				// LINE failed for this one: the sync worker retries the
				// profile before it creates the contact.
				f.ProfileMissing = true
			}
			applyProfile(f, prof, func(fl Field) { f.Dirty |= int(fl) })
			save = append(save, f)
		}
		return tx.SaveFriends(save)
	})
}

// importable: a friend the import should turn into a contact — not one
// that has a contact, is about to get one, or whose contact was deleted
// in HubSpot.
func importable(f *store.Friend) bool {
	return f.ContactID == "" && !f.MayCreate && !f.ContactGone
}
