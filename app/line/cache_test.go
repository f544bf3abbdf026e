package line_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// fakeClock is advanced by hand; expiry tests never sleep.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestProfileCacheSharesOneFetch(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{})
	const user = "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"
	f.srv.AddFriend(testToken, line.Profile{UserID: user, DisplayName: "Chatty"})
	cache := line.NewProfileCache(time.Hour, 100)

	// The fetch holds until every caller has started, so most of them find
	// it in flight; any that come later find the cached result. Either way
	// LINE must see exactly one call.
	var started sync.WaitGroup
	started.Add(50)
	release := make(chan struct{})
	go func() { started.Wait(); close(release) }()
	fetch := func(ctx context.Context) (line.Profile, error) {
		<-release
		return f.client.Profile(ctx, user)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			p, err := cache.Get(context.Background(), "conn-1", user, fetch)
			if err == nil && p.DisplayName != "Chatty" {
				err = errors.New("wrong profile " + p.DisplayName)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.srv.ProfileCalls(testToken); n != 1 {
		t.Fatalf("ProfileCalls = %d, want 1", n)
	}
}

func countingFetch(calls *atomic.Int32, p line.Profile, err error) func(context.Context) (line.Profile, error) {
	return func(context.Context) (line.Profile, error) {
		calls.Add(1)
		return p, err
	}
}

func TestProfileCacheTTL(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	cache := line.NewProfileCache(10*time.Minute, 100)
	cache.SetClock(clock.Now)
	ctx := context.Background()
	var calls atomic.Int32
	fetch := countingFetch(&calls, line.Profile{UserID: "U1", DisplayName: "A"}, nil)

	steps := []struct {
		advance   time.Duration
		wantCalls int32
	}{
		{0, 1},                  // miss
		{9 * time.Minute, 1},    // still fresh
		{59 * time.Second, 1},   // 9m59s
		{time.Second, 2},        // 10m: expired, refetched
		{5 * time.Minute, 2},    // fresh again
		{10 * time.Minute, 3},   // expired again
		{0, 3},                  // cached
		{time.Nanosecond, 3},    // cached
		{time.Hour * 24, 4},     // long gone
		{10*time.Minute - 1, 4}, // one ns short of expiry
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		p, err := cache.Get(ctx, "conn", "U1", fetch)
		if err != nil || p.DisplayName != "A" {
			t.Fatalf("step %d: %+v %v", i, p, err)
		}
		if got := calls.Load(); got != s.wantCalls {
			t.Fatalf("step %d: fetches = %d, want %d", i, got, s.wantCalls)
		}
	}
}

func TestProfileCacheErrors(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	cache := line.NewProfileCache(10*time.Minute, 100)
	cache.SetClock(clock.Now)
	cache.SetNotFriendTTL(30 * time.Second)
	ctx := context.Background()

	// Ordinary errors are not remembered.
	var calls atomic.Int32
	boom := countingFetch(&calls, line.Profile{}, errors.New("connection refused"))
	for i := 0; i < 3; i++ {
		if _, err := cache.Get(ctx, "conn", "U1", boom); err == nil {
			t.Fatal("error swallowed")
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("ordinary error was cached: %d fetches", calls.Load())
	}

	// ErrNotFriend is remembered briefly.
	calls.Store(0)
	notFriend := countingFetch(&calls, line.Profile{}, errors.Join(line.ErrNotFriend, errors.New("404")))
	for i := 0; i < 3; i++ {
		if _, err := cache.Get(ctx, "conn", "U2", notFriend); !errors.Is(err, line.ErrNotFriend) {
			t.Fatalf("err = %v", err)
		}
	}
	if calls.Load() != 1 {
		t.Fatalf("ErrNotFriend fetched %d times within its TTL", calls.Load())
	}
	clock.Advance(30 * time.Second)
	if _, err := cache.Get(ctx, "conn", "U2", notFriend); !errors.Is(err, line.ErrNotFriend) || calls.Load() != 2 {
		t.Fatalf("after not-friend TTL: err %v, fetches %d", err, calls.Load())
	}
}

func TestProfileCacheKeysAndBounds(t *testing.T) {
	cache := line.NewProfileCache(time.Hour, 2)
	ctx := context.Background()
	var calls atomic.Int32
	get := func(key, user string) {
		t.Helper()
		p, err := cache.Get(ctx, key, user, countingFetch(&calls, line.Profile{UserID: user, DisplayName: key + "/" + user}, nil))
		if err != nil || p.DisplayName != key+"/"+user {
			t.Fatalf("Get(%s,%s) = %+v, %v", key, user, p, err)
		}
	}
	get("conn-1", "U1")
	get("conn-2", "U1") // same user, other channel: its own entry
	if calls.Load() != 2 {
		t.Fatalf("keys not separated: %d fetches", calls.Load())
	}
	get("conn-1", "U1") // hit, and now most recently used
	get("conn-1", "U3") // evicts conn-2/U1, the least recently used
	if cache.Len() != 2 || calls.Load() != 3 {
		t.Fatalf("Len %d, fetches %d", cache.Len(), calls.Load())
	}
	get("conn-1", "U1") // survived
	if calls.Load() != 3 {
		t.Fatal("recently used entry was evicted")
	}
	get("conn-2", "U1") // was evicted
	if calls.Load() != 4 {
		t.Fatal("LRU entry was not evicted")
	}

	cache.Invalidate("conn-1", "U1")
	get("conn-1", "U1")
	if calls.Load() != 5 {
		t.Fatal("Invalidate did not drop the entry")
	}
}

func TestProfileCacheInvalidateDuringFetch(t *testing.T) {
	cache := line.NewProfileCache(time.Hour, 10)
	ctx := context.Background()
	inFetch, release := make(chan struct{}), make(chan struct{})
	go func() {
		<-inFetch
		cache.Invalidate("conn", "U1") // e.g. a follow event with a new name
		close(release)
	}()
	p, err := cache.Get(ctx, "conn", "U1", func(context.Context) (line.Profile, error) {
		close(inFetch)
		<-release
		return line.Profile{DisplayName: "old"}, nil
	})
	if err != nil || p.DisplayName != "old" {
		t.Fatalf("%+v %v", p, err)
	}
	p, err = cache.Get(ctx, "conn", "U1", func(context.Context) (line.Profile, error) {
		return line.Profile{DisplayName: "new"}, nil
	})
	if err != nil || p.DisplayName != "new" {
		t.Fatalf("stale profile cached across Invalidate: %+v %v", p, err)
	}
}

func TestProfileCacheLeaderCancelled(t *testing.T) {
	cache := line.NewProfileCache(time.Hour, 10)
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	inFetch := make(chan struct{})
	var calls atomic.Int32
	fetch := func(ctx context.Context) (line.Profile, error) {
		if calls.Add(1) == 1 {
			close(inFetch)
			<-ctx.Done()
			return line.Profile{}, ctx.Err()
		}
		return line.Profile{DisplayName: "ok"}, nil
	}
	leaderErr := make(chan error, 1)
	go func() {
		_, err := cache.Get(leaderCtx, "conn", "U1", fetch)
		leaderErr <- err
	}()
	<-inFetch
	follower := make(chan error, 1)
	go func() {
		p, err := cache.Get(context.Background(), "conn", "U1", fetch)
		if err == nil && p.DisplayName != "ok" {
			err = errors.New("wrong profile")
		}
		follower <- err
	}()
	cancelLeader()
	if err := <-leaderErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader err = %v", err)
	}
	// Whether the follower was already waiting or came after, the leader's
	// cancellation must not become its answer.
	if err := <-follower; err != nil {
		t.Fatalf("follower err = %v", err)
	}
}

func TestProfileCacheWaiterContext(t *testing.T) {
	cache := line.NewProfileCache(time.Hour, 10)
	inFetch, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	go func() {
		_, _ = cache.Get(context.Background(), "conn", "U1", func(context.Context) (line.Profile, error) {
			close(inFetch)
			<-release
			return line.Profile{}, nil
		})
	}()
	<-inFetch
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cache.Get(ctx, "conn", "U1", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter with a dead ctx: err = %v", err)
	}
}

func TestProfileCachePanickingFetch(t *testing.T) {
	cache := line.NewProfileCache(time.Hour, 10)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		_, _ = cache.Get(context.Background(), "conn", "U1", func(context.Context) (line.Profile, error) {
			panic("bug in fetch")
		})
	}()
	// The key is usable afterwards: no stuck in-flight call.
	p, err := cache.Get(context.Background(), "conn", "U1", func(context.Context) (line.Profile, error) {
		return line.Profile{DisplayName: "fine"}, nil
	})
	if err != nil || p.DisplayName != "fine" {
		t.Fatalf("%+v %v", p, err)
	}
}
