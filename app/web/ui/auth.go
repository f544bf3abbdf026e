package ui

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"golang.org/x/crypto/argon2"

	"linehub/app/config"
	"linehub/app/store"
)

// argon2id parameters: OWASP's second recommended set (19 MiB, 2 passes)
// keeps a sign-in well under a second on a small VPS.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

func checkPassword(phc, pw string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false
	}
	// argon2 panics on zero cost; an absurd cost would stall sign-in.
	if t < 1 || t > 10 || p < 1 || p > 16 || m < 8*uint32(p) || m > 256*1024 {
		return false
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	want, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) < 16 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// HashNewPassword checks a new admin password against the dashboard's
// rules and returns its hash; the error says in English what is wrong
// (the command line resets passwords with it).
func HashNewPassword(pw, email string) (string, error) {
	if p := passwordProblem(pw, email); p != "" {
		cat, err := loadCatalog()
		if err != nil {
			return "", err
		}
		return "", errors.New(cat.locale("en").T(p))
	}
	return hashPassword(pw)
}

// PasswordMatches tells whether pw is the password hashed in phc.
func PasswordMatches(phc, pw string) bool { return checkPassword(phc, pw) }

// passwordProblem returns the catalogue key of what is wrong with a new
// password, or "" when it is acceptable: at least 12 characters and three
// kinds of character, or 16+ characters of anything (a passphrase).
func passwordProblem(pw, email string) string {
	n := len([]rune(pw))
	if n < 12 {
		return "err.password_short"
	}
	if strings.EqualFold(pw, email) || strings.Contains(strings.ToLower(pw), "password") {
		return "err.password_weak"
	}
	kinds := 0
	var lower, upper, digit, other bool
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	for _, b := range []bool{lower, upper, digit, other} {
		if b {
			kinds++
		}
	}
	if kinds < 3 && n < 16 {
		return "err.password_weak"
	}
	return ""
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // the OS has no entropy: nothing is safe
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// setupClaim is the one-time first-run link. It lives in the database
// (one setting) rather than in the server's memory, so that
// `linehub setup-link` can hand out a fresh link that an already running
// server accepts without a restart. Only its hash is kept, so a copy of
// the database or a heap dump does not reveal a usable link; minting a
// new link replaces the old one, and creating the admin deletes it.
type setupClaim struct {
	hash    [32]byte
	expires time.Time
}

const (
	setupTTL        = 30 * time.Minute
	settingSetupKey = "setup_claim"
)

func newSetupClaim(now time.Time) (*setupClaim, string) {
	tok := randomToken()
	return &setupClaim{hash: sha256.Sum256([]byte(tok)), expires: now.Add(setupTTL)}, tok
}

func (c *setupClaim) valid(tok string, now time.Time) bool {
	if c == nil || tok == "" {
		return false
	}
	h := sha256.Sum256([]byte(tok))
	return now.Before(c.expires) && subtle.ConstantTimeCompare(h[:], c.hash[:]) == 1
}

// encode gives the setting's value: the hash in hex and the expiry in
// Unix seconds.
func (c *setupClaim) encode() string {
	return hex.EncodeToString(c.hash[:]) + " " + strconv.FormatInt(c.expires.Unix(), 10)
}

// parseSetupClaim reads a stored claim; nil when there is none or the
// value is not one (a claim that cannot be read admits nobody).
func parseSetupClaim(v string) *setupClaim {
	h, exp, ok := strings.Cut(v, " ")
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != sha256.Size {
		return nil
	}
	sec, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return nil
	}
	c := &setupClaim{expires: time.Unix(sec, 0)}
	copy(c.hash[:], b)
	return c
}

// MintSetupLink stores a new one-time setup link, replacing any earlier
// one, and returns it. It refuses once an admin exists: from then on the
// way in is signing in (or `linehub admin reset-password`).
func MintSetupLink(ctx context.Context, st *store.Store, cfg *config.Config) (string, error) {
	has, err := st.HasAdmin(ctx)
	if err != nil {
		return "", fmt.Errorf("check for an admin account: %w", err)
	}
	if has {
		return "", store.ErrAdminExists
	}
	// The link must carry the address the wizard saved, as the server's does.
	if v, err := st.Setting(ctx, settingPublicURL); err == nil {
		cfg.SetWizardPublicURL(v)
	}
	claim, tok := newSetupClaim(time.Now())
	if err := st.SetSetting(ctx, settingSetupKey, claim.encode()); err != nil {
		return "", fmt.Errorf("store the setup link: %w", err)
	}
	return cfg.WebhookBaseURL() + "/setup?token=" + tok, nil
}

// setupTokenValid says whether tok is the live setup link. A database
// error refuses: the gate then shows the pending page, which is safe.
func (s *Server) setupTokenValid(ctx context.Context, tok string) bool {
	if tok == "" {
		return false
	}
	v, err := s.st.Setting(ctx, settingSetupKey)
	if err != nil {
		s.log.Error("read the setup link", "err", err)
		return false
	}
	return parseSetupClaim(v).valid(tok, time.Now())
}

// limiter counts failed sign-ins per key in a fixed window. An attempt
// is counted when it starts (take), before the password hash runs, so
// parallel attempts cannot all pass the check before the first failure is
// recorded; the caller gives the count back when the attempt turns out
// not to be a failure (undo, reset).
//
// Keys are SHA-256 digests, so an entry costs the same however long the
// client's input was. Entries whose window ended are swept once per
// window, and the table never holds more than maxKeys entries.
type limiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	maxKeys int
	hits    map[limitKey]window
	swept   time.Time
}

type limitKey [sha256.Size]byte

func keyOf(s string) limitKey { return sha256.Sum256([]byte(s)) }

type window struct {
	start time.Time
	n     int
}

// limiterKeys bounds each limiter's table (about 100 bytes an entry).
const limiterKeys = 10000

func newLimiter(max int, w time.Duration) *limiter {
	return &limiter{max: max, window: w, maxKeys: limiterKeys, hits: map[limitKey]window{}}
}

// current is k's window at now, a fresh one when k has none or its
// window ended (room made first when the table is full). l.mu is held.
func (l *limiter) current(k limitKey, now time.Time) window {
	if now.Sub(l.swept) >= l.window {
		l.sweep(now)
	}
	w, ok := l.hits[k]
	if !ok || now.Sub(w.start) >= l.window {
		if !ok && len(l.hits) >= l.maxKeys {
			l.evict(now)
		}
		w = window{start: now}
	}
	return w
}

// take counts one attempt for k, or tells (false) that k used up its
// attempts in the current window, counting nothing.
func (l *limiter) take(k limitKey, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.current(k, now)
	if w.n >= l.max {
		return false
	}
	w.n++
	l.hits[k] = w
	return true
}

// add counts one attempt for k and returns how many the window held
// before it; it never refuses (the per-email count slows sign-ins down,
// it does not lock the owner out).
func (l *limiter) add(k limitKey, now time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.current(k, now)
	prior := w.n
	w.n++
	l.hits[k] = w
	return prior
}

// emailDelay is how long a sign-in for an email waits before its password
// is checked, given the failures for that email from every address in the
// window: nothing for the first few, then doubling up to a cap. It slows a
// guesser spread over many addresses without refusing the owner, whose
// right password from an address that has not failed still gets in.
func emailDelay(prior int) time.Duration {
	const free, first, most = 5, 250 * time.Millisecond, 4 * time.Second
	if prior < free {
		return 0
	}
	d := first
	for i := free; i < prior && d < most; i++ {
		d *= 2
	}
	return min(d, most)
}

// undo gives back one attempt counted by take.
func (l *limiter) undo(k limitKey) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, ok := l.hits[k]; ok && w.n > 0 {
		w.n--
		l.hits[k] = w
	}
}

func (l *limiter) reset(k limitKey) {
	l.mu.Lock()
	delete(l.hits, k)
	l.mu.Unlock()
}

// sweep drops the entries whose window ended; l.mu is held.
func (l *limiter) sweep(now time.Time) {
	for k, w := range l.hits {
		if now.Sub(w.start) >= l.window {
			delete(l.hits, k)
		}
	}
	l.swept = now
}

// evict makes room when the table is full of live entries (a spray of
// addresses): it forgets a tenth of them, those not blocking first. A
// forgotten key starts counting afresh, which only the argon2 gate's
// bound then limits; the memory bound matters more.
func (l *limiter) evict(now time.Time) {
	l.sweep(now)
	drop := len(l.hits) - l.maxKeys*9/10
	for pass := 0; pass < 2 && drop > 0; pass++ {
		for k, w := range l.hits {
			if drop <= 0 {
				break
			}
			if pass == 1 || w.n < l.max {
				delete(l.hits, k)
				drop--
			}
		}
	}
}

// len is the number of keys held (tests).
func (l *limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.hits)
}

// hashGate bounds how many argon2 runs go on at once: each holds 19 MiB
// for its whole run, so parallel sign-ins (each a cheap request) could
// otherwise exhaust the server's memory. A few more callers wait for their
// turn, so an admin signing in during a burst still gets in; the wait is
// short (a run takes tens of milliseconds) and bounded by the queue. Past
// that the caller is refused at once, which costs nothing.
type hashGate struct {
	slots   chan struct{}
	limit   int64 // running + waiting
	pending atomic.Int64
}

func newHashGate(running, waiting int) *hashGate {
	return &hashGate{slots: make(chan struct{}, running), limit: int64(running + waiting)}
}

// argonGate is shared by every server in the process: the memory it
// protects is the process's.
var argonGate = newHashGate(2, 16)

// argonHook, when set (tests), runs inside the gate before each argon2 run.
var argonHook atomic.Pointer[func()]

// run runs f, which hashes, when the gate has room; false means it was
// refused and f did not run.
func (g *hashGate) run(f func()) bool {
	if g.pending.Add(1) > g.limit {
		g.pending.Add(-1)
		return false
	}
	defer g.pending.Add(-1)
	g.slots <- struct{}{}
	defer func() { <-g.slots }()
	if h := argonHook.Load(); h != nil {
		(*h)()
	}
	f()
	return true
}
