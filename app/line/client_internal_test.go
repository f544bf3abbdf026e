package line

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"7", 7 * time.Second},
		{" 0 ", 0},
		{"-3", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), -time.Minute}, // in the past: caller falls back to backoff
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		if got := retryAfter(h, now); got != tt.want {
			t.Errorf("Retry-After %q = %v, want %v", tt.header, got, tt.want)
		}
	}
}

func TestFullJitterBounds(t *testing.T) {
	for _, d := range []time.Duration{0, 1, 2, time.Millisecond, time.Second} {
		for i := 0; i < 200; i++ {
			got := fullJitter(d)
			if got < d/2 || got > d {
				t.Fatalf("fullJitter(%v) = %v, outside [d/2, d]", d, got)
			}
		}
	}
}

func TestRetryKey(t *testing.T) {
	const uuid = "123E4567-E89B-12D3-A456-426614174000"
	if got := RetryKey(uuid); got != strings.ToLower(uuid) {
		t.Errorf("UUID changed: %s", got)
	}
	if RetryKey("") != "" || RetryKey("  ") != "" {
		t.Error("empty key should stay empty")
	}
	a, b := RetryKey("outbox-1"), RetryKey("outbox-2")
	if a == b || a != RetryKey("outbox-1") {
		t.Errorf("derived keys not stable and distinct: %s %s", a, b)
	}
	for _, k := range []string{a, b, randomUUID()} {
		if !isUUID(k) {
			t.Errorf("%q is not a UUID", k)
		}
	}
	if a[14] != '5' || randomUUID()[14] != '4' {
		t.Errorf("version nibble wrong: %s", a)
	}
}

func TestAPIErrorFromBodies(t *testing.T) {
	h := http.Header{}
	h.Set("X-Line-Request-Id", "req-1")
	e := newAPIError(400, h, []byte(`{"message":"The request body has 2 error(s)","details":[{"message":"May not be empty","property":"messages[0].text"},{"message":"Must be one of the following values: [text, image]","property":"messages[1].type"}]}`))
	if e.Message != "The request body has 2 error(s)" || len(e.Details) != 2 || e.Details[0] != "messages[0].text: May not be empty" || e.RequestID != "req-1" {
		t.Fatalf("%+v", e)
	}
	if s := e.Error(); !strings.Contains(s, "400") || !strings.Contains(s, "messages[1].type") || !strings.Contains(s, "req-1") {
		t.Fatalf("Error() = %s", s)
	}
	html := newAPIError(502, http.Header{}, []byte("<html>"+strings.Repeat("é", 300)+"</html>"))
	if !strings.HasPrefix(html.Message, "<html>") || len(html.Message) > 210 || !strings.HasSuffix(html.Message, "…") {
		t.Fatalf("non-JSON body kept badly: %q", html.Message)
	}
	empty := newAPIError(503, http.Header{}, nil)
	if !strings.Contains(empty.Error(), "Service Unavailable") {
		t.Fatalf("empty body error = %s", empty.Error())
	}
	for status, want := range map[int]error{401: ErrUnauthorized, 403: ErrForbidden, 429: ErrRateLimited} {
		if !errors.Is(&APIError{Status: status}, want) {
			t.Errorf("%d does not match %v", status, want)
		}
	}
	if errors.Is(&APIError{Status: 404}, ErrNotFriend) {
		t.Error("a bare 404 is not ErrNotFriend; only the profile call says that")
	}
}

func TestCheckID(t *testing.T) {
	for _, ok := range []string{"U4af4980629aaaaaaaaaaaaaaaaaaaaaa", "Ca56f94637c", "R1", "U_-1"} {
		if err := checkID(ok); err != nil {
			t.Errorf("checkID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a/b", "..", "U1?", "U 1", "Ü1", strings.Repeat("x", 65)} {
		if err := checkID(bad); err == nil {
			t.Errorf("checkID(%q) accepted", bad)
		}
	}
}
