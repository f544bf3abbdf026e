package hubspottest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CardFetch makes the requests an app card's hubspot.fetch makes, as
// HubSpot documents them (developers.hubspot.com, "Fetching data" for UI
// extensions, and "Request validation" for the signature):
//
//   - The card calls hubspot.fetch(url, {method, body, timeout}); HubSpot's
//     proxy calls url, which must be under the app's permittedUrls, with
//     the body serialized as JSON (Content-Type: application/json).
//   - The proxy appends the caller to the query: userId, userEmail and
//     portalId (the ProxyMetadata of @hubspot/ui-extensions), after the
//     card's own parameters.
//   - It signs with the app's client secret: X-HubSpot-Signature-v3 is
//     base64(HMAC-SHA256(secret, method + URI + body + timestamp)), the URI
//     being the full URL called with %3A %2F %3F %40 %21 %24 %27 %28 %29
//     %2A %2C %3B decoded, and X-HubSpot-Request-Timestamp the time in ms;
//     requests older than 5 minutes are to be refused.
//   - Limits: 15 s per request (connection included) and 1 MB for the
//     request and the response; a request that fails with a 5xx within
//     the 15 s is retried once (Retry5xx reproduces that).
//
// The signing here is written from those docs, apart from package
// hubspot's, so a mistake in one shows against the other.
type CardFetch struct {
	ClientSecret string
	PortalID     int64
	UserID       int64
	UserEmail    string
	// Age makes the request that much older than Now (a replay).
	Age time.Duration
	// Now is the signing clock; nil is time.Now.
	Now func() time.Time
}

// CardFetchMaxBytes is hubspot.fetch's limit on the request and the
// response payload.
const CardFetchMaxBytes = 1 << 20

// CardFetchTimeout is hubspot.fetch's longest timeout.
const CardFetchTimeout = 15 * time.Second

// URL is the URL the proxy calls for the card's rawURL: the caller's
// userId, userEmail and portalId appended to the card's query.
func (f CardFetch) URL(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("card fetch url %q: %w", rawURL, err)
	}
	if u.Scheme != "https" {
		// permittedUrls are https URLs.
		return "", fmt.Errorf("card fetch url %q: hubspot.fetch calls https URLs only", rawURL)
	}
	extra := "userId=" + strconv.FormatInt(f.UserID, 10) + "&userEmail=" + url.QueryEscape(f.UserEmail) +
		"&portalId=" + strconv.FormatInt(f.PortalID, 10)
	if u.RawQuery == "" {
		u.RawQuery = extra
	} else {
		u.RawQuery += "&" + extra
	}
	return u.String(), nil
}

// Request is what HubSpot sends for hubspot.fetch(rawURL, {method, body}):
// body (nil: none) as JSON, signed for the URL with the appended caller.
// Send it anywhere (an httptest server, app.Test): the signature covers
// the public URL, not the address it is delivered to.
func (f CardFetch) Request(method, rawURL string, body any) (*http.Request, error) {
	full, err := f.URL(rawURL)
	if err != nil {
		return nil, err
	}
	var raw []byte
	if body != nil {
		if raw, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("card fetch body: %w", err)
		}
		if len(raw) > CardFetchMaxBytes {
			return nil, fmt.Errorf("card fetch body of %d bytes: hubspot.fetch refuses payloads over 1 MB", len(raw))
		}
	}
	req, err := http.NewRequest(method, full, bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("card fetch request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	ts := strconv.FormatInt(now().Add(-f.Age).UnixMilli(), 10)
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", SignatureV3(f.ClientSecret, method, full, raw, ts))
	return req, nil
}

// SignatureV3 is X-HubSpot-Signature-v3 for a request, written here apart
// from hubspot.SignV3 so that a mistake in one shows against the other
// (and so that app/hubspot's own tests can use this double).
func SignatureV3(secret, method, fullURL string, body []byte, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	io.WriteString(mac, method)
	io.WriteString(mac, signedURIForm(fullURL))
	mac.Write(body)
	io.WriteString(mac, timestamp)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signedURIForm decodes the escapes HubSpot's docs list as decoded before
// signing (and only those: %20, %26, %3D stay as sent).
func signedURIForm(u string) string {
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		if u[i] == '%' && i+2 < len(u) {
			switch strings.ToUpper(u[i+1 : i+3]) {
			case "3A", "2F", "3F", "40", "21", "24", "27", "28", "29", "2A", "2C", "3B":
				v, _ := strconv.ParseUint(u[i+1:i+3], 16, 8)
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(u[i])
	}
	return b.String()
}

// ErrCardFetchTooLarge is an answer over hubspot.fetch's 1 MB: the card
// gets an error instead of it.
var ErrCardFetchTooLarge = errors.New("hubspot.fetch: response over 1 MB")

// ReadCardResponse reads an answer as hubspot.fetch hands it to the card:
// at most 1 MB.
func ReadCardResponse(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, CardFetchMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read card fetch answer: %w", err)
	}
	if len(b) > CardFetchMaxBytes {
		return nil, ErrCardFetchTooLarge
	}
	return b, nil
}

// Retry5xx sends req through do as HubSpot's proxy does: once more, with
// the same request, when the answer is a 5xx. body is the request body,
// sent again on the retry.
func Retry5xx(do func(*http.Request) (*http.Response, error), req *http.Request, body []byte) (*http.Response, error) {
	resp, err := do(req)
	if err != nil || resp.StatusCode < 500 {
		return resp, err
	}
	resp.Body.Close()
	again := req.Clone(req.Context())
	again.Body = io.NopCloser(bytes.NewReader(body))
	return do(again)
}
