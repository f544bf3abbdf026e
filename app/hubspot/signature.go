package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// HubSpot signs what it sends to an app (workflow calls, card fetches,
// webhook batches) with X-HubSpot-Signature-v3: base64(HMAC-SHA256(secret,
// method + uri + body + timestamp)), the timestamp (ms) in
// X-HubSpot-Request-Timestamp; requests older than five minutes are to be
// refused. See https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation

// SignatureWindow is HubSpot's documented maximum age of a signed request.
const SignatureWindow = 5 * time.Minute

// SignatureError is a request whose signature does not verify.
type SignatureError struct{ Msg string }

func (e *SignatureError) Error() string { return e.Msg }

// VerifySignatureV3 checks X-HubSpot-Signature-v3, with the timestamp at
// most SignatureWindow old (and not from the future beyond that skew). uri
// is the full URL HubSpot called, which the caller builds from linehub's
// public URL, never from the request's Host.
func VerifySignatureV3(secret, method, uri string, body []byte, timestamp, signature string, now time.Time) error {
	if timestamp == "" || signature == "" {
		return &SignatureError{"X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp are required"}
	}
	ms, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return &SignatureError{"X-HubSpot-Request-Timestamp is not a number"}
	}
	if d := now.Sub(time.UnixMilli(ms)); d > SignatureWindow || d < -SignatureWindow {
		return &SignatureError{"request timestamp is outside HubSpot's five-minute window (replayed or clock skew)"}
	}
	want := SignV3(secret, method, uri, body, timestamp)
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return &SignatureError{"X-HubSpot-Signature-v3 does not match"}
	}
	return nil
}

// SignV3 is the signature HubSpot sends for a request; the doubles sign
// with it, and VerifySignatureV3 compares against it.
func SignV3(secret, method, uri string, body []byte, timestamp string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(method))
	mac.Write([]byte(decodeSignedURI(uri)))
	mac.Write(body)
	mac.Write([]byte(timestamp))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// signedURIDecoder undoes the percent-encodings HubSpot's docs list as
// decoded before signing.
var signedURIDecoder = strings.NewReplacer(
	"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$",
	"%27", "'", "%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
)

func decodeSignedURI(u string) string { return signedURIDecoder.Replace(u) }

// NowMillis is the X-HubSpot-Request-Timestamp of a request sent at t.
func NowMillis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// VerifySignatureV2 checks X-HubSpot-Signature with
// X-HubSpot-Signature-Version v2: hex(SHA-256(secret + method + uri +
// body)). It carries no timestamp, so a captured request verifies for
// ever; accept it only where a replay cannot repeat an effect (a workflow
// action's execution is idempotent per callbackId). HubSpot's custom
// action guide names this version for action requests:
// https://developers.hubspot.com/docs/api-reference/automation-actions-v4-v4/custom-action-guide
func VerifySignatureV2(secret, method, uri string, body []byte, signature string) error {
	if signature == "" {
		return &SignatureError{"X-HubSpot-Signature-v3 (or X-HubSpot-Signature v2) is required"}
	}
	h := sha256.New()
	h.Write([]byte(secret))
	h.Write([]byte(method))
	h.Write([]byte(uri))
	h.Write(body)
	want := hex.EncodeToString(h.Sum(nil))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(signature))) {
		return &SignatureError{"X-HubSpot-Signature (v2) does not match"}
	}
	return nil
}
