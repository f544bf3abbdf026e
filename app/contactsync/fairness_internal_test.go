package contactsync

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// TestFairnessBurstVersusSingleMessage measures how long one connection's
// single message takes to reach HubSpot while another connection's burst
// of 10,000 follows is being worked off under the starter budget (100
// requests per 10 s). It reports the figure (docs/benchmarks.md) and
// asserts only the outcome, not the timing.
func TestFairnessBurstVersusSingleMessage(t *testing.T) {
	burst := 10000
	if testing.Short() {
		burst = 2000
	}
	fx := newFixture(t)
	hsc := hubspot.New(hubspot.Config{BaseURL: fx.cfg.HubSpot.BaseURL, Token: fx.cfg.HubSpot.Token, Tier: "starter", Logger: fx.b.log})
	b, err := New(Options{Store: fx.st, HubSpot: hsc, Config: fx.cfg, Logger: fx.b.log})
	if err != nil {
		t.Fatal(err)
	}
	fx.b = b
	busy := fx.connect("Busy Shop")
	quiet := fx.connect("Quiet Shop")
	for i := range burst {
		fx.ln.AddFriend(busy.token, line.Profile{UserID: fmt.Sprintf("U%032x", i+1), DisplayName: fmt.Sprint("Busy ", i)})
	}
	alice := fx.friend(quiet, "Alice")

	ctx, cancel := context.WithCancel(fx.ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	base := time.Now().Add(-time.Minute)
	for start := 0; start < burst; start += 100 {
		evs := make([]json.RawMessage, 0, 100)
		for i := start; i < start+100; i++ {
			evs = append(evs, linetest.FollowEvent(fmt.Sprintf("U%032x", i+1), false, base.Add(time.Duration(i)*time.Millisecond)))
		}
		fx.deliver(busy, evs...)
	}
	sent := time.Now()
	fx.deliver(quiet, linetest.TextMessageEvent(alice, "is anyone there?", time.Now()))
	deadline := sent.Add(3 * time.Minute)
	for {
		if ct, ok := fx.contact(alice); ok && ct.Properties[PropertyName("line_last_response", quiet.conn.Serial)] != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the quiet connection's message never reached HubSpot")
		}
		time.Sleep(20 * time.Millisecond)
	}
	latency := time.Since(sent)
	st, _ := fx.st.FriendStats(fx.ctx, busy.conn.ID)
	inbox, _ := fx.st.InboxStats(fx.ctx, busy.conn.ID)
	t.Logf("fairness: single message of connection B reached HubSpot %.2fs after it was acknowledged, behind a burst of %d follows of connection A (A then: %d friends applied, %d still to sync, %d events pending)",
		latency.Seconds(), burst, st.Total, st.Backlog, inbox.Pending)
}
