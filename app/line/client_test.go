package line_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

const (
	testToken = "test-channel-access-token-9f8e7d"
	botUserID = "U0123456789abcdef0123456789abcdef"
)

type fixture struct {
	srv    *linetest.Server
	client *line.Client
	logs   *syncBuffer
}

// syncBuffer lets the slog handler and the test read logs concurrently.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t *testing.T, ch linetest.Channel, opts linetest.Options, mod ...func(*line.Options)) *fixture {
	t.Helper()
	srv := linetest.New(opts)
	t.Cleanup(srv.Close)
	if ch.Token == "" {
		ch.Token = testToken
	}
	if ch.Secret == "" {
		ch.Secret = testSecret
	}
	if ch.BotUserID == "" {
		ch.BotUserID = botUserID
	}
	srv.AddChannel(ch)
	logs := &syncBuffer{}
	o := line.Options{
		Token:          ch.Token,
		APIBaseURL:     srv.URL(),
		RetryBaseDelay: time.Millisecond,
		MaxRetryDelay:  5 * time.Millisecond,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, m := range mod {
		m(&o)
	}
	c, err := line.NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, client: c, logs: logs}
}

func TestNewClientValidates(t *testing.T) {
	if _, err := line.NewClient(line.Options{}); err == nil {
		t.Error("no token accepted")
	}
	if _, err := line.NewClient(line.Options{Token: "t", APIBaseURL: "api.line.me"}); err == nil {
		t.Error("relative base URL accepted")
	}
	if _, err := line.NewClient(line.Options{Token: "t"}); err != nil {
		t.Errorf("defaults rejected: %v", err)
	}
}

func TestClientProfile(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{})
	ctx := context.Background()
	friend := line.Profile{UserID: "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", DisplayName: "LINE taro",
		PictureURL: "https://obs.line-apps.com/x", StatusMessage: "Hello, LINE!", Language: "en"}
	f.srv.AddFriend(testToken, friend)

	got, err := f.client.Profile(ctx, friend.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if got != friend {
		t.Fatalf("profile = %+v, want %+v", got, friend)
	}

	f.srv.Block(testToken, friend.UserID)
	_, err = f.client.Profile(ctx, friend.UserID)
	if !errors.Is(err, line.ErrNotFriend) {
		t.Fatalf("blocked: err = %v, want ErrNotFriend", err)
	}
	var apiErr *line.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 404 || apiErr.Message != "Not found" || apiErr.RequestID == "" {
		t.Fatalf("blocked: APIError = %+v", apiErr)
	}

	if _, err := f.client.Profile(ctx, "U0000000000000000000000000000beef"); !errors.Is(err, line.ErrNotFriend) {
		t.Fatalf("never a friend: err = %v, want ErrNotFriend", err)
	}

	f.srv.Unblock(testToken, friend.UserID)
	f.srv.SetProfile(testToken, line.Profile{UserID: friend.UserID, DisplayName: "Taro (new name)"})
	got, err = f.client.Profile(ctx, friend.UserID)
	if err != nil || got.DisplayName != "Taro (new name)" {
		t.Fatalf("after unblock: %+v, %v", got, err)
	}

	// 404 is an answer, not a failure: no retries.
	if n := f.srv.ProfileCalls(testToken); n != 4 {
		t.Fatalf("ProfileCalls = %d, want 4", n)
	}

	// An ID that would change the request path never leaves the process.
	for _, bad := range []string{"", "../info", "U1/../../info", "U1?x=1", "U1#", strings.Repeat("a", 65)} {
		if _, err := f.client.Profile(ctx, bad); err == nil || errors.Is(err, line.ErrNotFriend) {
			t.Errorf("Profile(%q) err = %v, want a local validation error", bad, err)
		}
	}
	if n := f.srv.ProfileCalls(testToken); n != 4 {
		t.Fatalf("invalid IDs reached the server: ProfileCalls = %d", n)
	}
}

func TestClientBotInfo(t *testing.T) {
	f := newFixture(t, linetest.Channel{BasicID: "@216ruabc", DisplayName: "Cafe Sakura", ChatMode: "chat", PictureURL: "https://obs.line-apps.com/bot"}, linetest.Options{})
	info, err := f.client.BotInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := line.BotInfo{UserID: botUserID, BasicID: "@216ruabc", DisplayName: "Cafe Sakura",
		PictureURL: "https://obs.line-apps.com/bot", ChatMode: "chat", MarkAsReadMode: "manual"}
	if info != want {
		t.Fatalf("BotInfo = %+v, want %+v", info, want)
	}
}

func TestClientBadToken(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{})
	var requests atomic.Int32
	f.srv.SetFault(func(*http.Request) (int, string, bool) { requests.Add(1); return 0, "", false })
	bad, err := line.NewClient(line.Options{Token: "not-the-token", APIBaseURL: f.srv.URL(), RetryBaseDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.BotInfo(context.Background())
	if !errors.Is(err, line.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	var apiErr *line.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || !strings.Contains(apiErr.Message, "Authentication failed") {
		t.Fatalf("APIError = %+v", apiErr)
	}
	if strings.Contains(err.Error(), "not-the-token") {
		t.Fatal("token leaked into the error")
	}
	if n := requests.Load(); n != 1 {
		t.Fatalf("401 was retried: %d requests", n)
	}
}

func TestClientPushIdempotent(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{})
	ctx := context.Background()
	const to = "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"
	f.srv.AddFriend(testToken, line.Profile{UserID: to, DisplayName: "Taro"})

	if err := f.client.PushText(ctx, to, "Your table is ready", "outbox-42"); err != nil {
		t.Fatal(err)
	}
	// The same logical message again (a retry after a crash, say): LINE
	// answers 409, which is success, and nothing is sent twice.
	if err := f.client.PushText(ctx, to, "Your table is ready", "outbox-42"); err != nil {
		t.Fatalf("repeat with same retry key: %v", err)
	}
	if !strings.Contains(f.logs.String(), "already accepted") {
		t.Errorf("409 not logged: %s", f.logs.String())
	}
	if err := f.client.PushText(ctx, to, "Second message", "outbox-43"); err != nil {
		t.Fatal(err)
	}
	pushes := f.srv.Pushes(testToken)
	if len(pushes) != 2 {
		t.Fatalf("got %d pushes, want 2: %+v", len(pushes), pushes)
	}
	if p := pushes[0]; p.To != to || len(p.Texts) != 1 || p.Texts[0] != "Your table is ready" || !p.Delivered ||
		p.RetryKey != line.RetryKey("outbox-42") {
		t.Fatalf("push = %+v", p)
	}

	// Pushing to someone who blocked the account is a 200 at LINE.
	f.srv.Block(testToken, to)
	if err := f.client.PushText(ctx, to, "Hello?", ""); err != nil {
		t.Fatal(err)
	}
	pushes = f.srv.Pushes(testToken)
	if last := pushes[len(pushes)-1]; last.Delivered || last.RetryKey == "" {
		t.Fatalf("push to blocked user = %+v; want undelivered, with a generated retry key", last)
	}

	if err := f.client.PushText(ctx, to, "  ", "k"); err == nil {
		t.Error("empty text accepted")
	}
}

// lossyTransport forwards the first matching request but then reports a
// network error, as when LINE accepted a push and the answer was lost.
type lossyTransport struct {
	next  http.RoundTripper
	match string
	lost  atomic.Int32
}

func (l *lossyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := l.next.RoundTrip(r)
	if err == nil && strings.HasSuffix(r.URL.Path, l.match) && l.lost.Add(1) == 1 {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return res, err
}

func TestClientPushRetryAfterLostResponseSendsOnce(t *testing.T) {
	lt := &lossyTransport{next: http.DefaultTransport, match: "/v2/bot/message/push"}
	f := newFixture(t, linetest.Channel{}, linetest.Options{}, func(o *line.Options) {
		o.HTTPClient = &http.Client{Transport: lt}
	})
	if err := f.client.PushText(context.Background(), "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", "once", ""); err != nil {
		t.Fatal(err)
	}
	if n := len(f.srv.Pushes(testToken)); n != 1 {
		t.Fatalf("message sent %d times, want once", n)
	}
	if lt.lost.Load() < 2 {
		t.Fatalf("client did not retry after the lost response")
	}
}

func TestClientFollowerIDs(t *testing.T) {
	f := newFixture(t, linetest.Channel{Verified: true}, linetest.Options{})
	ctx := context.Background()
	var ids []string
	for i := 0; i < 5; i++ {
		id := linetest.NewUserID()
		ids = append(ids, id)
		f.srv.AddFriend(testToken, line.Profile{UserID: id, DisplayName: "friend"})
	}
	f.srv.Block(testToken, ids[2])

	var got []string
	start, pages := "", 0
	for {
		page, next, err := f.client.FollowerIDs(ctx, start, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		got = append(got, page...)
		if next == "" {
			break
		}
		start = next
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	want := []string{ids[0], ids[1], ids[3], ids[4]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("follower IDs = %v, want %v (blocked user left out, follow order kept)", got, want)
	}
	if pages != 2 {
		t.Fatalf("pages = %d, want 2", pages)
	}

	all, next, err := f.client.FollowerIDs(ctx, "", 0) // default limit
	if err != nil || next != "" || len(all) != 4 {
		t.Fatalf("default limit: %v %q %v", all, next, err)
	}
	if _, _, err := f.client.FollowerIDs(ctx, "garbage!", 5); err == nil {
		t.Fatal("bad continuation token accepted")
	}

	unverified := newFixture(t, linetest.Channel{Verified: false}, linetest.Options{})
	_, _, err = unverified.client.FollowerIDs(ctx, "", 100)
	if !errors.Is(err, line.ErrForbidden) {
		t.Fatalf("unverified: err = %v, want ErrForbidden", err)
	}
	var apiErr *line.APIError
	if !errors.As(err, &apiErr) || apiErr.Message != "Access to this API is not available for your account" {
		t.Fatalf("unverified: %+v", apiErr)
	}
}

// receiver is a bot server that checks requests the way linehub's webhook
// handler will.
type receiver struct {
	*httptest.Server
	status  atomic.Int32
	mu      sync.Mutex
	got     []line.Callback
	headers []http.Header
	errs    []error
}

func newReceiver(t *testing.T, secret string) *receiver {
	rv := &receiver{}
	rv.status.Store(http.StatusOK)
	rv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		cb, err := line.ParseWebhook(secret, r.Header.Get("x-line-signature"), body)
		rv.mu.Lock()
		rv.got = append(rv.got, cb)
		rv.headers = append(rv.headers, r.Header.Clone())
		rv.errs = append(rv.errs, err)
		rv.mu.Unlock()
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(int(rv.status.Load()))
	}))
	t.Cleanup(rv.Close)
	return rv
}

func TestClientWebhookSetAndTest(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{WebhookTimeout: time.Second})
	ctx := context.Background()
	rv := newReceiver(t, testSecret)
	endpoint := rv.URL + "/webhook/k3y"

	// Nothing configured yet.
	if ep, err := f.client.GetWebhookEndpoint(ctx); err != nil || ep != (line.WebhookEndpoint{}) {
		t.Fatalf("unset endpoint = %+v, %v", ep, err)
	}
	if _, err := f.client.TestWebhookEndpoint(ctx, ""); err == nil {
		t.Fatal("test without any endpoint should be LINE's 404")
	}

	if err := f.client.SetWebhookEndpoint(ctx, endpoint); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.WebhookEndpoint(testToken); got != endpoint {
		t.Fatalf("double has endpoint %q", got)
	}
	if ep, err := f.client.GetWebhookEndpoint(ctx); err != nil || ep.Endpoint != endpoint || !ep.Active {
		t.Fatalf("GetWebhookEndpoint = %+v, %v", ep, err)
	}

	res, err := f.client.TestWebhookEndpoint(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.StatusCode != 200 || res.Reason != "OK" || res.Detail != "200" || res.Timestamp.IsZero() {
		t.Fatalf("test result = %+v", res)
	}
	rv.mu.Lock()
	if len(rv.got) != 1 || rv.errs[0] != nil || len(rv.got[0].Events) != 0 || rv.got[0].Destination != botUserID {
		t.Fatalf("receiver got %+v, errs %v", rv.got, rv.errs)
	}
	if ua := rv.headers[0].Get("User-Agent"); ua != "LineBotWebhook/2.0" {
		t.Fatalf("User-Agent = %q", ua)
	}
	rv.mu.Unlock()

	// A receiver answering 500: a result, not an error.
	rv.status.Store(http.StatusInternalServerError)
	res, err = f.client.TestWebhookEndpoint(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	if res.Success || res.StatusCode != 500 || res.Reason != "ERROR_STATUS_CODE" || res.Detail != "500" {
		t.Fatalf("500 receiver: %+v", res)
	}

	// A receiver checking another secret rejects the test (signature is real).
	other := newReceiver(t, "some-other-secret")
	res, err = f.client.TestWebhookEndpoint(ctx, other.URL)
	if err != nil || res.Success || res.StatusCode != 401 {
		t.Fatalf("wrong-secret receiver: %+v, %v", res, err)
	}

	// Nobody listening.
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close()
	res, err = f.client.TestWebhookEndpoint(ctx, goneURL)
	if err != nil || res.Success || res.Reason != "COULD_NOT_CONNECT" || res.StatusCode != 0 {
		t.Fatalf("closed receiver: %+v, %v", res, err)
	}

	// LINE's URL rules: HTTPS (the double lets loopback http through), ≤500 chars.
	for _, bad := range []string{"ftp://example.com/x", "http://example.com/webhook", "https://example.com/" + strings.Repeat("a", 500), "not a url"} {
		err := f.client.SetWebhookEndpoint(ctx, bad)
		var apiErr *line.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Message != "Invalid webhook endpoint URL" {
			t.Errorf("SetWebhookEndpoint(%.40q) err = %v, want 400 Invalid webhook endpoint URL", bad, err)
		}
	}
	if got := f.srv.WebhookEndpoint(testToken); got != endpoint {
		t.Fatalf("bad URL replaced the endpoint: %q", got)
	}
}

func TestWebhookTestTimeout(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{WebhookTimeout: 50 * time.Millisecond})
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	res, err := f.client.TestWebhookEndpoint(context.Background(), slow.URL)
	if err != nil || res.Success || res.Reason != "REQUEST_TIMEOUT" {
		t.Fatalf("slow receiver: %+v, %v", res, err)
	}
}

func TestDeliverSignsLikeLINE(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{})
	rv := newReceiver(t, testSecret)
	ev := linetest.TextMessageEvent("U1", "hello", time.Now())
	status, err := f.srv.Deliver(context.Background(), rv.URL, testToken, ev, linetest.Redelivered(ev))
	if err != nil || status != 200 {
		t.Fatalf("Deliver = %d, %v", status, err)
	}
	rv.mu.Lock()
	defer rv.mu.Unlock()
	if rv.errs[0] != nil || len(rv.got[0].Events) != 2 || rv.got[0].Destination != botUserID {
		t.Fatalf("receiver: %+v %v", rv.got, rv.errs)
	}
	if h := rv.headers[0]; h.Get("User-Agent") != "LineBotWebhook/2.0" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("headers: %v", h)
	}
}

func TestClientRetries(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		failFirst  int32
		maxRetries int
		wantErr    error
		wantCalls  int32
	}{
		{"429 then ok", 429, `{"message":"The API rate limit has been exceeded. Try again later."}`, 2, 3, nil, 3},
		{"500 then ok", 500, `{"message":"Internal server error"}`, 1, 3, nil, 2},
		{"503 html then ok", 503, `<html>Service Unavailable</html>`, 3, 3, nil, 4},
		{"429 too long", 429, `{"message":"The API rate limit has been exceeded. Try again later."}`, 10, 2, line.ErrRateLimited, 3},
		{"no retries", 500, `{"message":"Internal server error"}`, 10, -1, nil, 1},
		{"monthly quota is final", 429, `{"message":"You have reached your monthly limit."}`, 10, 3, line.ErrQuotaExceeded, 1},
		{"400 is final", 400, `{"message":"The request body has 1 error(s)","details":[{"message":"May not be empty","property":"messages[0].text"}]}`, 10, 3, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, linetest.Channel{}, linetest.Options{}, func(o *line.Options) { o.MaxRetries = tt.maxRetries })
			f.srv.AddFriend(testToken, line.Profile{UserID: "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", DisplayName: "Taro"})
			var calls atomic.Int32
			f.srv.SetFault(func(r *http.Request) (int, string, bool) {
				if calls.Add(1) <= tt.failFirst {
					return tt.status, tt.body, true
				}
				return 0, "", false
			})
			_, err := f.client.Profile(context.Background(), "U4af4980629aaaaaaaaaaaaaaaaaaaaaa")
			switch {
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case tt.failFirst > int32(max(tt.maxRetries, 0)):
				var apiErr *line.APIError
				if !errors.As(err, &apiErr) || apiErr.Status != tt.status {
					t.Fatalf("err = %v, want APIError %d", err, tt.status)
				}
			default:
				if err != nil {
					t.Fatalf("err = %v, want success after retries", err)
				}
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Fatalf("requests = %d, want %d", got, tt.wantCalls)
			}
			if strings.Contains(f.logs.String(), testToken) {
				t.Fatal("token in logs")
			}
		})
	}
}

func TestClientQuotaIsAlsoRateLimited(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{})
	f.srv.SetFault(func(*http.Request) (int, string, bool) {
		return 429, `{"message":"You have reached your monthly limit."}`, true
	})
	err := f.client.PushText(context.Background(), "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", "hi", "k")
	if !errors.Is(err, line.ErrQuotaExceeded) || !errors.Is(err, line.ErrRateLimited) {
		t.Fatalf("err = %v", err)
	}
}

func TestClientRetryAfterIsCapped(t *testing.T) {
	// A Retry-After of two minutes must not stall a caller past MaxRetryDelay.
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(429)
			_, _ = io.WriteString(w, `{"message":"The API rate limit has been exceeded. Try again later."}`)
			return
		}
		_, _ = io.WriteString(w, `{"userId":"U1","basicId":"@a","displayName":"b","chatMode":"bot","markAsReadMode":"auto"}`)
	}))
	defer srv.Close()
	c, err := line.NewClient(line.Options{Token: testToken, APIBaseURL: srv.URL, MaxRetryDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.BotInfo(ctx); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 2 {
		t.Fatalf("calls = %d", calls.Load())
	}
}

func TestClientHonoursContext(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{}, func(o *line.Options) {
		o.RetryBaseDelay = time.Hour
		o.MaxRetryDelay = time.Hour
	})
	var calls atomic.Int32
	f.srv.SetFault(func(*http.Request) (int, string, bool) {
		calls.Add(1)
		return 500, `{"message":"Internal server error"}`, true
	})

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.client.BotInfo(cancelled); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: err = %v", err)
	}

	// The next backoff (an hour) ends after the deadline: give up at once
	// with the real cause rather than sleep into a timeout.
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	_, err := f.client.BotInfo(ctx)
	var apiErr *line.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 500 {
		t.Fatalf("err = %v, want the 500", err)
	}
	if ctx.Err() != nil {
		t.Fatal("client slept into the deadline")
	}

	// Cancelling while the client waits between attempts ends the wait.
	ctx3, cancel3 := context.WithCancel(context.Background())
	done := make(chan error, 1)
	before := calls.Load()
	go func() { _, err := f.client.BotInfo(ctx3); done <- err }()
	for calls.Load() == before {
		time.Sleep(time.Millisecond)
	}
	cancel3()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel during backoff: err = %v", err)
	}
}

func TestDoubleRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	f := newFixture(t, linetest.Channel{}, linetest.Options{RatePerSec: 2, Now: clock}, func(o *line.Options) { o.MaxRetries = -1 })
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if _, err := f.client.BotInfo(ctx); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	_, err := f.client.BotInfo(ctx)
	var apiErr *line.APIError
	if !errors.Is(err, line.ErrRateLimited) || !errors.As(err, &apiErr) ||
		apiErr.Message != "The API rate limit has been exceeded. Try again later." {
		t.Fatalf("third request in the same second: %v", err)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if _, err := f.client.BotInfo(ctx); err != nil {
		t.Fatalf("next second: %v", err)
	}
}

func TestDoubleMissingAuthHeader(t *testing.T) {
	f := newFixture(t, linetest.Channel{}, linetest.Options{})
	res, err := http.Get(f.srv.URL() + "/v2/bot/info")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 401 || !strings.Contains(string(body), "Authorization header required") || res.Header.Get("X-Line-Request-Id") == "" {
		t.Fatalf("%d %s %v", res.StatusCode, body, res.Header)
	}
}
