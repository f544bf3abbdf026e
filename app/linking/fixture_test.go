package linking

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
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

// The fixture is the real pipeline (store, contactsync) and a linking
// Service over the HubSpot and LINE doubles; tests drive the pipeline with
// ApplyPending and SyncPending and the service with RunOnce.

const (
	fxToken       = "pat-na1-linking-fixture-1234"
	fxEmailDomain = "line.example.com"
)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	st    *store.Store
	hs    *hubspottest.Server
	ln    *linetest.Server
	cfg   *config.Config
	hsc   *hubspot.Client
	conns *connections.Registry
	sync  *contactsync.Sync
	svc   *Service

	conn          *store.Connection
	secret, token string
	bot           string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{t: t, ctx: context.Background()}
	fx.hs = hubspottest.New(hubspottest.Options{Token: fxToken, PortalID: 4242, RatePer10s: -1, SearchPerSec: -1})
	t.Cleanup(fx.hs.Close)
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
	cfg.HubSpot.Token = fxToken
	cfg.HubSpot.DummyEmailDomain = fxEmailDomain
	cfg.LINE.APIBaseURL = fx.ln.URL()
	cfg.LINE.DataAPIBaseURL = fx.ln.URL()
	fx.cfg = cfg
	fx.hsc = hubspot.New(hubspot.Config{BaseURL: cfg.HubSpot.BaseURL, Token: fxToken, Tier: cfg.HubSpot.Tier, Logger: logger,
		MaxRetries: -1, Window: 200 * time.Millisecond, RequestTimeout: 10 * time.Second})
	fx.conns, err = connections.New(connections.Options{Store: st, HubSpot: fx.hsc, Config: cfg,
		LINEHTTPClient: &http.Client{Timeout: 10 * time.Second}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	fx.sync, err = contactsync.New(contactsync.Options{Connections: fx.conns, Store: st, HubSpot: fx.hsc, Config: cfg, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	fx.svc = fx.newService()

	fx.secret, fx.token = "secret-"+linetest.NewUserID()[1:], "token-"+linetest.NewUserID()[1:]
	fx.ln.AddChannel(linetest.Channel{Secret: fx.secret, Token: fx.token, DisplayName: "Shop"})
	fx.bot = fx.ln.BotUserID(fx.token)
	fx.conn, err = fx.conns.CreateConnection(fx.ctx, connections.NewConnection{Name: "Shop", ChannelSecret: fx.secret, ChannelAccessToken: fx.token})
	if err != nil || !fx.conn.PropertiesReady {
		t.Fatalf("create connection: %v", err)
	}
	if err := fx.svc.SetSettings(fx.ctx, fx.conn.ID, true, 90); err != nil {
		t.Fatalf("turn linking on: %v", err)
	}
	return fx
}

// newService is a Service over the fixture's store, as after a restart.
func (fx *fixture) newService() *Service {
	return New(Options{Store: fx.st, HubSpot: fx.hsc, Sync: fx.sync, Config: fx.cfg, Logger: slog.New(slog.DiscardHandler)})
}

// friend makes a LINE friend who follows the account and has a dummy-email
// contact; it returns the user id and that contact's id.
func (fx *fixture) friend(name string) (string, string) {
	fx.t.Helper()
	uid := linetest.NewUserID()
	fx.ln.AddFriend(fx.token, line.Profile{UserID: uid, DisplayName: name, PictureURL: "https://profile.line-scdn.net/" + uid})
	fx.deliver(linetest.FollowEvent(uid, false, time.Now()))
	f := fx.row(uid)
	if f.ContactID == "" {
		fx.t.Fatal("no dummy contact for the new friend")
	}
	return uid, f.ContactID
}

func (fx *fixture) deliver(evs ...json.RawMessage) {
	fx.t.Helper()
	body := linetest.Body(fx.bot, evs...)
	if _, err := fx.sync.Ingest(fx.ctx, fx.conn.Key, line.Sign(fx.secret, body), body); err != nil {
		fx.t.Fatalf("ingest: %v", err)
	}
	fx.pipeline()
}

// pipeline applies events and syncs until nothing is left.
func (fx *fixture) pipeline() {
	fx.t.Helper()
	if _, err := fx.sync.ApplyPending(fx.ctx); err != nil {
		fx.t.Fatalf("apply: %v", err)
	}
	if err := fx.sync.SyncPending(fx.ctx); err != nil {
		fx.t.Fatalf("sync: %v", err)
	}
}

func (fx *fixture) row(uid string) *store.Friend {
	fx.t.Helper()
	f, err := fx.st.Friend(fx.ctx, fx.conn.ID, uid)
	if err != nil {
		fx.t.Fatalf("friend %s: %v", uid, err)
	}
	return f
}

// customer adds a real customer's contact to HubSpot.
func (fx *fixture) customer(email, first string) string {
	fx.t.Helper()
	id, err := fx.hs.AddContact(map[string]string{"email": email, "firstname": first, "lastname": "Customer"})
	if err != nil {
		fx.t.Fatal(err)
	}
	return id
}

func (fx *fixture) contact(id string) map[string]string {
	fx.t.Helper()
	c, ok := fx.hs.Contact(id)
	if !ok {
		fx.t.Fatalf("contact %s is not live", id)
	}
	return c.Properties
}

// tokenFor signs a token for a contact as MakeLinkURL does.
func (fx *fixture) tokenFor(connID int64, contactID string, expires time.Time) string {
	fx.t.Helper()
	key, err := fx.st.LinkTokenKey(fx.ctx)
	if err != nil {
		fx.t.Fatal(err)
	}
	tok, err := makeToken(key, connID, contactID, expires)
	if err != nil {
		fx.t.Fatal(err)
	}
	return tok
}

func (fx *fixture) prop(key string) string {
	return contactsync.PropertyName(key, fx.conn.Serial)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func lineProfile(uid, name string) line.Profile {
	return line.Profile{UserID: uid, DisplayName: name, PictureURL: "https://profile.line-scdn.net/" + uid}
}

func connectionsNew(name string) connections.NewConnection {
	return connections.NewConnection{Name: name}
}
