package ui

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
	"linehub/app/store"
	"linehub/app/web/request"
	"linehub/app/web/response"
)

const testCSRF = "csrf-token-for-the-sign-in-form-0123456789"

// newAuthServer serves the browser pages over a real store, with an admin
// whose password is pw.
func newAuthServer(t *testing.T, email, pw string) (*Server, *fiber.App) {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{Synchronous: "NORMAL", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Server{st: st, cfg: config.Default(), log: slog.New(slog.DiscardHandler)}
	if err := s.initUI(); err != nil {
		t.Fatal(err)
	}
	if email != "" {
		h, err := hashPassword(pw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateFirstAdmin(context.Background(), email, h); err != nil {
			t.Fatal(err)
		}
	}
	app := fiber.New(fiber.Config{ErrorHandler: response.ErrorHandler(s.log), DisableStartupMessage: true})
	s.Routes(app)
	return s, app
}

// postForm sends a form as a browser that holds the pre-sign-in CSRF cookie.
func postForm(t *testing.T, app *fiber.App, path string, form url.Values) int {
	t.Helper()
	form.Set("csrf", testCSRF)
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: preCSRFCookie, Value: testCSRF})
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Errorf("POST %s: %v", path, err)
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// holdArgon makes every argon2 run wait for release; entered counts them.
func holdArgon(t *testing.T) (entered *atomic.Int64, release func()) {
	entered = new(atomic.Int64)
	gate := make(chan struct{})
	hook := func() {
		entered.Add(1)
		<-gate
	}
	argonHook.Store(&hook)
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() {
		release()
		argonHook.Store(nil)
	})
	return entered, release
}

// settle waits until each of n requests has either reached the argon2
// gate (and is held there) or been answered; then nothing more happens
// until the hold is released. The deadline only guards against a hang.
func settle(t *testing.T, n int64, answered *atomic.Int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for argonGate.pending.Load()+answered.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("requests never settled: %d at the gate, %d answered, of %d", argonGate.pending.Load(), answered.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestParallelSignInsCountedBeforeHashing: wrong passwords sent all at
// once from one address for one email reach the password hash only as
// often as the limit allows; the rest are refused without hashing.
func TestParallelSignInsCountedBeforeHashing(t *testing.T) {
	const email, n = "owner@example.com", 40
	_, app := newAuthServer(t, email, "Tr0ub4dor&3-horse")
	entered, release := holdArgon(t)
	var answered atomic.Int64
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- postForm(t, app, "/login", url.Values{"email": {email}, "password": {fmt.Sprintf("guess-%d", i)}})
			answered.Add(1)
		}()
	}
	settle(t, n, &answered)
	release()
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if got := entered.Load(); got > 5 {
		t.Errorf("%d of %d parallel sign-ins reached the password hash, want at most 5 (the per-email limit)", got, n)
	}
	if count[401] > 5 || count[401]+count[429] != n {
		t.Errorf("answers %v, want at most 5 × 401 and the rest 429", count)
	}
}

// TestArgonGateBoundsParallelHashes: however many sign-ins arrive at once
// (here from different addresses, for different emails, so the limits do
// not stop them), at most two hashes run; a bounded number wait their
// turn and get an answer; the rest are told to retry at once.
func TestArgonGateBoundsParallelHashes(t *testing.T) {
	const n = 30
	s, app := newAuthServer(t, "owner@example.com", "Tr0ub4dor&3-horse")
	s.ui.byIP = newLimiter(1000, 15*time.Minute) // app.Test comes from one address
	var running, most atomic.Int64
	gate := make(chan struct{})
	hook := func() {
		r := running.Add(1)
		for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
		}
		<-gate
		running.Add(-1)
	}
	argonHook.Store(&hook)
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { release(); argonHook.Store(nil) })

	var answered atomic.Int64
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- postForm(t, app, "/login", url.Values{"email": {fmt.Sprintf("u%d@example.com", i)}, "password": {"wrong"}})
			answered.Add(1)
		}()
	}
	settle(t, n, &answered)
	release()
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if most.Load() > 2 {
		t.Errorf("%d argon2 runs at once, want at most 2", most.Load())
	}
	if count[401] != 18 || count[503] != n-18 {
		t.Errorf("answers %v, want 18 × 401 (2 running + 16 waiting) and %d × 503", count, n-18)
	}
	if argonGate.pending.Load() != 0 {
		t.Errorf("gate not empty afterwards: %d", argonGate.pending.Load())
	}
}

// TestSignInRightPasswordGivesBack: a successful sign-in is not counted
// against the address, and clears the email's failures.
func TestSignInRightPasswordGivesBack(t *testing.T) {
	const email, pw = "owner@example.com", "Tr0ub4dor&3-horse"
	_, app := newAuthServer(t, email, pw)
	for i := range 4 {
		if st := postForm(t, app, "/login", url.Values{"email": {email}, "password": {"wrong"}}); st != 401 {
			t.Fatalf("failure %d: %d", i, st)
		}
	}
	if st := postForm(t, app, "/login", url.Values{"email": {email}, "password": {pw}}); st != 303 {
		t.Fatalf("right password: %d", st)
	}
	// 4 failures + 1 success from the address: 6 more failures fit in its 10.
	for i := range 6 {
		if st := postForm(t, app, "/login", url.Values{"email": {fmt.Sprintf("x%d@example.com", i)}, "password": {"wrong"}}); st != 401 {
			t.Fatalf("failure %d after the success: %d, want 401", i, st)
		}
	}
	if st := postForm(t, app, "/login", url.Values{"email": {email}, "password": {pw}}); st != 429 {
		t.Fatalf("11th attempt from the address: %d, want 429", st)
	}
}

// TestSignInEmailLengthCapped: an email longer than any mailbox's is
// refused like a wrong password, without hashing and without keeping
// anything about it.
func TestSignInEmailLengthCapped(t *testing.T) {
	s, app := newAuthServer(t, "owner@example.com", "Tr0ub4dor&3-horse")
	entered, release := holdArgon(t)
	release()
	for _, n := range []int{255, 64 << 10} {
		long := strings.Repeat("a", n-len("@example.com")) + "@example.com"
		if st := postForm(t, app, "/login", url.Values{"email": {long}, "password": {"wrong"}}); st != 401 {
			t.Errorf("%d-byte email: %d, want 401", n, st)
		}
	}
	if got := len(s.ui.byEmail.hits) + len(s.ui.byIP.hits); got != 0 {
		t.Errorf("the limiter kept %d entries for over-long emails", got)
	}
	if entered.Load() != 0 {
		t.Errorf("%d password hashes for over-long emails", entered.Load())
	}
	// 254 bytes is a possible address: counted as usual.
	ok := strings.Repeat("a", 254-len("@example.com")) + "@example.com"
	if st := postForm(t, app, "/login", url.Values{"email": {ok}, "password": {"wrong"}}); st != 401 || len(s.ui.byEmail.hits) != 1 {
		t.Errorf("254-byte email: %d, %d limiter entries", st, len(s.ui.byEmail.hits))
	}
}

func TestLimiterWindowAndExpiry(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	l := newLimiter(3, 15*time.Minute)
	a, b := keyOf("a"), keyOf("b")
	for i := range 3 {
		if !l.take(a, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("attempt %d refused", i)
		}
	}
	if l.take(a, t0.Add(time.Minute)) {
		t.Fatal("4th attempt in the window taken")
	}
	l.undo(a)
	if !l.take(a, t0.Add(time.Minute)) || l.take(a, t0.Add(time.Minute)) {
		t.Fatal("undo did not give back exactly one attempt")
	}
	if !l.take(a, t0.Add(15*time.Minute)) {
		t.Fatal("refused after the window ended")
	}
	l.reset(a)
	if n := l.len(); n != 0 {
		t.Fatalf("%d entries after reset", n)
	}
	// Entries go when their window has passed, even when nobody comes
	// back for them and the table is far from full.
	for i := range 100 {
		l.take(keyOf(fmt.Sprint("spray", i)), t0.Add(16*time.Minute))
	}
	if n := l.len(); n != 100 {
		t.Fatalf("%d entries, want 100", n)
	}
	l.take(b, t0.Add(31*time.Minute))
	if n := l.len(); n != 1 {
		t.Errorf("%d entries after the window passed, want 1 (the fresh one)", n)
	}
}

func TestLimiterBoundedUnderSpray(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	l := newLimiter(2, 15*time.Minute)
	l.maxKeys = 100
	victim := keyOf("owner@example.com")
	l.take(victim, t0)
	l.take(victim, t0)
	for i := range 1000 {
		l.take(keyOf(fmt.Sprint("spray", i)), t0.Add(time.Second))
		if n := l.len(); n > l.maxKeys {
			t.Fatalf("%d entries after %d keys, limit %d", n, i+1, l.maxKeys)
		}
	}
	if l.take(victim, t0.Add(2*time.Second)) {
		t.Error("a spray of other keys unblocked a blocked one")
	}
}

func TestLimitAddr(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                 "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":        "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:0:1":  "2001:db8:1:2::/64",
		"::ffff:203.0.113.7":          "::ffff:203.0.113.7",
		"not an address":              "not an address",
		"2001:db8:1:3::1":             "2001:db8:1:3::/64",
		"fe80::1":                     "fe80::/64",
		"2001:db8:abcd:12:1:2:3:4abc": "2001:db8:abcd:12::/64",
	} {
		if got := request.AddressGroup(in); got != want {
			t.Errorf("AddressGroup(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSetupRefusedWithoutClaim: with no live one-time link (the server
// started with an admin, who was then deleted), POST /setup with the
// pre-sign-in CSRF token is refused, creates nothing and does not crash.
func TestSetupRefusedWithoutClaim(t *testing.T) {
	s, app := newAuthServer(t, "", "")
	if s.ui.pending {
		t.Fatal("the test wants a server without a setup link")
	}
	pw := "Tr0ub4dor&3-horse"
	for _, tok := range []string{"", "guess"} {
		st := postForm(t, app, "/setup", url.Values{"token": {tok}, "email": {"intruder@example.com"}, "password": {pw}, "password2": {pw}})
		if st != 403 {
			t.Errorf("POST /setup with token %q and no link: %d, want 403", tok, st)
		}
	}
	if has, err := s.st.HasAdmin(context.Background()); err != nil || has {
		t.Fatalf("an admin was created without a setup link (%v)", err)
	}
}

// TestSpreadGuessingSlowsButNeverLocksOut: failures for the owner's email
// from many addresses make each later attempt for it wait longer, up to a
// cap; the right password still signs in.
func TestSpreadGuessingSlowsButNeverLocksOut(t *testing.T) {
	const email, pw = "owner@example.com", "Tr0ub4dor&3-horse"
	s, app := newAuthServer(t, email, pw)
	var waited []time.Duration
	s.ui.sleep = func(d time.Duration) { waited = append(waited, d) }
	now := time.Now()
	// Failures from other addresses, which this server only sees in the
	// email's count.
	for range 40 {
		s.ui.byEmail.add(keyOf(email), now)
	}
	if st := postForm(t, app, "/login", url.Values{"email": {email}, "password": {pw}}); st != 303 {
		t.Fatalf("right password after 40 failures elsewhere: %d, want 303", st)
	}
	if len(waited) != 1 || waited[0] != 4*time.Second {
		t.Errorf("waited %v, want one 4s wait (the cap)", waited)
	}
	// The success clears the email's count: the next attempt does not wait.
	waited = nil
	postForm(t, app, "/login", url.Values{"email": {email}, "password": {"wrong"}})
	if len(waited) != 0 {
		t.Errorf("waited %v after the owner signed in, want none", waited)
	}
}

func TestEmailDelay(t *testing.T) {
	for prior, want := range map[int]time.Duration{0: 0, 4: 0, 5: 250 * time.Millisecond, 6: 500 * time.Millisecond, 9: 4 * time.Second, 1000: 4 * time.Second} {
		if got := emailDelay(prior); got != want {
			t.Errorf("emailDelay(%d) = %v, want %v", prior, got, want)
		}
	}
}
