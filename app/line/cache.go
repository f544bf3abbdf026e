package line

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ProfileCache makes a chatty friend cost one profile call, not one per
// message. Entries are keyed by (key, userID), where key separates channels
// (a connection id); they live for a TTL in a bounded LRU. Concurrent Gets for
// the same entry share one fetch. Errors are not cached, except ErrNotFriend,
// which is kept briefly so a blocked user's burst of redeliveries does not
// hammer the API.
type ProfileCache struct {
	mu           sync.Mutex
	ttl          time.Duration
	notFriendTTL time.Duration
	max          int
	now          func() time.Time
	lru          *list.List // of *cacheEntry, most recent first
	items        map[cacheKey]*list.Element
	inflight     map[cacheKey]*cacheCall
}

type cacheKey struct{ key, userID string }

type cacheEntry struct {
	k       cacheKey
	p       Profile
	err     error // only ErrNotFriend-wrapping errors are stored
	expires time.Time
}

type cacheCall struct {
	done chan struct{}
	p    Profile
	err  error
}

// Defaults for NewProfileCache arguments that are <= 0.
const (
	DefaultProfileTTL        = 10 * time.Minute
	DefaultProfileCacheSize  = 10000
	defaultNotFriendCacheTTL = 30 * time.Second
)

// NewProfileCache returns a cache keeping up to maxEntries profiles for ttl.
func NewProfileCache(ttl time.Duration, maxEntries int) *ProfileCache {
	if ttl <= 0 {
		ttl = DefaultProfileTTL
	}
	if maxEntries <= 0 {
		maxEntries = DefaultProfileCacheSize
	}
	return &ProfileCache{
		ttl:          ttl,
		notFriendTTL: min(ttl, defaultNotFriendCacheTTL),
		max:          maxEntries,
		now:          time.Now,
		lru:          list.New(),
		items:        make(map[cacheKey]*list.Element),
		inflight:     make(map[cacheKey]*cacheCall),
	}
}

// SetClock replaces time.Now, for tests of expiry.
func (p *ProfileCache) SetClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}

// SetNotFriendTTL sets how long an ErrNotFriend answer is remembered; 0 or
// less disables that.
func (p *ProfileCache) SetNotFriendTTL(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notFriendTTL = d
}

// Len is the number of cached entries (expired ones included until evicted).
func (p *ProfileCache) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lru.Len()
}

// Get returns the cached profile for (key, userID) or calls fetch once for
// all concurrent callers. A caller whose ctx ends stops waiting; the fetch
// goes on for the others.
func (p *ProfileCache) Get(ctx context.Context, key, userID string, fetch func(ctx context.Context) (Profile, error)) (Profile, error) {
	k := cacheKey{key, userID}
	for {
		p.mu.Lock()
		if el, ok := p.items[k]; ok {
			e := el.Value.(*cacheEntry)
			if p.now().Before(e.expires) {
				p.lru.MoveToFront(el)
				p.mu.Unlock()
				return e.p, e.err
			}
			p.removeLocked(el)
		}
		if c, ok := p.inflight[k]; ok {
			p.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return Profile{}, fmt.Errorf("line: waiting for profile: %w", ctx.Err())
			}
			if isCtxErr(c.err) && ctx.Err() == nil {
				// The leader gave up on its own context; this caller still
				// wants the profile, so try again (possibly as the leader).
				continue
			}
			return c.p, c.err
		}
		c := &cacheCall{done: make(chan struct{})}
		p.inflight[k] = c
		p.mu.Unlock()

		p.run(ctx, k, c, fetch)
		return c.p, c.err
	}
}

func (p *ProfileCache) run(ctx context.Context, k cacheKey, c *cacheCall, fetch func(ctx context.Context) (Profile, error)) {
	finished := false
	defer func() {
		if !finished {
			// fetch panicked: release the waiters, then let the panic go on.
			c.err = errors.New("line: profile fetch panicked")
		}
		p.mu.Lock()
		// Store only if nobody invalidated the key while we were fetching;
		// otherwise the result may predate the change that caused it.
		if p.inflight[k] == c {
			delete(p.inflight, k)
			p.storeLocked(k, c.p, c.err)
		}
		p.mu.Unlock()
		close(c.done)
	}()
	c.p, c.err = fetch(ctx)
	finished = true
}

func (p *ProfileCache) storeLocked(k cacheKey, prof Profile, err error) {
	ttl := p.ttl
	switch {
	case err == nil:
	case errors.Is(err, ErrNotFriend) && p.notFriendTTL > 0:
		ttl = p.notFriendTTL
	default:
		return
	}
	e := &cacheEntry{k: k, p: prof, err: err, expires: p.now().Add(ttl)}
	if el, ok := p.items[k]; ok {
		el.Value = e
		p.lru.MoveToFront(el)
		return
	}
	p.items[k] = p.lru.PushFront(e)
	for p.lru.Len() > p.max {
		p.removeLocked(p.lru.Back())
	}
}

func (p *ProfileCache) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	delete(p.items, e.k)
	p.lru.Remove(el)
}

// Invalidate drops (key, userID), e.g. on a follow event whose profile may
// have changed. A fetch already running for it still answers its callers but
// is not cached.
func (p *ProfileCache) Invalidate(key, userID string) {
	k := cacheKey{key, userID}
	p.mu.Lock()
	defer p.mu.Unlock()
	if el, ok := p.items[k]; ok {
		p.removeLocked(el)
	}
	delete(p.inflight, k)
}

func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
