package ui

import (
	"testing"
	"time"
)

func TestWebhookURLProblem(t *testing.T) {
	for raw, want := range map[string]string{
		"https://line.example.com/webhook/k": "",
		"https://203.0.113.7/webhook/k":      "",
		"http://line.example.com/webhook/k":  "conn.url_warn_https",
		"http://localhost:8080/webhook/k":    "conn.url_warn_local",
		"https://localhost/webhook/k":        "conn.url_warn_local",
		"http://127.0.0.1:8080/webhook/k":    "conn.url_warn_local",
		"https://[::1]/webhook/k":            "conn.url_warn_local",
		"https://192.168.1.20/webhook/k":     "conn.url_warn_local",
		"https://app.localhost/webhook/k":    "conn.url_warn_local",
		"http://0.0.0.0:8080/webhook/k":      "conn.url_warn_local",
	} {
		if got := webhookURLProblem(raw); got != want {
			t.Errorf("%s: %q, want %q", raw, got, want)
		}
	}
}

// A result is shown once, to the session and connection it is for, and
// not after it has expired.
func TestConnResultsOnce(t *testing.T) {
	var r connResults
	now := time.Now()
	k := resultKey{session: "s1", conn: 1}
	r.put(k, connResult{Verified: true}, now)
	if _, ok := r.take(resultKey{session: "s2", conn: 1}, now); ok {
		t.Fatal("another session took the result")
	}
	if _, ok := r.take(resultKey{session: "s1", conn: 2}, now); ok {
		t.Fatal("another connection took the result")
	}
	if v, ok := r.take(k, now); !ok || !v.Verified {
		t.Fatal("the result is gone")
	}
	if _, ok := r.take(k, now); ok {
		t.Fatal("the result was shown twice")
	}
	r.put(k, connResult{Verified: true}, now)
	if _, ok := r.take(k, now.Add(resultLife+time.Second)); ok {
		t.Fatal("an expired result was shown")
	}
	for i := range maxResults + 10 {
		r.put(resultKey{session: "s", conn: int64(i)}, connResult{}, now)
	}
	if len(r.m) > maxResults {
		t.Fatalf("%d results kept, at most %d", len(r.m), maxResults)
	}
}
