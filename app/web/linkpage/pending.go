package linkpage

import (
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"linehub/app/web/request"
)

// pending is one login between the redirect to LINE and the callback.
// Everything the callback needs stays here, server-side; the browser
// carries only a random cookie that binds it to this browser.
type pending struct {
	ConnID    int64
	Token     string // the link's signed token; "" from the website link
	ContactID string // what CheckToken said the token names
	Nonce     string
	Verifier  string
	Binding   string // the browser's cookie value
	Client    string // client address; the per-address cap counts its request.AddressGroup (an IPv6 /64)
	Expires   time.Time
}

// errBusy: the table is full (of live logins) or this address has too
// many logins under way.
var errBusy = errors.New("too many logins under way")

// pendingTable holds logins by state, bounded in number and in age:
// anyone can start a login, so neither may grow without limit.
type pendingTable struct {
	mu       sync.Mutex
	byState  map[string]pending
	byClient map[string]int
	max      int
	perAddr  int
	ttl      time.Duration
}

func newPendingTable(max, perAddr int, ttl time.Duration) *pendingTable {
	return &pendingTable{byState: map[string]pending{}, byClient: map[string]int{}, max: max, perAddr: perAddr, ttl: ttl}
}

// add keeps p under state, unless the table or the address is full of
// live logins.
func (t *pendingTable) add(state string, p pending, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	group := request.AddressGroup(p.Client)
	if len(t.byState) >= t.max || t.byClient[group] >= t.perAddr {
		t.sweep(now)
	}
	if len(t.byState) >= t.max || t.byClient[group] >= t.perAddr {
		return errBusy
	}
	p.Expires = now.Add(t.ttl)
	t.byState[state] = p
	t.byClient[group]++
	return nil
}

// take removes and returns the login of state if it has not expired and
// binding is the browser's: a state works once, whatever the outcome.
func (t *pendingTable) take(state, binding string, now time.Time) (pending, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.byState[state]
	if !ok {
		return pending{}, false
	}
	t.remove(state, p)
	if !now.Before(p.Expires) || binding == "" || subtle.ConstantTimeCompare([]byte(p.Binding), []byte(binding)) != 1 {
		return pending{}, false
	}
	return p, true
}

func (t *pendingTable) remove(state string, p pending) {
	delete(t.byState, state)
	group := request.AddressGroup(p.Client)
	if t.byClient[group]--; t.byClient[group] <= 0 {
		delete(t.byClient, group)
	}
}

// sweep drops expired logins; the caller holds mu.
func (t *pendingTable) sweep(now time.Time) {
	for s, p := range t.byState {
		if !now.Before(p.Expires) {
			t.remove(s, p)
		}
	}
}

func (t *pendingTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byState)
}
