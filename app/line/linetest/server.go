// Package linetest is an in-memory LINE platform for tests: a real HTTP
// server on loopback that answers the Messaging API endpoints linehub uses
// the way LINE documents them, and that delivers signed webhooks the way
// LINE sends them.
//
// Implemented (paths, status codes and error bodies as in the Messaging API
// reference, see package line's doc for the pages):
//
//	GET  /v2/bot/info                       bot info
//	GET  /v2/bot/profile/{userId}           200 for a friend, 404 {"message":"Not found"} otherwise
//	POST /v2/bot/message/push               records pushes; X-Line-Retry-Key repeat → 409 + X-Line-Accepted-Request-Id
//	PUT  /v2/bot/channel/webhook/endpoint   400 {"message":"Invalid webhook endpoint URL"} for a bad URL
//	GET  /v2/bot/channel/webhook/endpoint   {"endpoint","active"}; 404 {"message":"Webhook endpoint not found"} when unset
//	POST /v2/bot/channel/webhook/test       really POSTs a signed {"destination":..,"events":[]} and reports
//	GET  /v2/bot/followers/ids              paging with limit/start/next; 403 unless the channel is Verified
//
// and LINE Login v2.1 (login.go): the authorization page, token, verify
// and profile endpoints.
//
// Every request needs "Authorization: Bearer <channel access token>" of a
// channel added with AddChannel (401 with LINE's message otherwise). Every
// response carries X-Line-Request-Id. Options.RatePerSec adds LINE's 429, and
// SetFault injects any status for chosen requests.
//
// Deliberate differences from LINE: webhook URLs may be plain http when the
// host is loopback (so httptest servers work), and nothing is ever delivered
// by itself: tests call Deliver.
package linetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"linehub/app/line"
)

// LINE's error messages, as documented (or, where noted, as observed).
const (
	msgNoAuthHeader = "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
	msgBadToken     = "Authentication failed. Confirm that the access token in the authorization header is valid."
	msgNotFound     = "Not found"
	msgForbidden    = "Access to this API is not available for your account"
	msgRateLimited  = "The API rate limit has been exceeded. Try again later."
	msgRetryKeyUsed = "The retry key is already accepted"
	msgBadWebhook   = "Invalid webhook endpoint URL"
	msgNoWebhook    = "Webhook endpoint not found"
)

// Channel is one Messaging API channel (one LINE Official Account).
type Channel struct {
	Secret      string
	Token       string // channel access token
	BotUserID   string // "destination" of webhooks; generated when empty
	BasicID     string // generated when empty
	DisplayName string
	PictureURL  string
	ChatMode    string // "bot" (default) or "chat"
	Verified    bool   // verified/premium: may list follower IDs
}

// Options tune the double.
type Options struct {
	// RatePerSec limits requests per channel per second (0 = no limit);
	// beyond it LINE's 429 is returned.
	RatePerSec int
	// Now replaces time.Now for the rate limit window, so tests of 429 need
	// not race the clock.
	Now func() time.Time
	// WebhookTimeout bounds the test-webhook delivery; past it the result is
	// REQUEST_TIMEOUT. Default 2s.
	WebhookTimeout time.Duration
	// ReplyTokenTTL is how long a delivered event's reply token works
	// (default 1 minute).
	ReplyTokenTTL time.Duration
}

// Push is one accepted push request.
type Push struct {
	To        string
	Texts     []string          // the text of each text message, in order
	Messages  []json.RawMessage // every message object as sent
	RetryKey  string
	RequestID string
	// Delivered is false when To had blocked the account or is not a friend:
	// LINE still answers 200 then, but nobody sees the message.
	Delivered bool
}

type user struct {
	profile  line.Profile
	friend   bool
	blocked  bool
	followed bool // appears in followOrder
}

type channelState struct {
	ch           Channel
	users        map[string]*user
	followOrder  []string
	pushes       []Push
	accepted     map[string]acceptedPush // retry key → first accepted push
	profileCalls int
	webhook      string
	webhookOff   bool // "Use webhook" turned off in the console (SetWebhookActive)
	rateSecond   int64
	rateCount    int
	messaging    // multicast, reply, quota (messaging.go)
}

type acceptedPush struct {
	requestID string
	sent      []sentMessage
}

type sentMessage struct {
	ID         string `json:"id"`
	QuoteToken string `json:"quoteToken,omitempty"`
}

// Server is the LINE platform double.
type Server struct {
	hs       *httptest.Server
	opts     Options
	delivery *http.Client

	mu       sync.Mutex
	channels map[string]*channelState // by token
	fault    func(r *http.Request) (status int, body string, ok bool)
	login    loginState // LINE Login (login.go)
}

// New starts a double on 127.0.0.1 with a free port. It panics if it cannot
// listen, like httptest.NewServer.
func New(opts Options) *Server {
	s, err := NewOn("127.0.0.1:0", opts)
	if err != nil {
		panic(fmt.Sprintf("linetest: %v", err))
	}
	return s
}

// NewOn starts a double listening on addr (for a dev setup that needs a
// fixed port).
func NewOn(addr string, opts Options) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("linetest: listening on %s: %w", addr, err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.WebhookTimeout <= 0 {
		opts.WebhookTimeout = 2 * time.Second
	}
	s := &Server{
		opts:     opts,
		channels: make(map[string]*channelState),
		delivery: &http.Client{
			Timeout: opts.WebhookTimeout,
			// LINE does not follow redirects for webhooks; a 3xx is an error
			// status for it.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	s.hs = &httptest.Server{Listener: l, Config: &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}}
	s.hs.Start()
	return s, nil
}

// URL is the base URL to use as line.Options.APIBaseURL.
func (s *Server) URL() string { return s.hs.URL }

// Close stops the server.
func (s *Server) Close() { s.hs.Close() }

// AddChannel registers (or replaces) a channel, keyed by its token.
func (s *Server) AddChannel(ch Channel) {
	if ch.BotUserID == "" {
		ch.BotUserID = "U" + randHex(16)
	}
	if ch.BasicID == "" {
		ch.BasicID = "@" + randHex(4)[:7]
	}
	if ch.DisplayName == "" {
		ch.DisplayName = "linetest bot"
	}
	if ch.ChatMode == "" {
		ch.ChatMode = "bot"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.channels[ch.Token] = &channelState{
		ch:       ch,
		users:    make(map[string]*user),
		accepted: make(map[string]acceptedPush),
	}
}

// BotUserID returns the bot user ID of a channel (generated if not given).
func (s *Server) BotUserID(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustChannel(token).ch.BotUserID
}

func (s *Server) mustChannel(token string) *channelState {
	c, ok := s.channels[token]
	if !ok {
		panic("linetest: no channel with that token; call AddChannel first")
	}
	return c
}

// AddFriend makes p.UserID a friend who follows the account (and unblocks
// them if they had blocked it).
func (s *Server) AddFriend(token string, p line.Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(token)
	u := c.user(p.UserID)
	u.profile = p
	u.friend, u.blocked = true, false
	c.markFollowed(p.UserID, u)
}

// Block makes the user block the account: profile → 404, gone from
// follower IDs.
func (s *Server) Block(token, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(token)
	c.user(userID).blocked = true
}

// Unblock reverses Block; the user is a friend again.
func (s *Server) Unblock(token, userID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(token)
	u := c.user(userID)
	u.blocked, u.friend = false, true
	c.markFollowed(userID, u)
}

// SetProfile changes a user's profile (a new display name, say) without
// changing whether they are a friend. An unknown user is added as a
// non-friend, whose profile stays 404 until AddFriend.
func (s *Server) SetProfile(token string, p line.Profile) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(token)
	c.user(p.UserID).profile = p
}

// Pushes returns the pushes accepted so far, oldest first.
func (s *Server) Pushes(token string) []Push {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(token)
	out := make([]Push, len(c.pushes))
	copy(out, c.pushes)
	return out
}

// ProfileCalls counts profile requests that reached the channel (any answer).
func (s *Server) ProfileCalls(token string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustChannel(token).profileCalls
}

// WebhookEndpoint is the URL last set through the API ("" if none).
func (s *Server) WebhookEndpoint(token string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustChannel(token).webhook
}

// SetWebhookActive sets the console's "Use webhook" switch, which the API
// cannot change: GET .../webhook/endpoint reports it as "active". It is on
// until turned off here.
func (s *Server) SetWebhookActive(token string, active bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustChannel(token).webhookOff = !active
}

// SetFault installs f, asked first for every request: when it returns ok,
// the request is answered with status and body (as JSON) and not processed.
// nil removes it.
func (s *Server) SetFault(f func(r *http.Request) (status int, body string, ok bool)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

func (c *channelState) user(id string) *user {
	u, ok := c.users[id]
	if !ok {
		u = &user{profile: line.Profile{UserID: id}}
		c.users[id] = u
	}
	return u
}

func (c *channelState) markFollowed(id string, u *user) {
	if !u.followed {
		u.followed = true
		c.followOrder = append(c.followOrder, id)
	}
}

// Deliver sends events to webhookURL as LINE does: one POST with
// {"destination": <bot user id>, "events": [...]}, signed with the channel
// secret, User-Agent LineBotWebhook/2.0. It returns the receiver's status.
func (s *Server) Deliver(ctx context.Context, webhookURL, token string, events ...json.RawMessage) (status int, err error) {
	s.mu.Lock()
	c, ok := s.channels[token]
	var ch Channel
	if ok {
		ch = c.ch
	}
	s.mu.Unlock()
	if !ok {
		return 0, errors.New("linetest: deliver: no channel with that token")
	}
	s.IssueReplyTokens(token, events...)
	return s.post(ctx, webhookURL, ch.Secret, Body(ch.BotUserID, events...))
}

// DeliverBody posts a ready-made body signed with the channel's secret, for
// tests of odd bodies.
func (s *Server) DeliverBody(ctx context.Context, webhookURL, token string, body []byte) (status int, err error) {
	s.mu.Lock()
	c, ok := s.channels[token]
	var secret string
	if ok {
		secret = c.ch.Secret
	}
	s.mu.Unlock()
	if !ok {
		return 0, errors.New("linetest: deliver: no channel with that token")
	}
	return s.post(ctx, webhookURL, secret, body)
}

func (s *Server) post(ctx context.Context, webhookURL, secret string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("linetest: building webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "LineBotWebhook/2.0")
	req.Header.Set("X-Line-Signature", line.Sign(secret, body))
	res, err := s.delivery.Do(req)
	if err != nil {
		return 0, fmt.Errorf("linetest: posting webhook: %w", err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, nil
}

// ServeHTTP answers Messaging API requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newUUID()
	w.Header().Set("X-Line-Request-Id", reqID)

	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	if fault != nil {
		if status, body, ok := fault(r); ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
			return
		}
	}

	if s.serveLogin(w, r) {
		return
	}
	auth := r.Header.Get("Authorization")
	token, hasBearer := strings.CutPrefix(auth, "Bearer ")
	if !hasBearer || strings.TrimSpace(token) == "" {
		writeError(w, http.StatusUnauthorized, msgNoAuthHeader)
		return
	}
	s.mu.Lock()
	c, ok := s.channels[token]
	if ok && s.opts.RatePerSec > 0 {
		sec := s.opts.Now().Unix()
		if c.rateSecond != sec {
			c.rateSecond, c.rateCount = sec, 0
		}
		c.rateCount++
		if c.rateCount > s.opts.RatePerSec {
			s.mu.Unlock()
			writeError(w, http.StatusTooManyRequests, msgRateLimited)
			return
		}
	}
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusUnauthorized, msgBadToken)
		return
	}

	p := r.URL.Path
	switch {
	case p == "/v2/bot/info" && r.Method == http.MethodGet:
		s.botInfo(w, token)
	case strings.HasPrefix(p, "/v2/bot/profile/") && r.Method == http.MethodGet:
		s.profile(w, token, strings.TrimPrefix(p, "/v2/bot/profile/"))
	case p == "/v2/bot/message/push" && r.Method == http.MethodPost:
		s.push(w, r, token, reqID)
	case p == "/v2/bot/message/multicast" && r.Method == http.MethodPost:
		s.multicast(w, r, token, reqID)
	case p == "/v2/bot/message/reply" && r.Method == http.MethodPost:
		s.reply(w, r, token)
	case p == "/v2/bot/message/quota" && r.Method == http.MethodGet:
		s.quota(w, token)
	case p == "/v2/bot/message/quota/consumption" && r.Method == http.MethodGet:
		s.consumption(w, token)
	case p == "/v2/bot/channel/webhook/endpoint" && r.Method == http.MethodPut:
		s.setWebhook(w, r, token)
	case p == "/v2/bot/channel/webhook/endpoint" && r.Method == http.MethodGet:
		s.getWebhook(w, token)
	case p == "/v2/bot/channel/webhook/test" && r.Method == http.MethodPost:
		s.testWebhook(w, r, token)
	case p == "/v2/bot/followers/ids" && r.Method == http.MethodGet:
		s.followers(w, r, token)
	default:
		writeError(w, http.StatusNotFound, msgNotFound)
	}
}

func (s *Server) botInfo(w http.ResponseWriter, token string) {
	s.mu.Lock()
	ch := s.channels[token].ch
	s.mu.Unlock()
	markAsRead := "auto"
	if ch.ChatMode == "chat" {
		markAsRead = "manual"
	}
	writeJSON(w, http.StatusOK, struct {
		UserID         string `json:"userId"`
		BasicID        string `json:"basicId"`
		DisplayName    string `json:"displayName"`
		PictureURL     string `json:"pictureUrl,omitempty"`
		ChatMode       string `json:"chatMode"`
		MarkAsReadMode string `json:"markAsReadMode"`
	}{ch.BotUserID, ch.BasicID, ch.DisplayName, ch.PictureURL, ch.ChatMode, markAsRead})
}

func (s *Server) profile(w http.ResponseWriter, token, userID string) {
	s.mu.Lock()
	c := s.channels[token]
	c.profileCalls++
	u, known := c.users[userID]
	var prof line.Profile
	visible := known && u.friend && !u.blocked
	if visible {
		prof = u.profile
	}
	s.mu.Unlock()

	if !visible {
		if !known && !looksLikeUserID(userID) {
			writeError(w, http.StatusBadRequest, "The value for the 'userId' parameter is invalid")
			return
		}
		writeError(w, http.StatusNotFound, msgNotFound)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		DisplayName   string `json:"displayName"`
		UserID        string `json:"userId"`
		Language      string `json:"language,omitempty"`
		PictureURL    string `json:"pictureUrl,omitempty"`
		StatusMessage string `json:"statusMessage,omitempty"`
	}{prof.DisplayName, prof.UserID, prof.Language, prof.PictureURL, prof.StatusMessage})
}

type detail struct {
	Message  string `json:"message"`
	Property string `json:"property,omitempty"`
}

var sendableTypes = map[string]bool{
	"text": true, "textV2": true, "image": true, "video": true, "audio": true, "location": true,
	"sticker": true, "template": true, "imagemap": true, "flex": true, "coupon": true,
}

func (s *Server) push(w http.ResponseWriter, r *http.Request, token, reqID string) {
	retryKey := r.Header.Get("X-Line-Retry-Key")
	if retryKey != "" && !looksLikeUUID(retryKey) {
		// Wording not documented; LINE documents only that the key must be a UUID.
		writeError(w, http.StatusBadRequest, "The value for the 'X-Line-Retry-Key' header is invalid")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 2<<20+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "The request body could not be read")
		return
	}
	if len(body) > 2<<20 {
		writeError(w, http.StatusRequestEntityTooLarge, "Request entity too large")
		return
	}
	var req struct {
		To       string            `json:"to"`
		Messages []json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "The request body could not be parsed as JSON")
		return
	}
	var details []detail
	if req.To == "" {
		details = append(details, detail{"May not be empty", "to"})
	}
	if n := len(req.Messages); n < 1 || n > 5 {
		details = append(details, detail{"Size must be between 1 and 5", "messages"})
	}
	texts, more := checkMessages(req.Messages)
	details = append(details, more...)
	if len(details) > 0 {
		writeJSON(w, http.StatusBadRequest, struct {
			Message string   `json:"message"`
			Details []detail `json:"details"`
		}{fmt.Sprintf("The request body has %d error(s)", len(details)), details})
		return
	}

	s.mu.Lock()
	c := s.channels[token]
	if retryKey != "" {
		if prev, dup := c.accepted[strings.ToLower(retryKey)]; dup {
			s.mu.Unlock()
			w.Header().Set("X-Line-Accepted-Request-Id", prev.requestID)
			writeJSON(w, http.StatusConflict, struct {
				Message      string        `json:"message"`
				SentMessages []sentMessage `json:"sentMessages"`
			}{msgRetryKeyUsed, prev.sent})
			return
		}
	}
	if c.overQuota(1) {
		s.mu.Unlock()
		writeError(w, http.StatusTooManyRequests, msgMonthlyLimit)
		return
	}
	c.used++
	sent := make([]sentMessage, len(req.Messages))
	for i := range sent {
		sent[i] = sentMessage{ID: MessageID(), QuoteToken: quoteToken()}
	}
	u, known := c.users[req.To]
	c.pushes = append(c.pushes, Push{
		To:        req.To,
		Texts:     texts,
		Messages:  req.Messages,
		RetryKey:  retryKey,
		RequestID: reqID,
		Delivered: known && u.friend && !u.blocked,
	})
	if retryKey != "" {
		c.accepted[strings.ToLower(retryKey)] = acceptedPush{requestID: reqID, sent: sent}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		SentMessages []sentMessage `json:"sentMessages"`
	}{sent})
}

// validWebhookURL applies LINE's rules (HTTPS, at most 500 characters), but
// lets plain http through for loopback hosts so tests can use httptest.
func validWebhookURL(s string) bool {
	if s == "" || len(s) > 500 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		host := u.Hostname()
		if host == "localhost" {
			return true
		}
		ip := net.ParseIP(host)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

func (s *Server) setWebhook(w http.ResponseWriter, r *http.Request, token string) {
	var req struct {
		Endpoint string `json:"endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "The request body could not be parsed as JSON")
		return
	}
	if !validWebhookURL(req.Endpoint) {
		writeError(w, http.StatusBadRequest, msgBadWebhook)
		return
	}
	s.mu.Lock()
	s.channels[token].webhook = req.Endpoint
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) getWebhook(w http.ResponseWriter, token string) {
	s.mu.Lock()
	ep, off := s.channels[token].webhook, s.channels[token].webhookOff
	s.mu.Unlock()
	if ep == "" {
		writeError(w, http.StatusNotFound, msgNoWebhook)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Endpoint string `json:"endpoint"`
		Active   bool   `json:"active"`
	}{ep, !off})
}

func (s *Server) testWebhook(w http.ResponseWriter, r *http.Request, token string) {
	var req struct {
		Endpoint *string `json:"endpoint"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "The request body could not be parsed as JSON")
			return
		}
	}
	s.mu.Lock()
	c := s.channels[token]
	ch, endpoint := c.ch, c.webhook
	s.mu.Unlock()
	if req.Endpoint != nil && *req.Endpoint != "" {
		endpoint = *req.Endpoint
		if !validWebhookURL(endpoint) {
			writeError(w, http.StatusBadRequest, msgBadWebhook)
			return
		}
	}
	if endpoint == "" {
		writeError(w, http.StatusNotFound, msgNoWebhook)
		return
	}

	status, err := s.post(r.Context(), endpoint, ch.Secret, Body(ch.BotUserID))
	res := struct {
		Success    bool   `json:"success"`
		Timestamp  string `json:"timestamp"`
		StatusCode int    `json:"statusCode"`
		Reason     string `json:"reason"`
		Detail     string `json:"detail"`
	}{Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")}
	var nerr net.Error
	switch {
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || errors.As(err, &nerr) && nerr.Timeout()):
		res.Reason, res.Detail = "REQUEST_TIMEOUT", "Request timeout"
	case err != nil:
		res.Reason, res.Detail = "COULD_NOT_CONNECT", "Failure to connect"
	case status == http.StatusOK:
		res.Success, res.StatusCode, res.Reason, res.Detail = true, status, "OK", strconv.Itoa(status)
	default:
		res.StatusCode, res.Reason, res.Detail = status, "ERROR_STATUS_CODE", strconv.Itoa(status)
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) followers(w http.ResponseWriter, r *http.Request, token string) {
	q := r.URL.Query()
	limit := 300
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "The value for the 'limit' parameter is invalid")
			return
		}
		limit = n
	}
	offset := 0
	if v := q.Get("start"); v != "" {
		n, ok := decodeStart(v)
		if !ok {
			writeError(w, http.StatusBadRequest, "The value for the 'start' parameter is invalid")
			return
		}
		offset = n
	}

	s.mu.Lock()
	c := s.channels[token]
	if !c.ch.Verified {
		s.mu.Unlock()
		writeError(w, http.StatusForbidden, msgForbidden)
		return
	}
	ids := []string{}
	i := offset
	for ; i < len(c.followOrder) && len(ids) < limit; i++ {
		u := c.users[c.followOrder[i]]
		if u.friend && !u.blocked {
			ids = append(ids, c.followOrder[i])
		}
	}
	next := ""
	for j := i; j < len(c.followOrder); j++ {
		if u := c.users[c.followOrder[j]]; u.friend && !u.blocked {
			next = encodeStart(i)
			break
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, struct {
		UserIDs []string `json:"userIds"`
		Next    string   `json:"next,omitempty"`
	}{ids, next})
}

// Continuation tokens are opaque to clients; here they are just an offset.
func encodeStart(offset int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o:" + strconv.Itoa(offset)))
}

func decodeStart(s string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "o:")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"linetest: encoding response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, struct {
		Message string `json:"message"`
	}{msg})
}

// looksLikeUserID matches LINE's user ID format, U followed by 32 hex digits.
func looksLikeUserID(id string) bool {
	if len(id) != 33 || id[0] != 'U' {
		return false
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func looksLikeUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := fmt.Sprintf("%x", b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// NewUserID returns a random user ID in LINE's format.
func NewUserID() string { return "U" + randHex(16) }
