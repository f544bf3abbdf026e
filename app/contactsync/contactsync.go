package contactsync

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/store"
)

// Options wires a Sync.
type Options struct {
	// Connections is the registry the pipeline reads connections from;
	// when nil, New builds one over Store, HubSpot and Config.
	Connections *connections.Registry
	Store       *store.Store
	HubSpot     *hubspot.Client
	Config      *config.Config
	// LINEHTTPClient is used for LINE API calls when New builds the
	// registry (tests pass a short timeout).
	LINEHTTPClient *http.Client
	Logger         *slog.Logger
}

// Sync is the data path from LINE to HubSpot.
type Sync struct {
	conns    *connections.Registry
	st       *store.Store
	hs       *hubspot.Client
	cfg      *config.Config
	log      *slog.Logger
	profiles *line.ProfileCache

	applyWake chan struct{}
	syncWake  chan struct{}
	// hubspotWake wakes the worker of the HubSpot app's webhook events.
	hubspotWake chan struct{}
	// contactMu is held by a sync round and by the application of HubSpot
	// events, which changes the contact ids a round writes to.
	contactMu sync.Mutex
	// probeWait is the sync worker's wait between probes of a down
	// HubSpot (waitProbeInterval; tests step it by hand).
	probeWait func(context.Context) bool
	// lastIngest is when (UnixNano) a webhook last stored new events.
	lastIngest atomic.Int64

	// unlinked, when set, says a friend was unlinked by hand from this
	// contact (package linking): a new contact for the friend that finds
	// its email there is not adopted (see createContacts).
	unlinked func(ctx context.Context, connID int64, userID, contactID string) bool

	mu sync.Mutex
	// propsTried is when property creation was last retried per connection.
	propsTried map[int64]time.Time

	statusMu sync.Mutex
	status   Status
	// diskFull is set while the disk under the data directory is full;
	// an atomic, so that the webhook path checks it without a lock.
	diskFull atomic.Pointer[diskFull]
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
	LINEErrors []connections.LINEError `json:"line_errors"`
	// SyncErrorCode names LastSyncError's catalogue message
	// (connections.ErrorCode) when a person can act on it, e.g. a rejected
	// HubSpot token.
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

// New builds a Sync and hooks it to its registry; Run starts its workers.
func New(o Options) (*Sync, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Connections == nil {
		conns, err := connections.New(connections.Options{
			Store: o.Store, HubSpot: o.HubSpot, Config: o.Config, LINEHTTPClient: o.LINEHTTPClient, Logger: o.Logger,
		})
		if err != nil {
			return nil, err
		}
		o.Connections = conns
	}
	b := &Sync{
		conns: o.Connections, st: o.Store, hs: o.HubSpot, cfg: o.Config, log: o.Logger,
		profiles:  line.NewProfileCache(o.Config.Sync.ProfileCacheTTL, 50000),
		applyWake: make(chan struct{}, 1), syncWake: make(chan struct{}, 1), hubspotWake: make(chan struct{}, 1), probeWait: waitProbeInterval,
		propsTried: map[int64]time.Time{},
	}
	o.Connections.SetHooks(connections.Hooks{HubSpotReady: b.hubSpotReady, EnsureProperties: b.EnsureProperties})
	return b, nil
}

// hubSpotReady runs when a HubSpot token was saved, HubSpot having just
// answered it: a sync failure from the old token (or from HubSpot out of
// reach) is over, not something to show until the next round, which may
// be minutes away in its backoff; and friends waiting for HubSpot go now.
func (b *Sync) hubSpotReady() {
	b.setStatus(func(s *Status) {
		switch s.SyncErrorCode {
		case connections.CodeHubSpotTokenRejected, connections.CodeHubSpotNoScope, connections.CodeHubSpotUnreachable:
			if s.SyncFailing() {
				s.LastSyncError, s.LastErrorAt, s.SyncErrorCode = "", nil, ""
			}
		}
	})
	b.Wake()
}

// DrainTimeout bounds how long the round in flight at a stop may take.
const DrainTimeout = 10 * time.Second

// Run drives the applier, the sync worker and the worker of the HubSpot
// app's webhook events until ctx ends. The workers
// stop between rounds: the round in flight runs on a context that outlives
// ctx by up to DrainTimeout, so its HubSpot batch is sent and its results
// recorded instead of being cut off (which would resend it after restart).
func (b *Sync) Run(ctx context.Context) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(DrainTimeout, cancel) })
	defer stopDrain()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); b.runApplier(ctx, work) }()
	go func() { defer wg.Done(); b.runSync(ctx, work) }()
	go func() { defer wg.Done(); b.runHubSpotEvents(ctx, work) }()
	wg.Wait()
}

// Wake tells the sync worker that friends changed outside the pipeline
// (a sent message marked a friend answered) or that HubSpot can be
// written again, so it does not wait for its next round.
func (b *Sync) Wake() { wake(b.syncWake) }

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Status reports the data path's health.
func (b *Sync) Status() Status {
	b.statusMu.Lock()
	st := b.status
	b.statusMu.Unlock()
	st.LINEErrors = b.conns.LINEErrors()
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
func (b *Sync) noteStorage(err error) {
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

func (b *Sync) setStatus(fn func(s *Status)) {
	b.statusMu.Lock()
	fn(&b.status)
	b.statusMu.Unlock()
}
