package hubspot

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"
)

func sign(secret, method, uri string, body []byte, ts string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method + uri))
	m.Write(body)
	m.Write([]byte(ts))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifySignatureV3(t *testing.T) {
	now := time.Now()
	body := []byte(`{"objectId":1}`)
	uri := "https://hub.example.com/hooks/hubspot/send/k?template=a%2Cb"
	signedURI := "https://hub.example.com/hooks/hubspot/send/k?template=a,b" // HubSpot decodes %2C before signing
	ts := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	for _, tc := range []struct {
		name     string
		secret   string
		ts, sig  string
		body     []byte
		wantPass bool
	}{
		{"valid", "s3cret", ts(0), sign("s3cret", "POST", signedURI, body, ts(0)), body, true},
		{"four minutes old", "s3cret", ts(-4 * time.Minute), sign("s3cret", "POST", signedURI, body, ts(-4*time.Minute)), body, true},
		{"six minutes old", "s3cret", ts(-6 * time.Minute), sign("s3cret", "POST", signedURI, body, ts(-6*time.Minute)), body, false},
		{"from the future", "s3cret", ts(10 * time.Minute), sign("s3cret", "POST", signedURI, body, ts(10*time.Minute)), body, false},
		{"other secret", "s3cret", ts(0), sign("other", "POST", signedURI, body, ts(0)), body, false},
		{"body changed", "s3cret", ts(0), sign("s3cret", "POST", signedURI, body, ts(0)), []byte(`{"objectId":2}`), false},
		{"no signature", "s3cret", ts(0), "", body, false},
		{"timestamp not a number", "s3cret", "yesterday", "x", body, false},
	} {
		err := VerifySignatureV3(tc.secret, "POST", uri, tc.body, tc.ts, tc.sig, now)
		var se *SignatureError
		if tc.wantPass != (err == nil) || (err != nil && !errors.As(err, &se)) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// FuzzVerifySignatureV3: the timestamp and signature headers, the URI and
// the body come from whoever calls linehub. Nothing panics; a
// request signed with the secret passes; the same request with a body
// byte changed, or signed with another secret, fails.
func FuzzVerifySignatureV3(f *testing.F) {
	f.Add("POST", "https://hub.example.com/hooks/hubspot/send/k?template=a%2Cb", []byte(`{"objectId":1}`), "", "")
	f.Add("GET", "/x?y=%3A%2F", []byte{}, "1764547200000", "AAAA")
	f.Add("POST", "", []byte("\x00\xff"), "-1", "not base64!")
	f.Add("POST", "/k", []byte(`{}`), "99999999999999999999", "")
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, method, uri string, body []byte, ts, sig string) {
		_ = VerifySignatureV3("s3cret", method, uri, body, ts, sig, now) // any input: an answer, no panic

		good := strconv.FormatInt(now.UnixMilli(), 10)
		signed := SignV3("s3cret", method, uri, body, good)
		if err := VerifySignatureV3("s3cret", method, uri, body, good, signed, now); err != nil {
			t.Fatalf("correctly signed request refused: %v", err)
		}
		if err := VerifySignatureV3("other", method, uri, body, good, signed, now); err == nil {
			t.Fatal("request signed with another secret accepted")
		}
		if len(body) > 0 {
			changed := bytes.Clone(body)
			changed[0] ^= 1
			if err := VerifySignatureV3("s3cret", method, uri, changed, good, signed, now); err == nil {
				t.Fatal("request with a changed body accepted")
			}
		}
	})
}

// The v2 example of HubSpot's docs
// (https://developers.hubspot.com/docs/faq/v2-request-validation).
func TestVerifySignatureV2DocsExample(t *testing.T) {
	const secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	const sig = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
	if err := VerifySignatureV2(secret, "GET", "https://www.example.com/webhook_uri", nil, sig); err != nil {
		t.Fatalf("docs example: %v", err)
	}
	if err := VerifySignatureV2(secret, "GET", "https://www.example.com/webhook_uri?x=1", nil, sig); err == nil {
		t.Fatal("another URI verified")
	}
	if err := VerifySignatureV2(secret, "GET", "https://www.example.com/webhook_uri", nil, ""); err == nil {
		t.Fatal("no signature verified")
	}
}
