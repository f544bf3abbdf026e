package hubspot

import (
	"context"
	"testing"
	"time"
)

// TestBackgroundYieldsToUrgent: with the budget used up, a background
// request (a timeline note) that has been waiting longer still lets a
// contact write go first, and gets the next slot after it.
func TestBackgroundYieldsToUrgent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w := newSlidingWindow(1, 20*time.Millisecond)
	hold, err := w.acquire(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	order := make(chan string, 2)
	take := func(name string, background bool) {
		release, err := w.acquire(ctx, background)
		if err != nil {
			t.Error(err)
			return
		}
		order <- name
		release()
	}
	go take("background", true)
	go take("urgent", false)
	for { // the urgent request is waiting (the holder's own count ended with its call)
		w.mu.Lock()
		n := w.urgent
		w.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	hold()
	if first, second := <-order, <-order; first != "urgent" || second != "background" {
		t.Fatalf("order %s, %s; want the urgent request first", first, second)
	}

	// Alone, a background request is not held back.
	release, err := w.acquire(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	release()
}
