package linking

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
)

// A link token names a connection and a contact and says until when it is
// good, signed with a key only linehub knows:
//
//	base64url( version | uvarint connection | uvarint contact | uvarint expiry (Unix s) | mac )
//
// mac is HMAC-SHA256 over a domain prefix and the fields before it, cut to
// 16 bytes (128 bits: forging one is as hard as guessing a random UUID).
// The token is about 40 characters: short enough for a personalization
// token in a marketing email and for a QR code. Nothing in it is secret;
// it proves that linehub put this contact into this link.

const (
	tokenVersion = 1
	macLen       = 16
	// maxTokenLen bounds what is decoded: a real token is about 40.
	maxTokenLen = 64
)

// Errors of CheckToken and Link; a page shows each as a friendly sentence.
var (
	ErrTokenInvalid = errors.New("link token is not valid")
	ErrTokenExpired = errors.New("link token has expired")
	ErrTokenUsed    = errors.New("link token was already used by another LINE account")
)

// token is a decoded, verified link token.
type token struct {
	connID    int64
	contactID string
	expires   time.Time
	id        string // the mac in hex: names the token in its use record
}

var macPrefix = []byte("linehub link token\x00")

func sign(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(macPrefix)
	m.Write(payload)
	return m.Sum(nil)[:macLen]
}

// makeToken signs a token for a contact (numeric HubSpot id).
func makeToken(key []byte, connID int64, contactID string, expires time.Time) (string, error) {
	cid, err := strconv.ParseUint(contactID, 10, 64)
	if err != nil || cid == 0 || connID <= 0 {
		return "", errors.New("a link token needs a connection and a numeric contact id")
	}
	b := []byte{tokenVersion}
	b = binary.AppendUvarint(b, uint64(connID))
	b = binary.AppendUvarint(b, cid)
	b = binary.AppendUvarint(b, uint64(max(expires.Unix(), 0)))
	b = append(b, sign(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// parseToken checks a token's signature and returns what it says; expiry
// is left to the caller. Every malformed or altered token is
// ErrTokenInvalid, whatever part of it is wrong.
func parseToken(key []byte, s string) (token, error) {
	if len(s) == 0 || len(s) > maxTokenLen {
		return token{}, ErrTokenInvalid
	}
	for i := 0; i < len(s); i++ {
		// The decoder skips newlines; a token has none.
		if c := s[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return token{}, ErrTokenInvalid
		}
	}
	// Strict: one token has one spelling (no stray trailing bits).
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) < 1+3+macLen || b[0] != tokenVersion {
		return token{}, ErrTokenInvalid
	}
	payload, mac := b[:len(b)-macLen], b[len(b)-macLen:]
	if !hmac.Equal(mac, sign(key, payload)) {
		return token{}, ErrTokenInvalid
	}
	rest := payload[1:]
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return token{}, ErrTokenInvalid
		}
		vals[i], rest = v, rest[n:]
	}
	if len(rest) != 0 || vals[0] == 0 || vals[0] > 1<<62 || vals[1] == 0 || vals[2] > 1<<40 {
		return token{}, ErrTokenInvalid
	}
	return token{
		connID: int64(vals[0]), contactID: strconv.FormatUint(vals[1], 10),
		expires: time.Unix(int64(vals[2]), 0), id: hex.EncodeToString(mac),
	}, nil
}
