package hubspottest_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
)

// The double's signature, written from HubSpot's docs, and linehub's check
// agree on a card request, including the caller HubSpot appends (an email's
// @ arrives as %40, which the signed form decodes).
func TestCardFetchSignedAsLinehubVerifies(t *testing.T) {
	now := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	f := hubspottest.CardFetch{ClientSecret: "app-secret", PortalID: 4242, UserID: 7, UserEmail: "staff+1@example.com",
		Now: func() time.Time { return now }}
	for _, tc := range []struct {
		method, url string
		body        any
	}{
		{"GET", "https://hub.example.com/hubspot/app/card?contactId=501", nil},
		{"GET", "https://hub.example.com/hubspot/app/card", nil},
		{"POST", "https://hub.example.com/hubspot/app/card/reply?contactId=501", map[string]any{"text": "こんにちは", "key": "k1"}},
	} {
		req, err := f.Request(tc.method, tc.url, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		q := req.URL.Query()
		if q.Get("userId") != "7" || q.Get("userEmail") != "staff+1@example.com" || q.Get("portalId") != "4242" {
			t.Fatalf("%s: appended caller: %v", tc.url, q)
		}
		if !strings.Contains(req.URL.RawQuery, "userEmail=staff%2B1%40example.com") {
			t.Fatalf("%s: email not escaped as a browser sends it: %s", tc.url, req.URL.RawQuery)
		}
		body, _ := io.ReadAll(req.Body)
		err = hubspot.VerifySignatureV3("app-secret", tc.method, req.URL.String(), body,
			req.Header.Get("X-HubSpot-Request-Timestamp"), req.Header.Get("X-HubSpot-Signature-v3"), now)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.url, err)
		}
		if tc.body != nil && req.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("content type %q", req.Header.Get("Content-Type"))
		}
		// Another secret, another body or another URL does not verify.
		if hubspot.VerifySignatureV3("other", tc.method, req.URL.String(), body, req.Header.Get("X-HubSpot-Request-Timestamp"),
			req.Header.Get("X-HubSpot-Signature-v3"), now) == nil {
			t.Fatal("verified with another secret")
		}
		if hubspot.VerifySignatureV3("app-secret", tc.method, strings.Replace(req.URL.String(), "4242", "4243", 1), body,
			req.Header.Get("X-HubSpot-Request-Timestamp"), req.Header.Get("X-HubSpot-Signature-v3"), now) == nil {
			t.Fatal("verified for another portal's URL")
		}
	}

	stale := f
	stale.Age = 6 * time.Minute
	req, _ := stale.Request("GET", "https://hub.example.com/hubspot/app/card?contactId=501", nil)
	if hubspot.VerifySignatureV3("app-secret", "GET", req.URL.String(), nil, req.Header.Get("X-HubSpot-Request-Timestamp"),
		req.Header.Get("X-HubSpot-Signature-v3"), now) == nil {
		t.Fatal("a six-minute-old request verified")
	}
	if _, err := f.Request("GET", "http://hub.example.com/hubspot/app/card", nil); err == nil {
		t.Fatal("plain http accepted: permitted URLs are https")
	}
	if _, err := f.Request("POST", "https://hub.example.com/x", map[string]string{"a": strings.Repeat("x", 1<<20)}); err == nil {
		t.Fatal("a body over 1 MB was sent")
	}
}

// hubspot.fetch hands the card at most 1 MB, and retries a 5xx once.
func TestCardFetchLimitsAndRetry(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		b, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == "/big":
			w.Write([]byte(strings.Repeat("x", hubspottest.CardFetchMaxBytes+1)))
		case calls == 1:
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.Write(b)
		}
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/big")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hubspottest.ReadCardResponse(resp); err != hubspottest.ErrCardFetchTooLarge {
		t.Fatalf("over 1 MB: %v", err)
	}
	calls = 0
	req, _ := http.NewRequest("POST", srv.URL+"/echo", strings.NewReader(`{"k":1}`))
	resp, err = hubspottest.Retry5xx(http.DefaultClient.Do, req, []byte(`{"k":1}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := hubspottest.ReadCardResponse(resp)
	if calls != 2 || resp.StatusCode != 200 || string(b) != `{"k":1}` {
		t.Fatalf("retry: %d calls, %d %s", calls, resp.StatusCode, b)
	}
}
