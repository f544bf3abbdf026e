// Package messaging is linehub's outbound side: messages sent to LINE
// friends (SendMessages, replies from the chat view, HubSpot workflow
// actions, broadcasts to HubSpot lists), with their templates, the chat
// view's conversations, the timeline notes that log chat messages in
// HubSpot, and the settling of sends a crash left pending.
//
// Every push and reply is stored with its retry key before LINE is called
// (outbound.go); a sent message marks the friend answered, which the
// contact sync (contactsync) then writes to HubSpot.
package messaging

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/store"
)

// Options wires a Service.
type Options struct {
	Connections *connections.Registry
	// Sync is told when a sent message changed a friend.
	Sync    *contactsync.Sync
	Store   *store.Store
	HubSpot *hubspot.Client
	Config  *config.Config
	Logger  *slog.Logger
	// NoteSettle is how long a timeline-note batch whose outcome is
	// unknown is left alone before it is looked up (default 10 s).
	NoteSettle time.Duration
}

// Service sends messages to LINE friends and logs chats in HubSpot.
type Service struct {
	conns *connections.Registry
	sync  *contactsync.Sync
	st    *store.Store
	hs    *hubspot.Client
	cfg   *config.Config
	log   *slog.Logger
	// noteSettle: Options.NoteSettle or defaultNoteSettle.
	noteSettle time.Duration

	msg messagingState
}

// New builds a Service and takes over the sends an earlier process left
// pending; Run starts its worker.
func New(o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.NoteSettle <= 0 {
		o.NoteSettle = defaultNoteSettle
	}
	b := &Service{
		conns: o.Connections, sync: o.Sync, st: o.Store, hs: o.HubSpot, cfg: o.Config, log: o.Logger,
		noteSettle: o.NoteSettle,
	}
	// Before any request can claim a send: every send pending now was
	// left by a process that is gone (recover.go).
	if err := b.loadOrphans(context.Background()); err != nil {
		return nil, err
	}
	return b, nil
}

// messagingState is the Service's state for sending: the wake-up channel of
// the worker that runs broadcasts and writes timeline notes.
type messagingState struct {
	once sync.Once
	wake chan struct{}

	mu        sync.Mutex
	audiences map[audienceKey]*audience // recent list reads (broadcast.go)

	recMu   sync.Mutex
	orphans map[int64]time.Time // sends an earlier process left pending → next attempt (recover.go)
}

func (b *Service) messagingWake() chan struct{} {
	b.msg.once.Do(func() { b.msg.wake = make(chan struct{}, 1) })
	return b.msg.wake
}

// messagingIdle is how often the worker looks for due broadcasts and
// pending notes when nothing woke it.
const messagingIdle = 2 * time.Second

// Run settles the sends a crash interrupted (recover.go), runs broadcasts
// (scheduled, and any a restart interrupted) and logs chat messages as
// HubSpot notes, until ctx ends.
func (b *Service) Run(ctx context.Context) {
	wakeCh := b.messagingWake()
	for {
		b.recoverSends(ctx)
		b.runBroadcasts(ctx)
		if ctx.Err() != nil {
			return
		}
		b.flushNotes(ctx)
		select {
		case <-ctx.Done():
			return
		case <-wakeCh:
		case <-time.After(messagingIdle):
		}
	}
}

// SendPending does one pass of the messaging worker now: interrupted
// sends, due broadcasts, then pending notes (tests and a manual "run now"
// use it).
func (b *Service) SendPending(ctx context.Context) {
	b.recoverSends(ctx)
	b.runBroadcasts(ctx)
	b.flushNotes(ctx)
}

// PruneSends deletes finished sends: those are kept at least a day past
// HubSpot's retry window, as their idempotency keys answer HubSpot's
// retries. Chat messages older than the chat retention go too (unless
// kept forever).
func (b *Service) PruneSends(ctx context.Context) (int64, error) {
	now := time.Now().UTC()
	keep := max(b.cfg.Jobs.InboxRetention, retryWindow+24*time.Hour)
	n, err := b.st.PruneSends(ctx, now.Add(-keep))
	if err != nil || b.cfg.Jobs.ChatRetention == 0 {
		return n, err
	}
	m, err := b.st.PruneChat(ctx, now.Add(-b.cfg.Jobs.ChatRetention))
	return n + m, err
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
