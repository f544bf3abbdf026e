package ui

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/line"
	"linehub/app/store"
)

// The connection page's slow actions (Verify, register the webhook) answer
// with a redirect to the page (post/redirect/get), so a reload never posts
// again; their outcome waits here, in memory, for that page to show it once.
// It is only a notice: a restart in between loses it and nothing else.

const (
	resultLife     = 2 * time.Minute
	maxResults     = 1000
	lineCheckLife  = 60 * time.Second
	lineCheckLimit = 5 * time.Second
)

// connResult is what a Verify or a webhook registration found.
type connResult struct {
	Verified    bool
	WebhookTest *line.WebhookTest
	Error       string
	until       time.Time
}

type resultKey struct {
	session string
	conn    int64
}

type connResults struct {
	mu sync.Mutex
	m  map[resultKey]connResult
}

func (r *connResults) put(k resultKey, v connResult, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[resultKey]connResult{}
	}
	if len(r.m) >= maxResults {
		for key, old := range r.m {
			if now.After(old.until) {
				delete(r.m, key)
			}
		}
		if len(r.m) >= maxResults {
			return // a notice lost, not memory without bound
		}
	}
	v.until = now.Add(resultLife)
	r.m[k] = v
}

// take returns the result once.
func (r *connResults) take(k resultKey, now time.Time) (connResult, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.m[k]
	delete(r.m, k)
	if !ok || now.After(v.until) {
		return connResult{}, false
	}
	return v, true
}

func (s *Server) resultKey(c *fiber.Ctx, connID int64) resultKey {
	k := resultKey{conn: connID}
	if sess, ok := c.Locals("session").(*store.Session); ok {
		k.session = sess.Hash
	}
	return k
}

// finishConnAction stores the outcome and sends the browser to the page,
// scrolled to it.
func (s *Server) finishConnAction(c *fiber.Ctx, connID int64, r connResult) error {
	s.results.put(s.resultKey(c, connID), r, time.Now())
	return c.Redirect(fmt.Sprintf("/connections/%d#result", connID), fiber.StatusSeeOther)
}

// lineCheck is what LINE says about a channel's setup, for the checklist.
type lineCheck struct {
	At          time.Time
	Error       string // LINE could not be asked; the rest is unknown
	BotName     string
	ChatMode    string // "chat": Chat is on in LINE Official Account Manager
	HasEndpoint bool
	Endpoint    string
	Active      bool // "Use webhook" is on
	Matches     bool // the endpoint is this connection's webhook URL
}

type cachedCheck struct {
	token string // the token's last 4: a new token is asked anew
	check lineCheck
}

type lineChecks struct {
	mu sync.Mutex
	m  map[int64]cachedCheck
}

func (l *lineChecks) get(id int64, token4 string, now time.Time) (lineCheck, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.m[id]
	if !ok || v.token != token4 || now.Sub(v.check.At) > lineCheckLife {
		return lineCheck{}, false
	}
	return v.check, true
}

func (l *lineChecks) set(id int64, token4 string, v lineCheck) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[int64]cachedCheck{}
	}
	l.m[id] = cachedCheck{token: token4, check: v}
}

func (l *lineChecks) forget(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, id)
}

// checkLINE reads the channel's bot info and webhook setting, at most once
// a minute per connection: the page is opened often, LINE's limits are
// per channel.
func (s *Server) checkLINE(ctx context.Context, conn *store.Connection, webhookURL string) (*lineCheck, error) {
	if conn.TokenLast4 == "" {
		return nil, nil
	}
	now := time.Now()
	if v, ok := s.checks.get(conn.ID, conn.TokenLast4, now); ok {
		return &v, nil
	}
	_, token, err := s.st.ConnectionSecrets(conn)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, nil
	}
	cl, err := line.NewClient(line.Options{Token: token, APIBaseURL: s.cfg.LINE.APIBaseURL, DataAPIBaseURL: s.cfg.LINE.DataAPIBaseURL})
	if err != nil {
		return nil, fmt.Errorf("LINE client for connection %d: %w", conn.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, lineCheckLimit)
	defer cancel()
	v := lineCheck{At: now}
	bot, err := cl.BotInfo(ctx)
	if err == nil {
		v.BotName, v.ChatMode = bot.DisplayName, bot.ChatMode
		var ep line.WebhookEndpoint
		if ep, err = cl.GetWebhookEndpoint(ctx); err == nil {
			v.HasEndpoint, v.Endpoint, v.Active = ep.Endpoint != "", ep.Endpoint, ep.Active
			v.Matches = ep.Endpoint == webhookURL
		}
	}
	if err != nil {
		s.log.Warn("reading the LINE channel's setup failed", "connection", conn.ID, "err", err)
		v.Error = err.Error()
	}
	s.checks.set(conn.ID, conn.TokenLast4, v)
	return &v, nil
}

// recheckConnection drops the cached answer so the page asks LINE again.
func (s *Server) recheckConnection(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	s.checks.forget(conn.ID)
	return c.Redirect(fmt.Sprintf("/connections/%d#checklist", conn.ID), fiber.StatusSeeOther)
}

// webhookURLProblem names why LINE cannot reach a webhook URL, as an i18n
// key; "" when it looks reachable. LINE delivers only to https addresses
// on the internet.
func webhookURLProblem(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "conn.url_warn_https"
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "conn.url_warn_local"
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsUnspecified() || ip.IsPrivate() || ip.IsLinkLocalUnicast()) {
		return "conn.url_warn_local"
	}
	if u.Scheme != "https" {
		return "conn.url_warn_https"
	}
	return ""
}
