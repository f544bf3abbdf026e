package hubspottest_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
)

// The double's webhook batches verify as HubSpot's do (v3 with linehub's
// check, v1 as documented), and parse as HubSpot's documented payload.
func TestAppWebhooksSignedAsHubSpot(t *testing.T) {
	hs := hubspottest.New(hubspottest.Options{Token: "t", PortalID: 4242})
	defer hs.Close()
	const secret, signed = "client-secret-0000", "https://hub.example.com/hubspot/app/webhooks"
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		got = r
	}))
	defer srv.Close()
	hooks := hs.AppWebhooks(srv.URL, signed, secret, 77)
	if st, err := hooks.Send(context.Background(), hooks.Deletion("11"), hooks.Merge("12", []string{"13"}, "14"),
		hooks.PropertyChange("15", "line_follow_1", "", "CRM_UI", "userId:1")); err != nil || st != 200 {
		t.Fatalf("send: %d %v", st, err)
	}
	err := hubspot.VerifySignatureV3(secret, "POST", signed, body, got.Header.Get("X-HubSpot-Request-Timestamp"), got.Header.Get("X-HubSpot-Signature-v3"), time.Now())
	if err != nil {
		t.Fatalf("v3: %v", err)
	}
	v1 := sha256.Sum256(append([]byte(secret), body...))
	if got.Header.Get("X-HubSpot-Signature") != hex.EncodeToString(v1[:]) || got.Header.Get("X-HubSpot-Signature-Version") != "v1" {
		t.Fatal("v1 signature")
	}
	evs, err := hubspot.ParseWebhookEvents(body)
	if err != nil || len(evs) != 3 {
		t.Fatalf("parse: %v", err)
	}
	if e := evs[0]; e.PortalID != 4242 || e.AppID != 77 || e.Kind() != hubspot.EventContactDeletion || e.ObjectID != 11 || e.OccurredAt == 0 {
		t.Fatalf("deletion %+v", e)
	}
	if e := evs[1]; e.SurvivorID() != 14 || e.PrimaryObjectID != 12 || len(e.MergedObjectIDs) != 1 {
		t.Fatalf("merge %+v", e)
	}
	var raw []map[string]any
	_ = json.Unmarshal(body, &raw)
	if v, ok := raw[2]["propertyValue"]; !ok || v != "" {
		t.Fatalf("a cleared property must still carry propertyValue: %v", raw[2])
	}
	if evs[0].EventID == evs[1].EventID || evs[2].SubscriptionID == evs[0].SubscriptionID {
		t.Fatal("event or subscription ids shared")
	}
}

// Deliver retries as HubSpot documents: after a 4xx or 5xx, a timeout
// (five seconds) or a failed connection, with the next attemptNumber, up
// to 10 times; a 2xx ends it.
func TestAppWebhooksRetryAsHubSpot(t *testing.T) {
	hs := hubspottest.New(hubspottest.Options{Token: "t", PortalID: 4242})
	defer hs.Close()
	var mu sync.Mutex
	var attempts []int
	answers := []int{500, 401, 429, 200}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var evs []hubspottest.AppWebhookEvent
		_ = json.NewDecoder(r.Body).Decode(&evs)
		mu.Lock()
		n := len(attempts)
		attempts = append(attempts, evs[0].AttemptNumber)
		status := answers[min(n, len(answers)-1)]
		mu.Unlock()
		if n == 1 {
			time.Sleep(300 * time.Millisecond) // longer than the client's timeout below
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	hooks := hs.AppWebhooks(srv.URL, srv.URL, "s", 77)
	hooks.Client = &http.Client{Timeout: 100 * time.Millisecond} // stands for HubSpot's five seconds
	hooks.Backoff = func(int) time.Duration { return time.Millisecond }
	tries, err := hooks.Deliver(context.Background(), hooks.Deletion("1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(tries) != 4 || tries[0].Status != 500 || tries[1].Err == nil || tries[2].Status != 429 || tries[3].Status != 200 {
		t.Fatalf("attempts %+v", tries)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, n := range attempts {
		if n != i {
			t.Fatalf("attemptNumber %v, want 0, 1, 2, ...", attempts)
		}
	}

	answers, attempts = []int{503}, nil
	mu.Unlock()
	tries, err = hooks.Deliver(context.Background(), hooks.Deletion("2"))
	mu.Lock()
	if err == nil || len(tries) != 1+hubspottest.AppWebhookRetries {
		t.Fatalf("always refused: %d attempts, %v; want 1 + %d retries", len(tries), err, hubspottest.AppWebhookRetries)
	}
}
