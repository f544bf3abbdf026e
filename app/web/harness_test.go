package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/linking"
	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web"
	"linehub/app/web/ui"
)

// The harness builds the fiber app in-process (app.Test, no listener) over
// a real SQLite store in a temp dir, a real bridge, and the HubSpot and LINE
// doubles on loopback.

const (
	hubspotToken = "pat-na1-web-test-token-5150"
	portalID     = 4242
	publicURL    = "https://hub.example.com"
)

type envOpts struct {
	// HubSpotConfigured puts the token in the config file, as if the
	// wizard or PUT /api/v1/hubspot had run.
	HubSpotConfigured bool
	Tier              string
	MaxConnections    int
	HubSpotScopes     []string // nil: the token may do everything
	HubSpotTimeZone   string   // the account's time zone ("" = UTC)
	// NoPublicURL leaves public_url unset (UI tests: the wizard sets it).
	NoPublicURL bool
}

type env struct {
	t     testing.TB
	ctx   context.Context
	app   *fiber.App
	st    *store.Store
	conns *connections.Registry
	sync  *contactsync.Sync
	msg   *messaging.Service
	link  *linking.Service
	hs    *hubspottest.Server
	ln    *linetest.Server
	cfg   *config.Config

	apiToken string
	// secrets must never appear in any response body.
	secrets []string
	// vars fill {name} placeholders in scenario paths, headers and bodies.
	vars map[string]string
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), vars: map[string]string{}}
	e.hs = hubspottest.New(hubspottest.Options{Token: hubspotToken, PortalID: portalID, RatePer10s: -1, SearchPerSec: -1, Scopes: o.HubSpotScopes,
		TimeZone: o.HubSpotTimeZone})
	t.Cleanup(e.hs.Close)
	e.ln = linetest.New(linetest.Options{})
	t.Cleanup(e.ln.Close)

	logger := slog.New(slog.DiscardHandler)
	st, err := store.Open(t.TempDir(), store.Options{Synchronous: "NORMAL", Logger: logger})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st

	cfg := config.Default()
	cfg.PublicURL = publicURL
	cfg.HubSpot.BaseURL = e.hs.URL()
	cfg.HubSpot.DummyEmailDomain = "line.example.com"
	if o.HubSpotConfigured {
		cfg.HubSpot.Token = hubspotToken
	}
	if o.Tier != "" {
		cfg.HubSpot.Tier = o.Tier
	}
	cfg.Limits.MaxConnections = o.MaxConnections
	cfg.LINE.APIBaseURL = e.ln.URL()
	cfg.LINE.DataAPIBaseURL = e.ln.URL()
	e.cfg = cfg

	hsc := hubspot.New(hubspot.Config{BaseURL: cfg.HubSpot.BaseURL, Token: cfg.HubSpot.Token, Tier: cfg.HubSpot.Tier,
		Logger: logger, MaxRetries: -1, Window: 200 * time.Millisecond})
	conns, err := connections.New(connections.Options{Store: st, HubSpot: hsc, Config: cfg, Logger: logger,
		LINEHTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatalf("connections: %v", err)
	}
	pipe, err := contactsync.New(contactsync.Options{Connections: conns, Store: st, HubSpot: hsc, Config: cfg, Logger: logger})
	if err != nil {
		t.Fatalf("contactsync: %v", err)
	}
	msg, err := messaging.New(messaging.Options{Connections: conns, Sync: pipe, Store: st, HubSpot: hsc, Config: cfg, Logger: logger,
		// A note batch whose answer was a 5xx is looked up at the next
		// pass, not 10 s later: these tests step the workers by hand.
		NoteSettle: time.Nanosecond})
	if err != nil {
		t.Fatalf("messaging: %v", err)
	}
	e.conns, e.sync, e.msg = conns, pipe, msg
	e.link = linking.New(linking.Options{Store: st, HubSpot: hsc, Sync: pipe, Config: cfg, Logger: logger})
	e.app = web.New(web.Options{Connections: conns, Sync: pipe, Messaging: msg, Store: st, Config: cfg, Logger: logger, Version: "test-1.2.3", Linking: e.link})

	plain, _, err := st.CreateAPIToken(e.ctx, "tests")
	if err != nil {
		t.Fatal(err)
	}
	e.apiToken = plain
	e.secrets = append(e.secrets, hubspotToken, plain)
	return e
}

func (e *env) expand(s string) string {
	for k, v := range e.vars {
		s = strings.ReplaceAll(s, "{"+k+"}", v)
	}
	return s
}

// do sends one request through app.Test and checks what every answer must
// satisfy: no secret in the body, and errors as JSON {"error": "..."}
// (as a page on the browser's paths).
func (e *env) do(method, path string, hdr map[string]string, body []byte) (int, http.Header, []byte) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := e.app.Test(req, -1)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	e.checkNoSecrets(method, path, out)
	if resp.StatusCode >= 400 && ui.BrowserPath(req.URL.Path) && !strings.Contains(req.Header.Get("Accept"), "application/json") {
		// A person's browser gets a page, with the status.
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			e.t.Errorf("%s %s: %d error page Content-Type %q", method, path, resp.StatusCode, ct)
		}
	} else if resp.StatusCode >= 400 {
		var eb struct {
			Error *string `json:"error"`
		}
		if err := json.Unmarshal(out, &eb); err != nil || eb.Error == nil || *eb.Error == "" {
			e.t.Errorf("%s %s: %d answer is not JSON {\"error\": ...}: %q", method, path, resp.StatusCode, out)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			e.t.Errorf("%s %s: error Content-Type %q", method, path, ct)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func (e *env) checkNoSecrets(method, path string, body []byte) {
	e.t.Helper()
	for _, s := range e.secrets {
		if s != "" && bytes.Contains(body, []byte(s)) {
			e.t.Errorf("%s %s: response contains the secret %q…: %s", method, path, s[:min(6, len(s))], body)
		}
	}
}

// api calls the admin API with the test token and a JSON body (nil: none).
func (e *env) api(method, path string, in any) (int, map[string]any) {
	e.t.Helper()
	hdr := map[string]string{"Authorization": "Bearer " + e.apiToken}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			e.t.Fatal(err)
		}
		hdr["Content-Type"] = "application/json"
	}
	status, _, out := e.do(method, path, hdr, body)
	var m map[string]any
	if len(out) > 0 {
		if err := json.Unmarshal(out, &m); err != nil {
			e.t.Fatalf("%s %s: %d %q is not a JSON object", method, path, status, out)
		}
	}
	return status, m
}

// channel is a LINE channel in the double, with secrets the responses must
// never show.
type channel struct {
	secret, token, bot string
}

func (e *env) newChannel(name string) channel {
	ch := channel{secret: "chsecret" + linetest.NewUserID()[1:], token: "chtoken" + linetest.NewUserID()[1:]}
	e.ln.AddChannel(linetest.Channel{Secret: ch.secret, Token: ch.token, DisplayName: name})
	ch.bot = e.ln.BotUserID(ch.token)
	e.secrets = append(e.secrets, ch.secret, ch.token)
	return ch
}

// conn is a connection created through the API.
type conn struct {
	id     string
	serial int
	key    string
	ch     channel
}

// createConn creates a connection through the API; withToken false leaves
// out the channel access token, withSecret false the channel secret.
func (e *env) createConn(name string, withSecret, withToken bool) conn {
	e.t.Helper()
	ch := e.newChannel(name)
	in := map[string]string{"name": name, "description": "test shop"}
	if withSecret {
		in["channel_secret"] = ch.secret
	}
	if withToken {
		in["channel_access_token"] = ch.token
	}
	status, out := e.api("POST", "/api/v1/connections", in)
	if status != http.StatusCreated {
		e.t.Fatalf("create connection %q: %d %v", name, status, out)
	}
	c := conn{id: fmt.Sprint(out["id"]), serial: int(out["serial"].(float64)), ch: ch}
	wh, _ := out["webhook_url"].(string)
	key, ok := strings.CutPrefix(wh, e.cfg.PublicURL+"/webhook/")
	if !ok || key == "" {
		e.t.Fatalf("webhook_url %q", wh)
	}
	c.key = key
	e.vars["id"], e.vars["key"], e.vars["secret"], e.vars["token"] = c.id, c.key, ch.secret, ch.token
	return c
}

// webhook posts body to /webhook/{key}, signed with secret ("" = unsigned).
func (e *env) webhook(key, secret string, body []byte) int {
	e.t.Helper()
	hdr := map[string]string{"Content-Type": "application/json; charset=utf-8", "User-Agent": "LineBotWebhook/2.0"}
	if secret != "" {
		hdr["X-Line-Signature"] = line.Sign(secret, body)
	}
	status, _, _ := e.do("POST", "/webhook/"+key, hdr, body)
	return status
}

// deliver sends events to a connection as LINE would and applies them.
func (e *env) deliver(c conn, events ...json.RawMessage) {
	e.t.Helper()
	if st := e.webhook(c.key, c.ch.secret, linetest.Body(c.ch.bot, events...)); st != http.StatusOK {
		e.t.Fatalf("webhook: %d", st)
	}
	if _, err := e.sync.ApplyPending(e.ctx); err != nil {
		e.t.Fatalf("apply: %v", err)
	}
}

func (e *env) inbox(c conn) store.InboxStats {
	e.t.Helper()
	var id int64
	fmt.Sscan(c.id, &id)
	is, err := e.st.InboxStats(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return is
}
