package bridge

import (
	"context"
	"sync"
	"time"
)

// messagingState is the Bridge's state for sending: the wake-up channel of
// the worker that runs broadcasts and writes timeline notes.
type messagingState struct {
	once sync.Once
	wake chan struct{}

	mu        sync.Mutex
	audiences map[audienceKey]*audience // recent list reads (broadcast.go)

	recMu   sync.Mutex
	orphans map[int64]time.Time // sends an earlier process left pending → next attempt (recover.go)
}

func (b *Bridge) messagingWake() chan struct{} {
	b.msg.once.Do(func() { b.msg.wake = make(chan struct{}, 1) })
	return b.msg.wake
}

// messagingIdle is how often the worker looks for due broadcasts and
// pending notes when nothing woke it.
const messagingIdle = 2 * time.Second

// RunMessaging settles the sends a crash interrupted (recover.go), runs
// broadcasts (scheduled, and any a restart interrupted) and logs chat
// messages as HubSpot notes, until ctx ends.
func (b *Bridge) RunMessaging(ctx context.Context) {
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
func (b *Bridge) SendPending(ctx context.Context) {
	b.recoverSends(ctx)
	b.runBroadcasts(ctx)
	b.flushNotes(ctx)
}
