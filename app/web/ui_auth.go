package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters: OWASP's second recommended set (19 MiB, 2 passes)
// keeps a sign-in well under a second on a small VPS.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// argonSlots bounds how many password hashes run at once. Each takes
// argonMemory, and a sign-in attempt needs no account: unbounded, a burst
// of concurrent attempts would take 19 MiB apiece. Two keep both cores of
// a small VPS busy; more would only queue for CPU.
var argonSlots = make(chan struct{}, 2)

func argonKey(pw, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey(pw, salt, t, m, p, n)
}

func hashPassword(pw string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	key := argonKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
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
	got := argonKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

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

// setupClaim is the one-time first-run link. Only its hash is kept, so a
// heap dump does not reveal a usable link.
type setupClaim struct {
	mu      sync.Mutex
	hash    [32]byte
	expires time.Time
	used    bool
}

const setupTTL = 30 * time.Minute

func newSetupClaim(now time.Time) (*setupClaim, string) {
	tok := randomToken()
	return &setupClaim{hash: sha256.Sum256([]byte(tok)), expires: now.Add(setupTTL)}, tok
}

func (c *setupClaim) valid(tok string, now time.Time) bool {
	if c == nil || tok == "" {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h := sha256.Sum256([]byte(tok))
	return !c.used && now.Before(c.expires) && subtle.ConstantTimeCompare(h[:], c.hash[:]) == 1
}

func (c *setupClaim) consume() {
	c.mu.Lock()
	c.used = true
	c.mu.Unlock()
}

// limiter counts failed sign-ins per key (IP, email) in a fixed window.
type limiter struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	hits   map[string]*window
}

type window struct {
	start time.Time
	n     int
}

func newLimiter(max int, w time.Duration) *limiter {
	return &limiter{max: max, window: w, hits: map[string]*window{}}
}

// maxLimitKey bounds what a limiter keeps of a key for its window. Keys
// hold form values (the email, up to the body limit); no valid email comes
// near it.
const maxLimitKey = 300

// limitKey cuts an over-long key into a copy of its own, so the stranger's
// megabytes behind it are not kept for the window.
func limitKey(key string) string {
	if len(key) > maxLimitKey {
		return strings.Clone(key[:maxLimitKey])
	}
	return key
}

// blocked tells whether key used up its failures in the current window.
func (l *limiter) blocked(key string, now time.Time) bool {
	key = limitKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.hits[key]
	return w != nil && now.Sub(w.start) < l.window && w.n >= l.max
}

func (l *limiter) fail(key string, now time.Time) {
	key = limitKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.hits) > 10000 { // bounded memory under a spray of addresses
		for k, w := range l.hits {
			if now.Sub(w.start) >= l.window {
				delete(l.hits, k)
			}
		}
	}
	w := l.hits[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.hits[key] = w
	}
	w.n++
}

func (l *limiter) reset(key string) {
	key = limitKey(key)
	l.mu.Lock()
	delete(l.hits, key)
	l.mu.Unlock()
}
