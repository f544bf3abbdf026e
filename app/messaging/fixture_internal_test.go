package messaging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
	"linehub/app/store"
)

// The fixture is a messaging Service, with the contact sync it stands on,
// over a real SQLite store in a temp dir, talking over loopback to the
// HubSpot and LINE doubles. Tests drive the sync with ApplyPending and
// SyncPending, and the sends with SendPending, so nothing depends on timing.

const (
	fxHubSpotToken = "pat-na1-bridge-fixture-7777"
	fxEmailDomain  = "line.example.com"
)

// hsRequest is one request the HubSpot double received.
type hsRequest struct {
	Method, Path string
	Body         []byte
}

type fixture struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
	hs  *hubspottest.Server
	ln  *linetest.Server
	cfg *config.Config
	b   *Service
	// conns and pipe are the registry and contact sync b stands on.
	conns *connections.Registry
	pipe  *contactsync.Sync

	mu    sync.Mutex
	log   []hsRequest
	fault func(r *http.Request, body []byte) (int, string, bool)
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, hubspottest.Options{}) }

func newFixtureWith(t *testing.T, o hubspottest.Options) *fixture {
	t.Helper()
	fx := &fixture{t: t, ctx: context.Background()}
	o.Token, o.PortalID, o.RatePer10s, o.SearchPerSec = fxHubSpotToken, 4242, -1, -1
	fx.hs = hubspottest.New(o)
	t.Cleanup(fx.hs.Close)
	// Every request is logged (body included) before an optional fault.
	fx.hs.SetFault(func(r *http.Request) (int, string, bool) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		fx.mu.Lock()
		fx.log = append(fx.log, hsRequest{Method: r.Method, Path: r.URL.Path, Body: body})
		f := fx.fault
		fx.mu.Unlock()
		if f != nil {
			return f(r, body)
		}
		return 0, "", false
	})
	fx.ln = linetest.New(linetest.Options{})
	t.Cleanup(fx.ln.Close)

	logger := slog.New(slog.DiscardHandler)
	st, err := store.Open(t.TempDir(), store.Options{Synchronous: "NORMAL", Logger: logger})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	fx.st = st

	cfg := config.Default()
	cfg.PublicURL = "https://hub.example.com"
	cfg.HubSpot.BaseURL = fx.hs.URL()
	cfg.HubSpot.Token = fxHubSpotToken
	cfg.HubSpot.DummyEmailDomain = fxEmailDomain
	cfg.LINE.APIBaseURL = fx.ln.URL()
	cfg.LINE.DataAPIBaseURL = fx.ln.URL()
	cfg.Sync.Interval = 10 * time.Millisecond
	fx.cfg = cfg

	hsc := hubspot.New(hubspot.Config{
		BaseURL: cfg.HubSpot.BaseURL, Token: cfg.HubSpot.Token, Tier: cfg.HubSpot.Tier, Logger: logger,
		MaxRetries: -1, Window: 200 * time.Millisecond, RequestTimeout: 10 * time.Second,
	})
	conns, err := connections.New(connections.Options{Store: st, HubSpot: hsc, Config: cfg, LINEHTTPClient: &http.Client{Timeout: 10 * time.Second}, Logger: logger})
	if err != nil {
		t.Fatalf("connections: %v", err)
	}
	pipe, err := contactsync.New(contactsync.Options{Connections: conns, Store: st, HubSpot: hsc, Config: cfg, Logger: logger})
	if err != nil {
		t.Fatalf("contactsync: %v", err)
	}
	b, err := New(Options{Connections: conns, Sync: pipe, Store: st, HubSpot: hsc, Config: cfg, Logger: logger})
	if err != nil {
		t.Fatalf("messaging: %v", err)
	}
	fx.conns, fx.pipe = conns, pipe
	fx.b = b
	return fx
}

// requests returns the logged HubSpot requests whose path contains sub, and
// forgets the whole log.
func (fx *fixture) takeRequests(sub string) []hsRequest {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	var out []hsRequest
	for _, r := range fx.log {
		if strings.Contains(r.Path, sub) {
			out = append(out, r)
		}
	}
	fx.log = nil
	return out
}

// fxConn is a connection with its LINE channel in the double.
type fxConn struct {
	conn          *store.Connection
	secret, token string
	bot           string
}

func (fx *fixture) connect(name string) fxConn {
	fx.t.Helper()
	c := fxConn{secret: "secret-" + linetest.NewUserID()[1:], token: "token-" + linetest.NewUserID()[1:]}
	fx.ln.AddChannel(linetest.Channel{Secret: c.secret, Token: c.token, DisplayName: name})
	c.bot = fx.ln.BotUserID(c.token)
	conn, err := fx.conns.CreateConnection(fx.ctx, connections.NewConnection{Name: name, ChannelSecret: c.secret, ChannelAccessToken: c.token})
	if err != nil {
		fx.t.Fatalf("create connection: %v", err)
	}
	if !conn.PropertiesReady {
		fx.t.Fatalf("properties not ready: %s", conn.LastError)
	}
	c.conn = conn
	return c
}

// friend adds a LINE user who follows c's account and returns their id.
func (fx *fixture) friend(c fxConn, name string) string {
	uid := linetest.NewUserID()
	fx.ln.AddFriend(c.token, line.Profile{UserID: uid, DisplayName: name, PictureURL: "https://profile.line-scdn.net/" + uid})
	return uid
}

// deliver ingests one signed webhook request with events, as LINE sends it.
func (fx *fixture) deliver(c fxConn, events ...json.RawMessage) contactsync.IngestResult {
	fx.t.Helper()
	body := linetest.Body(c.bot, events...)
	res, err := fx.pipe.Ingest(fx.ctx, c.conn.Key, line.Sign(c.secret, body), body)
	if err != nil {
		fx.t.Fatalf("ingest: %v", err)
	}
	return res
}

func (fx *fixture) apply() {
	fx.t.Helper()
	if _, err := fx.pipe.ApplyPending(fx.ctx); err != nil {
		fx.t.Fatalf("apply: %v", err)
	}
}

func (fx *fixture) sync() {
	fx.t.Helper()
	if err := fx.pipe.SyncPending(fx.ctx); err != nil {
		fx.t.Fatalf("sync: %v", err)
	}
}

func (fx *fixture) friendRow(c fxConn, uid string) *store.Friend {
	fx.t.Helper()
	f, err := fx.st.Friend(fx.ctx, c.conn.ID, uid)
	if err != nil {
		fx.t.Fatalf("friend %s: %v", uid, err)
	}
	return f
}

func emailOf(uid string) string { return strings.ToLower(uid) + "@" + fxEmailDomain }

func (fx *fixture) contact(uid string) (hubspottest.Contact, bool) {
	return fx.hs.ContactByEmail(emailOf(uid))
}

// batchInputs decodes the inputs of a logged batch request.
func batchInputs(t *testing.T, r hsRequest) []struct {
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
} {
	t.Helper()
	var in struct {
		Inputs []struct {
			ID         string            `json:"id"`
			Properties map[string]string `json:"properties"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(r.Body, &in); err != nil {
		t.Fatalf("decode %s body: %v", r.Path, err)
	}
	return in.Inputs
}

// prop reads a LINE property of the contact of uid, by unsuffixed key.
func (fx *fixture) prop(uid, key string, serial int) string {
	fx.t.Helper()
	ct, ok := fx.contact(uid)
	if !ok {
		fx.t.Fatalf("no contact for %s", uid)
	}
	return ct.Properties[fmt.Sprintf("%s_%d", key, serial)]
}
