package linking

import (
	"errors"
	"testing"
	"time"
)

// FuzzParseToken: a token comes from a URL anyone can type. Whatever it
// is, parsing never panics, and only what makeToken signed with the key
// is accepted, naming exactly what it was made with.
func FuzzParseToken(f *testing.F) {
	key := []byte("fuzz key fuzz key fuzz key fuzz!")
	good, _ := makeToken(key, 1, "1001", time.Unix(1_900_000_000, 0))
	f.Add(good)
	f.Add("")
	f.Add("AQEB")
	f.Add(good[:len(good)-1])
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := parseToken(key, s)
		if err != nil {
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("parse(%q): %v is not ErrTokenInvalid", s, err)
			}
			return
		}
		again, err := makeToken(key, tok.connID, tok.contactID, tok.expires)
		if err != nil || again != s {
			t.Fatalf("accepted %q, which is not what makeToken gives for %+v (%q)", s, tok, again)
		}
	})
}
