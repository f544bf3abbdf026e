package connections

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"linehub/app/config"
	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/store"
)

const fxHubSpotToken = "pat-na1-bridge-fixture-7777"

// TestRunLearnsAccount: with a token from config.yaml (never checked in
// the wizard) the running registry learns the portal id for the dashboard
// and the account's time zone, so a DAILY 429 waits for that zone's
// midnight rather than UTC's.
func TestRunLearnsAccount(t *testing.T) {
	hs := hubspottest.New(hubspottest.Options{Token: fxHubSpotToken, PortalID: 777, TimeZone: "Asia/Tokyo", RatePer10s: -1, SearchPerSec: -1})
	t.Cleanup(hs.Close)
	st, err := store.Open(t.TempDir(), store.Options{Synchronous: "NORMAL", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.HubSpot.BaseURL, cfg.HubSpot.Token = hs.URL(), fxHubSpotToken
	hsc := hubspot.New(hubspot.Config{BaseURL: hs.URL(), Token: fxHubSpotToken, MaxRetries: -1})
	b, err := New(Options{Store: st, HubSpot: hsc, Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for b.HubSpotInfo(context.Background()).PortalID != 777 {
		if time.Now().After(deadline) {
			t.Fatal("the portal id was never learned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done

	hs.SetFault(func(r *http.Request) (int, string, bool) {
		return 429, `{"status":"error","message":"You have reached your daily limit.","errorType":"RATE_LIMIT","policyName":"DAILY","correlationId":"x"}`, true
	})
	_, err = hsc.AccountDetails(context.Background())
	if err == nil || !strings.Contains(err.Error(), "T00:00:00+09:00") {
		t.Fatalf("a DAILY 429 should suspend calls until Tokyo midnight: %v", err)
	}
}
