// Package connections holds what every other part of linehub asks about a
// LINE connection: the registry of connections with their secrets opened
// and LINE clients built (cached for the webhook path), connection
// create/update/delete, the HubSpot account settings (token, tier, portal),
// the health of each side (CheckHubSpot, CheckLINE, failing LINE reads),
// and InputError with the codes the dashboard translates.
//
// It knows nothing of the sync pipeline above it (contactsync): what that
// pipeline must do when a connection or the HubSpot token changes reaches
// it through Hooks.
package connections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"linehub/app/config"
	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/store"
)

// Options wires a Registry.
type Options struct {
	Store   *store.Store
	HubSpot *hubspot.Client
	Config  *config.Config
	// LINEHTTPClient is used for LINE API calls (tests pass a short timeout).
	LINEHTTPClient *http.Client
	Logger         *slog.Logger
}

// Registry is the set of connections and the HubSpot account they sync to.
type Registry struct {
	st       *store.Store
	hs       *hubspot.Client
	cfg      *config.Config
	log      *slog.Logger
	lineHTTP *http.Client

	mu    sync.Mutex
	conns map[int64]*Conn  // by connection id
	keys  map[string]int64 // webhook key → id
	tier  string
	hooks Hooks

	statusMu   sync.Mutex
	lineErrors map[int64]LINEError // by connection; guarded by statusMu
}

// Hooks are what the sync pipeline does when the registry changes under it.
type Hooks struct {
	// HubSpotReady is called when a HubSpot token was saved: friends
	// waiting for HubSpot can be synced.
	HubSpotReady func()
	// EnsureProperties creates a new connection's properties in HubSpot.
	EnsureProperties func(ctx context.Context, id int64) error
}

// SetHooks sets the hooks; call it before the registry serves requests.
func (b *Registry) SetHooks(h Hooks) {
	b.mu.Lock()
	b.hooks = h
	b.mu.Unlock()
}

func (b *Registry) hook() Hooks {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hooks
}

// Conn is a connection with its secrets opened and its LINE client built,
// cached so the webhook path does no decryption or DB lookup.
type Conn struct {
	Conn   store.Connection
	Secret string
	Token  string
	// Client is nil while the connection has no channel access token.
	Client *line.Client
}

// LINEError is a connection's LINE API failing since a time.
type LINEError struct {
	ConnectionID int64     `json:"connection_id"`
	Error        string    `json:"error"`
	Since        time.Time `json:"since"`
}

// New builds a Registry and applies the HubSpot settings saved earlier.
func New(o Options) (*Registry, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LINEHTTPClient == nil {
		o.LINEHTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	b := &Registry{
		st: o.Store, hs: o.HubSpot, cfg: o.Config, log: o.Logger, lineHTTP: o.LINEHTTPClient,
		conns: map[int64]*Conn{}, keys: map[string]int64{},
	}
	if err := b.loadHubSpotSettings(context.Background()); err != nil {
		return nil, err
	}
	return b, nil
}

// Run learns the HubSpot account's time zone and portal id (health.go)
// until it has them or ctx ends.
func (b *Registry) Run(ctx context.Context) {
	b.learnAccount(ctx)
}

// NoteLINE records whether a connection's LINE profile reads work (nil)
// or fail (err), for the status and the dashboard.
func (b *Registry) NoteLINE(connID int64, err error) {
	b.statusMu.Lock()
	defer b.statusMu.Unlock()
	if err == nil {
		delete(b.lineErrors, connID)
		return
	}
	if b.lineErrors == nil {
		b.lineErrors = map[int64]LINEError{}
	}
	e, ok := b.lineErrors[connID]
	if !ok {
		e = LINEError{ConnectionID: connID, Since: time.Now().UTC()}
	}
	e.Error = err.Error()
	b.lineErrors[connID] = e
}

// LINEErrors lists the connections whose LINE profile reads fail, by id.
func (b *Registry) LINEErrors() []LINEError {
	b.statusMu.Lock()
	out := make([]LINEError, 0, len(b.lineErrors))
	for _, e := range b.lineErrors {
		out = append(out, e)
	}
	b.statusMu.Unlock()
	slices.SortFunc(out, func(a, b LINEError) int { return cmp.Compare(a.ConnectionID, b.ConnectionID) })
	return out
}

// ErrUnknownConnection is returned for a webhook key no connection has.
var ErrUnknownConnection = errors.New("unknown connection")

// ByKey returns the cached state of the connection with a webhook key.
func (b *Registry) ByKey(ctx context.Context, key string) (*Conn, error) {
	b.mu.Lock()
	id, ok := b.keys[key]
	cs := b.conns[id]
	b.mu.Unlock()
	if ok && cs != nil {
		return cs, nil
	}
	c, err := b.st.ConnectionByKey(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownConnection
	}
	if err != nil {
		return nil, err
	}
	return b.cache(c)
}

// ByID returns the cached state of an active connection.
func (b *Registry) ByID(ctx context.Context, id int64) (*Conn, error) {
	b.mu.Lock()
	cs := b.conns[id]
	b.mu.Unlock()
	if cs != nil {
		return cs, nil
	}
	c, err := b.st.Connection(ctx, id)
	if err != nil {
		return nil, err
	}
	return b.cache(c)
}

func (b *Registry) cache(c *store.Connection) (*Conn, error) {
	secret, token, err := b.st.ConnectionSecrets(c)
	if err != nil {
		return nil, err
	}
	cs := &Conn{Conn: *c, Secret: secret, Token: token}
	if token != "" {
		cs.Client, err = b.lineClient(token)
		if err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	b.conns[c.ID] = cs
	b.keys[c.Key] = c.ID
	b.mu.Unlock()
	return cs, nil
}

func (b *Registry) lineClient(token string) (*line.Client, error) {
	cl, err := line.NewClient(line.Options{
		Token: token, APIBaseURL: b.cfg.LINE.APIBaseURL, DataAPIBaseURL: b.cfg.LINE.DataAPIBaseURL, HTTPClient: b.lineHTTP,
	})
	if err != nil {
		return nil, fmt.Errorf("LINE client: %w", err)
	}
	return cl, nil
}

// Forget drops a connection from the cache after it changed.
func (b *Registry) Forget(id int64) {
	b.mu.Lock()
	if cs := b.conns[id]; cs != nil {
		delete(b.keys, cs.Conn.Key)
	}
	delete(b.conns, id)
	b.mu.Unlock()
}
