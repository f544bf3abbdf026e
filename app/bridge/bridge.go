// Package bridge turns LINE webhook events into HubSpot contact changes:
// ingest (verify, store durably, acknowledge), apply (inbox → friend
// state) and sync (friend state → batched HubSpot writes).
package bridge

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"linehub/app/config"
	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/store"
)

// Options wires a Bridge.
type Options struct {
	Store   *store.Store
	HubSpot *hubspot.Client
	Config  *config.Config
	// LINEHTTPClient is used for LINE API calls (tests pass a short timeout).
	LINEHTTPClient *http.Client
	Logger         *slog.Logger
	// NoteSettle is how long a timeline-note batch whose outcome is
	// unknown is left alone before it is looked up (default 10 s).
	NoteSettle time.Duration
}

// Bridge is the data path between LINE and HubSpot.
type Bridge struct {
	st       *store.Store
	hs       *hubspot.Client
	cfg      *config.Config
	log      *slog.Logger
	lineHTTP *http.Client
	profiles *line.ProfileCache

	applyWake chan struct{}
	syncWake  chan struct{}
	// probeWait is the sync worker's wait between probes of a down
	// HubSpot (waitProbeInterval; tests step it by hand).
	probeWait func(context.Context) bool
	// noteSettle: Options.NoteSettle or defaultNoteSettle.
	noteSettle time.Duration
	// lastIngest is when (UnixNano) a webhook last stored new events.
	lastIngest atomic.Int64

	mu    sync.Mutex
	conns map[int64]*connState // by connection id
	keys  map[string]int64     // webhook key → id
	tier  string
	// propsTried is when property creation was last retried per connection.
	propsTried map[int64]time.Time

	statusMu   sync.Mutex
	status     Status
	lineErrors map[int64]LINEError // by connection; guarded by statusMu
	// diskFull is set while the disk under the data directory is full;
	// an atomic, so that the webhook path checks it without a lock.
	diskFull atomic.Pointer[diskFull]

	msg messagingState // workflow sends, broadcasts, notes (messaging.go)
}

// connState is a connection with its secrets opened and its LINE client
// built, cached so the webhook path does no decryption or DB lookup.
type connState struct {
	conn   store.Connection
	secret string
	token  string
	client *line.Client
}

// Status is the data path's health, for the status API and dashboard.
type Status struct {
	LastSyncAt     *time.Time `json:"last_sync_at"`
	LastSyncError  string     `json:"last_sync_error"`
	LastErrorAt    *time.Time `json:"last_sync_error_at"`
	LastSyncOKAt   *time.Time `json:"last_sync_ok_at"`
	LastApplyError string     `json:"last_apply_error"`
	// HubSpotPaused is when HubSpot calls resume (RFC 3339) after the
	// portal's daily API limit was reached; empty when they are not paused.
	HubSpotPaused string `json:"hubspot_paused"`
	// StorageError says the disk holding the data directory is full:
	// webhook events are refused until space is freed.
	StorageError   string     `json:"storage_error"`
	StorageErrorAt *time.Time `json:"storage_error_at"`
	// LINEErrors are the connections whose LINE profile reads fail:
	// their events are applied without names and pictures meanwhile.
	LINEErrors []LINEError `json:"line_errors"`
	// SyncErrorCode names LastSyncError's catalogue message (ErrorCode)
	// when a person can act on it, e.g. a rejected HubSpot token.
	SyncErrorCode string `json:"sync_error_code,omitempty"`
}

type diskFull struct {
	err   string
	since time.Time
}

// SyncFailing says the last HubSpot sync round failed and none has
// succeeded since.
func (s Status) SyncFailing() bool {
	return s.LastErrorAt != nil && (s.LastSyncOKAt == nil || s.LastErrorAt.After(*s.LastSyncOKAt))
}

// LINEError is a connection's LINE API failing since a time.
type LINEError struct {
	ConnectionID int64     `json:"connection_id"`
	Error        string    `json:"error"`
	Since        time.Time `json:"since"`
}

// New builds a Bridge; Run starts its workers.
func New(o Options) (*Bridge, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LINEHTTPClient == nil {
		o.LINEHTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.NoteSettle <= 0 {
		o.NoteSettle = defaultNoteSettle
	}
	b := &Bridge{
		st: o.Store, hs: o.HubSpot, cfg: o.Config, log: o.Logger, lineHTTP: o.LINEHTTPClient,
		profiles:  line.NewProfileCache(o.Config.Sync.ProfileCacheTTL, 50000),
		applyWake: make(chan struct{}, 1), syncWake: make(chan struct{}, 1), probeWait: waitProbeInterval,
		noteSettle: o.NoteSettle,
		conns:      map[int64]*connState{}, keys: map[string]int64{}, propsTried: map[int64]time.Time{},
	}
	if err := b.loadHubSpotSettings(context.Background()); err != nil {
		return nil, err
	}
	// Before any request can claim a send: every send pending now was
	// left by a process that is gone (recover.go).
	if err := b.loadOrphans(context.Background()); err != nil {
		return nil, err
	}
	return b, nil
}

// DrainTimeout bounds how long the round in flight at a stop may take.
const DrainTimeout = 10 * time.Second

// Run drives the applier and the sync worker until ctx ends. The workers
// stop between rounds: the round in flight runs on a context that outlives
// ctx by up to DrainTimeout, so its HubSpot batch is sent and its results
// recorded instead of being cut off (which would resend it after restart).
func (b *Bridge) Run(ctx context.Context) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(DrainTimeout, cancel) })
	defer stopDrain()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); b.runApplier(ctx, work) }()
	go func() { defer wg.Done(); b.runSync(ctx, work) }()
	go func() { defer wg.Done(); b.learnAccount(ctx) }()
	wg.Wait()
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Status reports the data path's health.
func (b *Bridge) Status() Status {
	b.statusMu.Lock()
	st := b.status
	st.LINEErrors = make([]LINEError, 0, len(b.lineErrors))
	for _, e := range b.lineErrors {
		st.LINEErrors = append(st.LINEErrors, e)
	}
	b.statusMu.Unlock()
	slices.SortFunc(st.LINEErrors, func(a, b LINEError) int { return cmp.Compare(a.ConnectionID, b.ConnectionID) })
	if until := b.hs.PausedUntil(); !until.IsZero() {
		st.HubSpotPaused = until.UTC().Format(time.RFC3339)
	}
	if d := b.diskFull.Load(); d != nil {
		since := d.since
		st.StorageError, st.StorageErrorAt = "the disk holding the data directory is full ("+d.err+")", &since
	}
	return st
}

// noteStorage records what a write to the store said about the disk: a
// full disk is reported (logged once, shown until a write succeeds);
// other errors say nothing about it.
func (b *Bridge) noteStorage(err error) {
	switch {
	case err == nil:
		if b.diskFull.Load() != nil && b.diskFull.Swap(nil) != nil {
			b.log.Info("the data directory takes writes again", "data_dir", b.cfg.DataDir)
		}
	case store.IsFull(err):
		if b.diskFull.CompareAndSwap(nil, &diskFull{err: err.Error(), since: time.Now().UTC()}) {
			b.log.Error("the disk holding the data directory is full: webhook events are refused (LINE redelivers them only with webhook redelivery on) until space is freed",
				"data_dir", b.cfg.DataDir, "err", err)
		}
	}
}

// noteLINE records whether a connection's LINE profile reads work (nil)
// or fail (err), for the status and the dashboard.
func (b *Bridge) noteLINE(connID int64, err error) {
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

func (b *Bridge) setStatus(fn func(s *Status)) {
	b.statusMu.Lock()
	fn(&b.status)
	b.statusMu.Unlock()
}

// ErrUnknownConnection is returned for a webhook key no connection has.
var ErrUnknownConnection = errors.New("unknown connection")

// connByKey returns the cached state of the connection with a webhook key.
func (b *Bridge) connByKey(ctx context.Context, key string) (*connState, error) {
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

// connByID returns the cached state of an active connection.
func (b *Bridge) connByID(ctx context.Context, id int64) (*connState, error) {
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

func (b *Bridge) cache(c *store.Connection) (*connState, error) {
	secret, token, err := b.st.ConnectionSecrets(c)
	if err != nil {
		return nil, err
	}
	cs := &connState{conn: *c, secret: secret, token: token}
	if token != "" {
		cs.client, err = b.lineClient(token)
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

func (b *Bridge) lineClient(token string) (*line.Client, error) {
	cl, err := line.NewClient(line.Options{
		Token: token, APIBaseURL: b.cfg.LINE.APIBaseURL, DataAPIBaseURL: b.cfg.LINE.DataAPIBaseURL, HTTPClient: b.lineHTTP,
	})
	if err != nil {
		return nil, fmt.Errorf("LINE client: %w", err)
	}
	return cl, nil
}

// forget drops a connection from the cache after it changed.
func (b *Bridge) forget(id int64) {
	b.mu.Lock()
	if cs := b.conns[id]; cs != nil {
		delete(b.keys, cs.conn.Key)
	}
	delete(b.conns, id)
	b.mu.Unlock()
}
