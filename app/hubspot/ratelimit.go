package hubspot

import (
	"context"
	"sync"
	"time"
)

// slidingWindow admits at most limit requests in any rolling span.
//
// HubSpot counts a request when it arrives, which is somewhere between the
// moment we send it and the moment its answer is back. So a slot is held from
// the send until span after the answer: whatever HubSpot's clock said, the
// request cannot be in the same window as one sent after the slot expires.
// That is stricter than counting send times and, unlike a token bucket, never
// lets two windows' worth of requests through around a window edge.
type slidingWindow struct {
	mu         sync.Mutex
	limit      int
	span       time.Duration
	slots      []*slot
	pauseUntil time.Time
	// urgent counts callers of acquire that are not background: while
	// any waits, background callers get no slot.
	urgent int
	// wake is closed (and replaced) whenever a slot is released, the limit
	// changes, a pause is shortened or the last urgent caller got its
	// slot, so waiters re-evaluate.
	wake chan struct{}
}

type slot struct {
	done bool
	end  time.Time
}

func newSlidingWindow(limit int, span time.Duration) *slidingWindow {
	if limit < 1 {
		limit = 1
	}
	return &slidingWindow{limit: limit, span: span, wake: make(chan struct{})}
}

func (w *slidingWindow) setLimit(limit int) {
	if limit < 1 {
		limit = 1
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if limit != w.limit {
		w.limit = limit
		w.signalLocked()
	}
}

func (w *slidingWindow) currentLimit() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.limit
}

// pause stops admissions until t (never shortens an existing pause).
func (w *slidingWindow) pause(t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if t.After(w.pauseUntil) {
		w.pauseUntil = t
	}
}

func (w *slidingWindow) signalLocked() {
	close(w.wake)
	w.wake = make(chan struct{})
}

// acquire blocks until a request may be sent and returns the function that
// must be called once its answer (or failure) is in. A background request
// waits while any other waits too, so it only ever takes budget that
// nothing else wants.
func (w *slidingWindow) acquire(ctx context.Context, background bool) (release func(), err error) {
	if !background {
		w.mu.Lock()
		w.urgent++
		w.mu.Unlock()
		defer func() {
			w.mu.Lock()
			if w.urgent--; w.urgent == 0 {
				w.signalLocked()
			}
			w.mu.Unlock()
		}()
	}
	for {
		w.mu.Lock()
		now := time.Now()
		w.pruneLocked(now)
		if !now.Before(w.pauseUntil) && len(w.slots) < w.limit && (!background || w.urgent == 0) {
			s := &slot{}
			w.slots = append(w.slots, s)
			w.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					w.mu.Lock()
					s.done, s.end = true, time.Now()
					w.signalLocked()
					w.mu.Unlock()
				})
			}, nil
		}
		wait := w.waitLocked(now)
		wake := w.wake
		w.mu.Unlock()

		if err := sleepOrWake(ctx, wait, wake); err != nil {
			return nil, err
		}
	}
}

func (w *slidingWindow) pruneLocked(now time.Time) {
	kept := w.slots[:0]
	for _, s := range w.slots {
		if s.done && !now.Before(s.end.Add(w.span)) {
			continue
		}
		kept = append(kept, s)
	}
	for i := len(kept); i < len(w.slots); i++ {
		w.slots[i] = nil
	}
	w.slots = kept
}

// waitLocked says how long until something may change on its own (a pause
// ending or a finished slot expiring); 0 means only a release can help.
func (w *slidingWindow) waitLocked(now time.Time) time.Duration {
	if now.Before(w.pauseUntil) {
		return w.pauseUntil.Sub(now)
	}
	var next time.Duration
	for _, s := range w.slots {
		if !s.done {
			continue
		}
		d := s.end.Add(w.span).Sub(now)
		if next == 0 || d < next {
			next = d
		}
	}
	if next <= 0 && len(w.slots) < w.limit {
		return time.Millisecond
	}
	return next
}

// sleepOrWake waits for d (0: no timeout), for wake, or for ctx.
func sleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	var timer <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-wake:
	case <-timer:
	}
	return nil
}
