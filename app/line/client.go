package line

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
)

// Defaults for Options.
const (
	DefaultAPIBaseURL     = "https://api.line.me"
	DefaultDataAPIBaseURL = "https://api-data.line.me"

	defaultTimeout        = 15 * time.Second
	defaultMaxRetries     = 3
	defaultRetryBaseDelay = 500 * time.Millisecond
	defaultMaxRetryDelay  = 30 * time.Second
)

// Options configures a Client. Only Token is required.
type Options struct {
	Token string // long-lived channel access token; never logged
	// APIBaseURL defaults to https://api.line.me; tests point it at linetest.
	APIBaseURL string
	// DataAPIBaseURL defaults to https://api-data.line.me (content download);
	// kept so configuration has one place for both hosts.
	DataAPIBaseURL string
	HTTPClient     *http.Client
	// Timeout bounds each attempt (not the whole call with its retries;
	// the caller's ctx does that). Default 15s.
	Timeout time.Duration

	// MaxRetries is how many times a 429, 5xx or transport error is retried.
	// 0 means the default (3); negative means never retry.
	MaxRetries int
	// RetryBaseDelay is the first backoff; it doubles per attempt, with
	// jitter. Default 500ms.
	RetryBaseDelay time.Duration
	// MaxRetryDelay caps one wait, including a server's Retry-After.
	// Default 30s.
	MaxRetryDelay time.Duration
	Logger        *slog.Logger
}

// Client calls the Messaging API for one channel (one linehub connection).
// It is safe for concurrent use.
type Client struct {
	token        string
	apiBase      string
	dataAPIBase  string
	hc           *http.Client
	timeout      time.Duration
	maxRetries   int
	baseDelay    time.Duration
	maxDelay     time.Duration
	log          *slog.Logger
	sleepJitter  func(d time.Duration) time.Duration
	newRetryUUID func() string
}

// NewClient checks o and returns a Client.
func NewClient(o Options) (*Client, error) {
	if strings.TrimSpace(o.Token) == "" {
		return nil, errors.New("line: channel access token is empty")
	}
	c := &Client{
		token:        o.Token,
		apiBase:      strings.TrimRight(o.APIBaseURL, "/"),
		dataAPIBase:  strings.TrimRight(o.DataAPIBaseURL, "/"),
		hc:           o.HTTPClient,
		timeout:      o.Timeout,
		maxRetries:   o.MaxRetries,
		baseDelay:    o.RetryBaseDelay,
		maxDelay:     o.MaxRetryDelay,
		log:          o.Logger,
		sleepJitter:  fullJitter,
		newRetryUUID: randomUUID,
	}
	if c.apiBase == "" {
		c.apiBase = DefaultAPIBaseURL
	}
	if c.dataAPIBase == "" {
		c.dataAPIBase = DefaultDataAPIBaseURL
	}
	for _, u := range []string{c.apiBase, c.dataAPIBase} {
		pu, err := url.ParseRequestURI(u)
		if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
			return nil, fmt.Errorf("line: invalid API base URL %q", u)
		}
	}
	if c.hc == nil {
		c.hc = &http.Client{}
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.baseDelay <= 0 {
		c.baseDelay = defaultRetryBaseDelay
	}
	if c.maxDelay <= 0 {
		c.maxDelay = defaultMaxRetryDelay
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// api builds a fresh SDK client per attempt: the SDK keeps the context in
// the client itself (WithContext mutates it), so sharing one between
// goroutines would let one call cancel another's request.
func (c *Client) api(ctx context.Context) (*messaging_api.MessagingApiAPI, error) {
	api, err := messaging_api.NewMessagingApiAPI(c.token,
		messaging_api.WithEndpoint(c.apiBase),
		messaging_api.WithHTTPClient(c.hc),
	)
	if err != nil {
		return nil, fmt.Errorf("creating messaging api client: %w", err)
	}
	return api.WithContext(ctx), nil
}

// do runs one SDK call with per-attempt timeout and retries 429, 5xx and
// transport errors with exponential backoff and jitter, honouring
// Retry-After and ctx. It returns the final response (2xx only) or an error
// wrapping *APIError / the transport error.
func (c *Client) do(ctx context.Context, op string, call func(api *messaging_api.MessagingApiAPI) (*http.Response, error)) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		res, err := c.attempt(ctx, call)
		observe(op, res)
		if err == nil {
			return res, nil
		}

		var apiErr *APIError
		retryable, wait := false, time.Duration(0)
		switch {
		case errors.As(err, &apiErr):
			retryable = apiErr.Status >= 500 ||
				(apiErr.Status == http.StatusTooManyRequests && !apiErr.isQuota())
			if retryable && res != nil {
				wait = retryAfter(res.Header, time.Now())
			}
		case ctx.Err() != nil:
			return nil, fmt.Errorf("line: %s: %w", op, ctx.Err())
		default:
			// Transport error, attempt timeout or an undecodable 2xx: LINE
			// may or may not have acted on the request. Every call here is
			// safe to repeat (reads, PUT, and pushes always carry a retry key).
			retryable = true
		}
		if !retryable || attempt >= c.maxRetries {
			return nil, fmt.Errorf("line: %s: %w", op, err)
		}
		if wait <= 0 {
			wait = c.sleepJitter(min(c.baseDelay<<min(attempt, 16), c.maxDelay))
		}
		wait = min(wait, c.maxDelay)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			// Waiting would only end in a deadline error; give the caller the
			// real cause now.
			return nil, fmt.Errorf("line: %s: giving up, deadline before next retry: %w", op, err)
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "line api call failed, retrying",
			slog.String("op", op), slog.Int("attempt", attempt+1),
			slog.Duration("wait", wait), slog.String("error", err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("line: %s: %w", op, ctx.Err())
		case <-t.C:
		}
	}
}

// attempt makes one call. On a non-2xx status it returns the response (for
// its headers) together with an *APIError.
func (c *Client) attempt(ctx context.Context, call func(api *messaging_api.MessagingApiAPI) (*http.Response, error)) (*http.Response, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	// The SDK reads (or buffers) the whole body before returning, so
	// cancelling here cannot cut a response short.
	defer cancel()
	api, err := c.api(actx)
	if err != nil {
		return nil, err
	}
	res, err := call(api)
	if res == nil {
		if err == nil {
			err = errors.New("no response")
		}
		return nil, err
	}
	if res.StatusCode/100 == 2 {
		if err != nil {
			// 2xx with a body the SDK could not decode.
			return nil, fmt.Errorf("decoding %d response: %w", res.StatusCode, err)
		}
		return res, nil
	}
	body, rerr := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	if rerr != nil {
		return nil, fmt.Errorf("reading %d response: %w", res.StatusCode, rerr)
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, newAPIError(res.StatusCode, res.Header, body)
}

// retryAfter reads a Retry-After header (seconds or HTTP date); 0 if absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return t.Sub(now)
	}
	return 0
}

// fullJitter picks a wait in [d/2, d] so that many workers hitting the same
// 429 do not come back in lockstep.
func fullJitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// Profile is a LINE user's public profile. PictureURL, StatusMessage and
// Language are empty when the user has none or has not consented.
type Profile struct {
	UserID        string
	DisplayName   string
	PictureURL    string
	StatusMessage string
	Language      string
}

// Profile fetches a user's profile. A 404 (blocked, never a friend, no
// consent) is ErrNotFriend.
func (c *Client) Profile(ctx context.Context, userID string) (Profile, error) {
	if err := checkID(userID); err != nil {
		return Profile{}, fmt.Errorf("line: get profile: %w", err)
	}
	var out *messaging_api.UserProfileResponse
	_, err := c.do(ctx, "get profile", func(api *messaging_api.MessagingApiAPI) (*http.Response, error) {
		res, body, err := api.GetProfileWithHttpInfo(userID)
		out = body
		return res, err
	})
	if err != nil {
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			return Profile{}, fmt.Errorf("%w: %w", ErrNotFriend, err)
		}
		return Profile{}, err
	}
	return Profile{
		UserID:        out.UserId,
		DisplayName:   out.DisplayName,
		PictureURL:    out.PictureUrl,
		StatusMessage: out.StatusMessage,
		Language:      out.Language,
	}, nil
}

// BotInfo is the LINE Official Account behind a channel access token.
type BotInfo struct {
	UserID         string // the "destination" of its webhooks
	BasicID        string
	PremiumID      string
	DisplayName    string
	PictureURL     string
	ChatMode       string // "chat" or "bot"
	MarkAsReadMode string // "auto" or "manual"
}

// BotInfo fetches the bot's own info; it is the cheapest way to check that a
// token works (401 → ErrUnauthorized).
func (c *Client) BotInfo(ctx context.Context) (BotInfo, error) {
	var out *messaging_api.BotInfoResponse
	_, err := c.do(ctx, "get bot info", func(api *messaging_api.MessagingApiAPI) (*http.Response, error) {
		res, body, err := api.GetBotInfoWithHttpInfo()
		out = body
		return res, err
	})
	if err != nil {
		return BotInfo{}, err
	}
	return BotInfo{
		UserID:         out.UserId,
		BasicID:        out.BasicId,
		PremiumID:      out.PremiumId,
		DisplayName:    out.DisplayName,
		PictureURL:     out.PictureUrl,
		ChatMode:       string(out.ChatMode),
		MarkAsReadMode: string(out.MarkAsReadMode),
	}, nil
}

// PushText sends one text message to a user, group or room.
//
// retryKey makes the push idempotent across retries, including retries after
// a restart: pass a stable key for the message (an outbox row id, say). A key
// that is already a UUID is sent as is; any other string is mapped to a
// name-based UUID, since LINE accepts only UUIDs. An empty key gets a random
// UUID, which still protects this call's own retries. A 409 (the key was
// already accepted) means the message went out before: it is success.
//
// LINE answers 200 even when the user has blocked the account; the message is
// then simply not delivered.
func (c *Client) PushText(ctx context.Context, to, text, retryKey string) error {
	if err := checkID(to); err != nil {
		return fmt.Errorf("line: push message: %w", err)
	}
	if strings.TrimSpace(text) == "" {
		return errors.New("line: push message: text is empty")
	}
	key := RetryKey(retryKey)
	if key == "" {
		key = c.newRetryUUID()
	}
	req := &messaging_api.PushMessageRequest{
		To:       to,
		Messages: []messaging_api.MessageInterface{&messaging_api.TextMessage{Text: text}},
	}
	_, err := c.do(ctx, "push message", func(api *messaging_api.MessagingApiAPI) (*http.Response, error) {
		res, _, err := api.PushMessageWithHttpInfo(req, key)
		return res, err
	})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict {
		c.log.LogAttrs(ctx, slog.LevelInfo, "line push already accepted for this retry key",
			slog.String("accepted_request_id", apiErr.AcceptedRequestID))
		return nil
	}
	return err
}

// SetWebhookEndpoint points the channel's webhook at endpoint (HTTPS, at most
// 500 characters; LINE answers 400 otherwise). LINE may take up to a minute
// to use the new URL.
func (c *Client) SetWebhookEndpoint(ctx context.Context, endpoint string) error {
	if strings.TrimSpace(endpoint) == "" {
		return errors.New("line: set webhook endpoint: endpoint is empty")
	}
	req := &messaging_api.SetWebhookEndpointRequest{Endpoint: endpoint}
	_, err := c.do(ctx, "set webhook endpoint", func(api *messaging_api.MessagingApiAPI) (*http.Response, error) {
		res, _, err := api.SetWebhookEndpointWithHttpInfo(req)
		return res, err
	})
	return err
}

// WebhookEndpoint is the channel's current webhook setting.
type WebhookEndpoint struct {
	Endpoint string
	Active   bool // "Use webhook" is on in the LINE Developers Console
}

// GetWebhookEndpoint reads the channel's webhook setting. No endpoint set
// (LINE's 404) is a zero WebhookEndpoint and no error.
func (c *Client) GetWebhookEndpoint(ctx context.Context) (WebhookEndpoint, error) {
	var out *messaging_api.GetWebhookEndpointResponse
	_, err := c.do(ctx, "get webhook endpoint", func(api *messaging_api.MessagingApiAPI) (*http.Response, error) {
		res, body, err := api.GetWebhookEndpointWithHttpInfo()
		out = body
		return res, err
	})
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
		return WebhookEndpoint{}, nil
	}
	if err != nil {
		return WebhookEndpoint{}, err
	}
	return WebhookEndpoint{Endpoint: out.Endpoint, Active: out.Active}, nil
}

// WebhookTest is LINE's report of one test delivery. Success false is a
// result, not an error: Reason (OK, COULD_NOT_CONNECT, REQUEST_TIMEOUT,
// ERROR_STATUS_CODE, UNCLASSIFIED) and Detail say what went wrong.
type WebhookTest struct {
	Success    bool
	Timestamp  time.Time
	StatusCode int // 0 or negative when no response came back
	Reason     string
	Detail     string
}

// TestWebhookEndpoint has LINE send an empty, signed webhook to endpoint (or
// to the configured endpoint when endpoint is ""). LINE allows 60 of these
// an hour per channel.
func (c *Client) TestWebhookEndpoint(ctx context.Context, endpoint string) (WebhookTest, error) {
	req := &messaging_api.TestWebhookEndpointRequest{Endpoint: endpoint}
	var out *messaging_api.TestWebhookEndpointResponse
	_, err := c.do(ctx, "test webhook endpoint", func(api *messaging_api.MessagingApiAPI) (*http.Response, error) {
		res, body, err := api.TestWebhookEndpointWithHttpInfo(req)
		out = body
		return res, err
	})
	if err != nil {
		return WebhookTest{}, err
	}
	return WebhookTest{
		Success:    out.Success,
		Timestamp:  out.Timestamp,
		StatusCode: int(out.StatusCode),
		Reason:     out.Reason,
		Detail:     out.Detail,
	}, nil
}

// FollowerIDs returns one page of the user IDs of friends, oldest first, and
// the token for the next page ("" on the last). limit is clamped to LINE's
// 1..1000 (default 300 when <= 0). Only verified and premium accounts may
// call this; others get ErrForbidden.
func (c *Client) FollowerIDs(ctx context.Context, start string, limit int) (ids []string, next string, err error) {
	switch {
	case limit <= 0:
		limit = 300
	case limit > 1000:
		limit = 1000
	}
	var out *messaging_api.GetFollowersResponse
	_, err = c.do(ctx, "get follower ids", func(api *messaging_api.MessagingApiAPI) (*http.Response, error) {
		res, body, err := api.GetFollowersWithHttpInfo(start, int32(limit))
		out = body
		return res, err
	})
	if err != nil {
		return nil, "", err
	}
	return out.UserIds, out.Next, nil
}

// checkID refuses IDs that could change the request path: the SDK pastes
// them into the URL unescaped. LINE IDs are a letter and 32 hex digits.
func checkID(id string) error {
	if id == "" {
		return errors.New("empty LINE id")
	}
	if len(id) > 64 {
		return errors.New("LINE id too long")
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !('a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_' || b == '-') {
			return fmt.Errorf("invalid LINE id %q", id)
		}
	}
	return nil
}

// retryKeyNamespace is a fixed namespace for name-based retry keys, so the
// same caller key always maps to the same UUID.
var retryKeyNamespace = [16]byte{0x6c, 0x69, 0x6e, 0x65, 0x68, 0x75, 0x62, 0x2d, 0x72, 0x65, 0x74, 0x72, 0x79, 0x6b, 0x65, 0x79}

// RetryKey turns a caller's idempotency key into the UUID LINE wants as
// X-Line-Retry-Key: a UUID is returned lowercased, anything else becomes a
// name-based (version 5) UUID of it, and "" stays "".
func RetryKey(key string) string {
	key = strings.TrimSpace(key)
	if key == "" {
		return ""
	}
	if isUUID(key) {
		return strings.ToLower(key)
	}
	h := sha1.New()
	h.Write(retryKeyNamespace[:])
	h.Write([]byte(key))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = (u[6] & 0x0f) | 0x50
	u[8] = (u[8] & 0x3f) | 0x80
	return formatUUID(u)
}

func randomUUID() string {
	var u [16]byte
	if _, err := crand.Read(u[:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("line: reading random bytes: %v", err))
	}
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
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
