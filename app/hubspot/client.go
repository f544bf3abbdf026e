// Package hubspot is a small typed client for the parts of HubSpot's
// date-versioned CRM API (2026-03) that linehub needs: account details,
// contact properties and property groups, and contacts in batches.
//
// One Client serialises all its calls through one request budget, so every
// caller in the process can share it without coordinating.
package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	// The daily limit resets at midnight in the account's time zone; a
	// minimal VPS image may have no zoneinfo, so carry it in the binary.
	_ "time/tzdata"
)

// Defaults for Config fields left at their zero value.
const (
	DefaultBaseURL         = "https://api.hubapi.com"
	DefaultMaxRetries      = 5
	DefaultWindow          = 10 * time.Second
	DefaultSearchWindow    = time.Second
	DefaultSearchPerWindow = 5
	DefaultRequestTimeout  = 30 * time.Second
	DefaultRetryBaseDelay  = 500 * time.Millisecond
	DefaultRetryMaxDelay   = 30 * time.Second
)

// HubSpot bodies we care about are at most a few hundred KiB (100 contacts);
// anything far beyond that is not an answer we can use.
const maxResponseBody = 4 << 20

// Requests left in the budget unused, against clock skew and other clients
// of the same account (HubSpot counts per account, not per client).
const budgetMargin = 2

// Config configures a Client. Only Token is needed to talk to HubSpot; the
// remaining fields have production defaults and exist for tests and tuning.
type Config struct {
	BaseURL    string       // default "https://api.hubapi.com"
	Token      string       // private-app or service-key access token
	Tier       string       // "starter" | "professional" | "enterprise" ("" → starter)
	HTTPClient *http.Client // optional
	Logger     *slog.Logger // optional
	MaxRetries int          // retries of 429/5xx/network errors; default 5, negative → none

	// Budget overrides TierBudget(Tier): requests per Window. Tests use it
	// with a short Window; while it is set SetTier does not change the budget.
	Budget int
	// Window is the rolling window of the request budget (default 10 s).
	Window time.Duration
	// SearchPerWindow search requests are allowed per SearchWindow
	// (defaults 5 per 1 s, HubSpot's search limit).
	SearchPerWindow int
	SearchWindow    time.Duration
	// RequestTimeout bounds one attempt, body included (default 30 s).
	RequestTimeout time.Duration
	// RetryBaseDelay and RetryMaxDelay shape the exponential backoff
	// (defaults 500 ms and 30 s).
	RetryBaseDelay time.Duration
	RetryMaxDelay  time.Duration
	// Now is the clock of the daily limit (default time.Now): tests move
	// it past midnight instead of waiting for it.
	Now func() time.Time
}

// Client talks to one HubSpot account. It is safe for concurrent use.
type Client struct {
	baseURL    string
	httpClient *http.Client
	log        *slog.Logger
	maxRetries int
	window     time.Duration
	reqTimeout time.Duration
	retryBase  time.Duration
	retryMax   time.Duration
	budgetSet  bool

	general *slidingWindow
	search  *slidingWindow

	mu         sync.Mutex
	token      string
	tier       string
	budget     int // from tier or Config.Budget
	headerMax  int // budget HubSpot announced in X-HubSpot-RateLimit-Max, scaled to window; 0 unknown
	loc        *time.Location
	locKnown   bool // loc came from the account, not the UTC default
	dailyUntil time.Time
	now        func() time.Time

	requests    atomic.Int64
	retries     atomic.Int64
	rateLimited atomic.Int64
	statusMu    sync.Mutex
	byStatus    map[int]int64

	traceSeq atomic.Uint64
}

// New builds a Client; it makes no request.
func New(cfg Config) *Client {
	c := &Client{
		baseURL:    strings.TrimRight(cfg.BaseURL, "/"),
		httpClient: cfg.HTTPClient,
		log:        cfg.Logger,
		maxRetries: cfg.MaxRetries,
		window:     cfg.Window,
		reqTimeout: cfg.RequestTimeout,
		retryBase:  cfg.RetryBaseDelay,
		retryMax:   cfg.RetryMaxDelay,
		token:      strings.TrimSpace(cfg.Token),
		tier:       normalizeTier(cfg.Tier),
		loc:        time.UTC,
		byStatus:   map[int]int64{},
		now:        cfg.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.baseURL == "" {
		c.baseURL = DefaultBaseURL
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("component", "hubspot")
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.window <= 0 {
		c.window = DefaultWindow
	}
	if c.reqTimeout <= 0 {
		c.reqTimeout = DefaultRequestTimeout
	}
	if c.retryBase <= 0 {
		c.retryBase = DefaultRetryBaseDelay
	}
	if c.retryMax <= 0 {
		c.retryMax = DefaultRetryMaxDelay
	}
	if c.retryMax < c.retryBase {
		c.retryMax = c.retryBase
	}
	if cfg.Budget > 0 {
		c.budget, c.budgetSet = cfg.Budget, true
	} else {
		c.budget = TierBudget(c.tier)
	}
	searchN, searchSpan := cfg.SearchPerWindow, cfg.SearchWindow
	if searchN <= 0 {
		searchN = DefaultSearchPerWindow
	}
	if searchSpan <= 0 {
		searchSpan = DefaultSearchWindow
	}
	c.general = newSlidingWindow(c.effectiveLimitLocked(), c.window)
	c.search = newSlidingWindow(searchN, searchSpan)
	return c
}

// TierBudget is HubSpot's burst limit for private apps of a tier: requests
// per 10 seconds (starter and free 100, professional and enterprise 190).
func TierBudget(tier string) int {
	switch normalizeTier(tier) {
	case "professional", "enterprise":
		return 190
	default:
		return 100
	}
}

func normalizeTier(t string) string {
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "" {
		return "starter"
	}
	return t
}

// SetToken replaces the access token for all following requests.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token = strings.TrimSpace(token)
}

// HasToken reports whether an access token is configured.
func (c *Client) HasToken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token != ""
}

// SetTier changes the tier, and with it the request budget, for all
// following requests.
func (c *Client) SetTier(tier string) {
	c.mu.Lock()
	c.tier = normalizeTier(tier)
	if !c.budgetSet {
		c.budget = TierBudget(c.tier)
	}
	limit := c.effectiveLimitLocked()
	c.mu.Unlock()
	c.general.setLimit(limit)
}

// effectiveLimitLocked is the configured budget, lowered to what HubSpot
// announces if that is less, minus the safety margin.
func (c *Client) effectiveLimitLocked() int {
	b := c.budget
	if c.headerMax > 0 && c.headerMax < b {
		b = c.headerMax
	}
	margin := budgetMargin
	if b <= 2*budgetMargin {
		margin = 1
	}
	if b-margin < 1 {
		return 1
	}
	return b - margin
}

// Stats counts what the client has sent since it was built.
type Stats struct {
	Requests    int64 // HTTP requests sent, retries included
	Retries     int64 // requests that were retries
	RateLimited int64 // 429 answers received
	ByStatus    map[int]int64
}

// Stats returns a snapshot of the request counters.
func (c *Client) Stats() Stats {
	c.statusMu.Lock()
	by := make(map[int]int64, len(c.byStatus))
	for k, v := range c.byStatus {
		by[k] = v
	}
	c.statusMu.Unlock()
	return Stats{
		Requests:    c.requests.Load(),
		Retries:     c.retries.Load(),
		RateLimited: c.rateLimited.Load(),
		ByStatus:    by,
	}
}

// SetTimeZone sets the account's time zone (an IANA name), in which
// HubSpot's daily limit resets; AccountDetails sets it too.
func (c *Client) SetTimeZone(name string) {
	if name == "" {
		return
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		c.log.Warn("unknown account time zone; daily limit resets at UTC midnight", "timeZone", name, "err", err)
		return
	}
	c.mu.Lock()
	c.loc, c.locKnown = loc, true
	c.mu.Unlock()
}

// TimeZone is the account's time zone, nil until AccountDetails or
// SetTimeZone has told it.
func (c *Client) TimeZone() *time.Location {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.locKnown {
		return nil
	}
	return c.loc
}

// response is a finished HTTP exchange; 4xx answers are returned to the
// caller as responses, not errors, so batch code can read their bodies.
type response struct {
	status int
	body   []byte
	header http.Header
}

func (r *response) ok() bool { return r.status >= 200 && r.status < 300 }

func (r *response) apiError() *APIError { return parseAPIError(r.status, r.body) }

// decode unmarshals a 2xx body.
func (r *response) decode(v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return fmt.Errorf("hubspot: decode %d response: %w", r.status, err)
	}
	return nil
}

type callOpts struct {
	search bool
	// background calls use only budget no other call is waiting for.
	background bool
	// once: the request is not idempotent and HubSpot offers no key to
	// make it so. A network error or a 5xx may come after HubSpot applied
	// it, so it is returned, not retried; only 429s (nothing applied) are.
	once bool
	// probe calls are sent once whatever the answer, bar a 429: their
	// caller asks again on its own schedule.
	probe bool
}

// failFastRetries is how often a call made with FailFast retries a 5xx or
// a network error: enough for a passing blip (about 1.5 s of backoff in
// all), not enough to sit out an outage inside the call.
const failFastRetries = 2

type failFastKey struct{}

// FailFast returns a context whose calls report HubSpot failing (5xx, no
// answer) after a short retry, as an error that errors.Is ErrUnavailable,
// instead of backing off for up to a quarter of a minute. It is for a
// caller that probes a down HubSpot itself (the sync worker). 429s are
// handled as in any call.
func FailFast(ctx context.Context) context.Context {
	return context.WithValue(ctx, failFastKey{}, true)
}

// Probe asks HubSpot, with one small read sent once, whether it answers
// at all. It returns nil when HubSpot answered; an error that errors.Is
// ErrUnavailable when it failed or did not answer; any other error (a
// rejected token, the daily limit) says HubSpot is up but will not serve
// the caller.
func (c *Client) Probe(ctx context.Context) error {
	path := accountDetailsPath()
	resp, err := c.do(ctx, http.MethodGet, path, nil, callOpts{probe: true})
	if err != nil {
		return err
	}
	return expect(resp, http.MethodGet, path)
}

// serverRetries is how often a call retries a 5xx or a network error.
func (c *Client) serverRetries(ctx context.Context, opts callOpts) int {
	switch {
	case opts.probe:
		return 0
	case ctx.Value(failFastKey{}) != nil:
		return min(c.maxRetries, failFastRetries)
	}
	return c.maxRetries
}

// do sends one logical request, retrying 429 (not DAILY), 5xx and network
// errors. It returns an error only when the call as a whole failed: no or a
// rejected token, the daily limit, retries exhausted (for 5xx and network
// errors one that errors.Is ErrUnavailable), or ctx done. Any other answer,
// 4xx included, comes back as a response.
func (c *Client) do(ctx context.Context, method, path string, in any, opts callOpts) (*response, error) {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("hubspot: encode %s %s: %w", method, path, err)
		}
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := c.checkDaily(); err != nil {
			return nil, err
		}
		token := c.currentToken()
		if token == "" {
			return nil, fmt.Errorf("%w: no access token configured", ErrUnauthorized)
		}
		if attempt > 0 {
			c.retries.Add(1)
		}
		resp, err := c.send(ctx, method, path, payload, token, opts)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if errors.Is(err, ErrDailyLimit) {
				return nil, err
			}
			if errors.Is(err, errBodyTooLarge) {
				return nil, fmt.Errorf("hubspot: %s %s: %w", method, path, err)
			}
			// A POST that failed in transit may have been applied; retrying
			// it is still right for contacts: a repeated create comes back
			// as a conflict naming the contact, a repeated update is
			// harmless. Not for opts.once.
			if opts.once {
				return nil, &unavailableError{fmt.Errorf("hubspot: %s %s: outcome unknown: %w", method, path, err)}
			}
			if attempt >= c.serverRetries(ctx, opts) {
				return nil, &unavailableError{fmt.Errorf("hubspot: %s %s failed after %d attempts: %w", method, path, attempt+1, err)}
			}
			delay := c.backoff(attempt)
			c.log.Debug("retrying after network error", "method", method, "path", path, "attempt", attempt+1, "delay", delay, "err", err)
			if err := sleepOrWake(ctx, delay, nil); err != nil {
				return nil, err
			}
			continue
		}

		switch {
		case resp.status == http.StatusUnauthorized:
			return nil, fmt.Errorf("%s %s: %w", method, path, resp.apiError())
		case resp.status == http.StatusTooManyRequests:
			c.rateLimited.Add(1)
			apiErr := resp.apiError()
			if apiErr.PolicyName == policyDaily {
				until := c.blockUntilMidnight()
				c.log.Warn("HubSpot daily API limit reached; calls suspended", "until", until.Format(time.RFC3339), "correlationId", apiErr.CorrelationID)
				return nil, fmt.Errorf("%w (until %s): %w", ErrDailyLimit, until.Format(time.RFC3339), apiErr)
			}
			if attempt >= c.maxRetries {
				return nil, fmt.Errorf("%s %s still rate limited after %d attempts: %w", method, path, attempt+1, apiErr)
			}
			delay := c.retryDelay(attempt, resp.header)
			// Everyone else sharing the budget would hit the same wall.
			c.general.pause(time.Now().Add(delay))
			c.log.Debug("rate limited; backing off", "method", method, "path", path, "policy", apiErr.PolicyName, "attempt", attempt+1, "delay", delay)
			if err := sleepOrWake(ctx, delay, nil); err != nil {
				return nil, err
			}
			continue
		case resp.status >= 500:
			if opts.once {
				return nil, fmt.Errorf("%s %s: outcome unknown: %w", method, path, resp.apiError())
			}
			if attempt >= c.serverRetries(ctx, opts) {
				return nil, fmt.Errorf("%s %s failed after %d attempts: %w", method, path, attempt+1, resp.apiError())
			}
			delay := c.retryDelay(attempt, resp.header)
			c.log.Debug("server error; retrying", "method", method, "path", path, "status", resp.status, "attempt", attempt+1, "delay", delay)
			if err := sleepOrWake(ctx, delay, nil); err != nil {
				return nil, err
			}
			continue
		}
		return resp, nil
	}
}

// send performs exactly one HTTP exchange under the rate limiters.
func (c *Client) send(ctx context.Context, method, path string, payload []byte, token string, opts callOpts) (*response, error) {
	if opts.search {
		release, err := c.search.acquire(ctx, false)
		if err != nil {
			return nil, err
		}
		defer release()
	}
	release, err := c.general.acquire(ctx, opts.background)
	if err != nil {
		return nil, err
	}
	defer release()
	// Another caller may have hit the daily limit while this one waited.
	if err := c.checkDaily(); err != nil {
		return nil, err
	}

	actx, cancel := context.WithTimeout(ctx, c.reqTimeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, method, c.baseURL+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "linehub")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	c.requests.Add(1)
	res, err := c.httpClient.Do(req)
	if err != nil {
		observe(method, path, 0)
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if len(data) > maxResponseBody {
		return nil, fmt.Errorf("%w (%d bytes)", errBodyTooLarge, maxResponseBody)
	}
	c.countStatus(res.StatusCode)
	observe(method, path, res.StatusCode)
	c.observeHeaders(res.Header, opts.search)
	return &response{status: res.StatusCode, body: data, header: res.Header}, nil
}

func (c *Client) currentToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.token
}

func (c *Client) countStatus(status int) {
	c.statusMu.Lock()
	c.byStatus[status]++
	c.statusMu.Unlock()
}

var errBodyTooLarge = errors.New("response body too large")

// observeHeaders follows what HubSpot says about the budget: a smaller
// announced maximum lowers ours, an exhausted window pauses everyone for an
// interval, an exhausted day suspends calls until midnight. The burst
// headers of a search answer are ignored: they may describe the search
// limit, which has its own limiter.
func (c *Client) observeHeaders(h http.Header, search bool) {
	if rem, ok := headerIntOK(h, "X-Hubspot-Ratelimit-Daily-Remaining"); ok && rem <= 0 {
		until := c.blockUntilMidnight()
		c.log.Warn("HubSpot daily API budget used up; calls suspended", "until", until.Format(time.RFC3339))
	}
	if search {
		return
	}
	interval := headerInt(h, "X-Hubspot-Ratelimit-Interval-Milliseconds")
	if maxN := headerInt(h, "X-Hubspot-Ratelimit-Max"); maxN > 0 {
		scaled := maxN
		if interval > 0 {
			scaled = int(int64(maxN) * c.window.Milliseconds() / int64(interval))
		}
		c.mu.Lock()
		changed := scaled != c.headerMax
		c.headerMax = scaled
		limit := c.effectiveLimitLocked()
		c.mu.Unlock()
		if changed {
			c.general.setLimit(limit)
		}
	}
	if rem, ok := headerIntOK(h, "X-Hubspot-Ratelimit-Remaining"); ok && rem <= 0 {
		wait := time.Duration(interval) * time.Millisecond
		if wait <= 0 {
			wait = c.window
		}
		c.general.pause(time.Now().Add(wait))
	}
}

func headerInt(h http.Header, name string) int {
	n, _ := headerIntOK(h, name)
	return n
}

func headerIntOK(h http.Header, name string) (int, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, false
	}
	return n, true
}

// blockUntilMidnight suspends calls until the next midnight in the account's
// time zone (UTC until AccountDetails told us the zone).
func (c *Client) blockUntilMidnight() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now().In(c.loc)
	until := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, c.loc)
	if until.After(c.dailyUntil) {
		c.dailyUntil = until
	}
	return c.dailyUntil
}

// PausedUntil is when calls resume after HubSpot's daily limit was reached,
// or zero when they are not suspended.
func (c *Client) PausedUntil() time.Time {
	c.mu.Lock()
	until := c.dailyUntil
	c.mu.Unlock()
	if !c.now().Before(until) {
		return time.Time{}
	}
	return until
}

func (c *Client) checkDaily() error {
	c.mu.Lock()
	until := c.dailyUntil
	c.mu.Unlock()
	if until.IsZero() || !c.now().Before(until) {
		return nil
	}
	return fmt.Errorf("%w: calls suspended until %s", ErrDailyLimit, until.Format(time.RFC3339))
}

// retryDelay honours Retry-After and otherwise backs off exponentially.
func (c *Client) retryDelay(attempt int, h http.Header) time.Duration {
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if secs, err := strconv.Atoi(ra); err == nil && secs >= 0 {
			return min(time.Duration(secs)*time.Second, c.retryMax)
		}
		if t, err := http.ParseTime(ra); err == nil {
			return min(max(time.Until(t), 0), c.retryMax)
		}
	}
	return c.backoff(attempt)
}

// backoff is exponential with "equal jitter": half fixed, half random, so
// clients that failed together do not retry together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryBase
	for i := 0; i < attempt && d < c.retryMax; i++ {
		d *= 2
	}
	d = min(d, c.retryMax)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// expect turns a non-2xx response into an error for calls that have no use
// for partial answers.
func expect(resp *response, method, path string) error {
	if resp.ok() {
		return nil
	}
	return fmt.Errorf("%s %s: %w", method, path, resp.apiError())
}

// nextTrace returns a unique objectWriteTraceId: HubSpot echoes it in results
// and per-input errors, which maps answers back to inputs without guessing.
func (c *Client) nextTrace() string {
	return "lh" + strconv.FormatUint(c.traceSeq.Add(1), 36)
}
