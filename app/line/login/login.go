// Package login is LINE Login v2.1 web login (OAuth 2.0 authorization
// code with PKCE, OpenID Connect ID tokens) as LINE documents it:
//
//   - the flow, the authorization URL and its parameters:
//     https://developers.line.biz/en/docs/line-login/integrate-line-login/
//   - PKCE (code_challenge, S256 only):
//     https://developers.line.biz/en/docs/line-login/integrate-pkce/
//   - the add friend option (bot_prompt, friendship_status_changed, and the
//     rule that the linked LINE Official Account's Messaging API channel
//     must be in the same provider as the LINE Login channel):
//     https://developers.line.biz/en/docs/line-login/link-a-bot/
//   - the token endpoint (POST https://api.line.me/oauth2/v2.1/token),
//     verify and profile endpoints, status codes:
//     https://developers.line.biz/en/reference/line-login/
//   - the ID token: "HS256 (HMAC using SHA-256)" with the channel secret
//     for web login, ES256 only for native apps, the LINE SDK and LIFF;
//     iss https://access.line.me, aud the channel ID, exp, nonce, amr,
//     name, picture, email:
//     https://developers.line.biz/ja/docs/line-login/verify-id-token/
//
// linehub only does web login, so an ID token must be HS256: any other
// "alg" (ES256, none) is refused rather than looked up in a key set.
// LINE user ids are per provider, so an id from login matches the
// Messaging API's only when both channels are in the same provider.
package login

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Default base URLs, as in LINE's documentation.
const (
	DefaultAuthBaseURL = "https://access.line.me"
	DefaultAPIBaseURL  = "https://api.line.me"
	// Issuer is the "iss" of every LINE ID token.
	Issuer = "https://access.line.me"

	authorizePath = "/oauth2/v2.1/authorize"
	tokenPath     = "/oauth2/v2.1/token"
)

// Identity is the LINE user an ID token names, with what the granted
// scopes reveal. Email is "" unless the email scope was granted.
type Identity struct {
	UserID, Name, PictureURL, Email string
}

// Start is one login under way: URL is where the browser goes; State,
// Nonce and Verifier must be kept server-side until the callback.
type Start struct {
	URL, State, Nonce, Verifier string
}

// Options configure a Client.
type Options struct {
	ChannelID     string
	ChannelSecret string
	// RedirectURI is the callback URL registered in the LINE Developers
	// Console; LINE compares it with the one the token request sends.
	RedirectURI string
	// AuthBaseURL defaults to https://access.line.me, APIBaseURL to
	// https://api.line.me; tests point both at linetest.
	AuthBaseURL string
	APIBaseURL  string
	HTTPClient  *http.Client
	// Now replaces time.Now for ID token expiry.
	Now func() time.Time
}

// Client logs visitors in with one LINE Login channel.
type Client struct {
	o Options
}

// Errors Finish can return (wrapped); the link pages tell them apart.
var (
	// ErrCodeRejected: LINE refused the authorization code (used already,
	// expired after 10 minutes, PKCE verifier or redirect URI not matching).
	ErrCodeRejected = errors.New("LINE refused the authorization code")
	// ErrIDToken: the ID token failed verification.
	ErrIDToken = errors.New("ID token not valid")
)

// APIError is a non-2xx answer from the LINE Login API: LINE answers
// OAuth errors as JSON {"error": ..., "error_description": ...}.
type APIError struct {
	Status      int
	Code        string
	Description string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("LINE Login API %d: %s: %s", e.Status, e.Code, e.Description)
}

// New checks the options and builds a Client.
func New(o Options) (*Client, error) {
	if !channelIDRe.MatchString(o.ChannelID) {
		return nil, fmt.Errorf("LINE Login channel ID %q: want the channel's numeric ID", o.ChannelID)
	}
	if o.ChannelSecret == "" {
		return nil, errors.New("LINE Login channel secret is empty")
	}
	if u, err := url.Parse(o.RedirectURI); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("LINE Login callback URL %q is not an absolute URL", o.RedirectURI)
	}
	o.AuthBaseURL = strings.TrimRight(o.AuthBaseURL, "/")
	o.APIBaseURL = strings.TrimRight(o.APIBaseURL, "/")
	if o.AuthBaseURL == "" {
		o.AuthBaseURL = DefaultAuthBaseURL
	}
	if o.APIBaseURL == "" {
		o.APIBaseURL = DefaultAPIBaseURL
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Client{o: o}, nil
}

// ChannelID is the LINE Login channel's ID.
func (c *Client) ChannelID() string { return c.o.ChannelID }

var channelIDRe = regexp.MustCompile(`^[0-9]{1,20}$`)

// Begin starts a login: fresh random state, nonce and PKCE verifier, and
// the authorization URL with bot_prompt=aggressive, so that a visitor who
// is not yet a friend of the linked LINE Official Account is asked to add
// it in the same step. withEmail adds the email scope (the channel needs
// LINE's email permission for it).
func (c *Client) Begin(withEmail bool) (Start, error) {
	state, err := randomHex(32)
	if err != nil {
		return Start{}, err
	}
	nonce, err := randomHex(32)
	if err != nil {
		return Start{}, err
	}
	// RFC 7636 §4.1: 43 to 128 characters of [A-Za-z0-9-._~]; 32 random
	// bytes in base64url make 43.
	vb := make([]byte, 32)
	if _, err := rand.Read(vb); err != nil {
		return Start{}, fmt.Errorf("PKCE verifier: %w", err)
	}
	verifier := base64.RawURLEncoding.EncodeToString(vb)
	scope := "profile openid"
	if withEmail {
		scope += " email"
	}
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.o.ChannelID},
		"redirect_uri":          {c.o.RedirectURI},
		"state":                 {state},
		"scope":                 {scope},
		"nonce":                 {nonce},
		"bot_prompt":            {"aggressive"},
		"code_challenge":        {Challenge(verifier)},
		"code_challenge_method": {"S256"},
	}
	// LINE's example writes the space-separated scope as %20.
	enc := strings.ReplaceAll(q.Encode(), "+", "%20")
	return Start{URL: c.o.AuthBaseURL + authorizePath + "?" + enc, State: state, Nonce: nonce, Verifier: verifier}, nil
}

// Challenge is the S256 code challenge of a PKCE verifier:
// base64url(SHA-256(verifier)) without padding.
func Challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	// LINE asks for state as a unique alphanumeric string: hex is.
	return hex.EncodeToString(b), nil
}

// maxBody bounds what is read from LINE's answers.
const maxBody = 64 << 10

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	IDToken     string `json:"id_token"`
	Scope       string `json:"scope"`
	TokenType   string `json:"token_type"`
}

// Finish exchanges the authorization code for tokens and returns the
// identity from the ID token, verified here (HS256 with the channel
// secret, issuer, audience, expiry, nonce). The LINE user never comes
// from anywhere else.
func (c *Client) Finish(ctx context.Context, code, verifier, nonce string) (Identity, error) {
	if code == "" {
		return Identity{}, fmt.Errorf("%w: no code", ErrCodeRejected)
	}
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {c.o.RedirectURI},
		"client_id":     {c.o.ChannelID},
		"client_secret": {c.o.ChannelSecret},
		"code_verifier": {verifier},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.o.APIBaseURL+tokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return Identity{}, fmt.Errorf("token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return Identity{}, fmt.Errorf("LINE Login token request: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxBody))
	if err != nil {
		return Identity{}, fmt.Errorf("read LINE Login token answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		ae := &APIError{Status: res.StatusCode}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(body, &e) == nil {
			ae.Code, ae.Description = e.Error, e.Description
		}
		// RFC 6749 §5.2: invalid_grant is a code that is invalid, expired,
		// used, or issued for another redirect URI or verifier.
		if res.StatusCode == http.StatusBadRequest && ae.Code == "invalid_grant" {
			return Identity{}, fmt.Errorf("%w: %w", ErrCodeRejected, ae)
		}
		return Identity{}, ae
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return Identity{}, fmt.Errorf("decode LINE Login token answer: %w", err)
	}
	if tr.IDToken == "" {
		return Identity{}, fmt.Errorf("%w: the token answer has no id_token (was the openid scope granted?)", ErrIDToken)
	}
	claims, err := VerifyIDToken(tr.IDToken, c.o.ChannelID, c.o.ChannelSecret, nonce, c.o.Now())
	if err != nil {
		return Identity{}, err
	}
	return Identity{UserID: claims.Subject, Name: claims.Name, PictureURL: claims.Picture, Email: claims.Email}, nil
}

// Claims are the ID token payload fields linehub reads.
type Claims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience string   `json:"aud"`
	Expiry   int64    `json:"exp"`
	IssuedAt int64    `json:"iat"`
	AuthTime int64    `json:"auth_time"`
	Nonce    string   `json:"nonce"`
	AMR      []string `json:"amr"`
	Name     string   `json:"name"`
	Picture  string   `json:"picture"`
	Email    string   `json:"email"`
}

// userIDRe is a LINE user id: "U" and 32 hex digits.
var userIDRe = regexp.MustCompile(`^U[0-9a-f]{32}$`)

// maxIDToken bounds the ID token accepted; LINE's are well under 2 KiB.
const maxIDToken = 8 << 10

// maxIssuedAhead is how far in the future "iat" may be (clock skew).
const maxIssuedAhead = 5 * time.Minute

// VerifyIDToken checks a web login ID token as LINE's "Get profile
// information from ID tokens" page says: the HS256 signature with the
// channel secret, iss, aud (the channel ID), exp, and the nonce sent in
// the authorization request. Errors wrap ErrIDToken.
func VerifyIDToken(raw, channelID, channelSecret, nonce string, now time.Time) (Claims, error) {
	bad := func(format string, a ...any) (Claims, error) {
		return Claims{}, fmt.Errorf("%w: %s", ErrIDToken, fmt.Sprintf(format, a...))
	}
	if len(raw) > maxIDToken {
		return bad("%d bytes, more than %d", len(raw), maxIDToken)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return bad("not a JWS (want 3 parts, got %d)", len(parts))
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return bad("header: %v", err)
	}
	var header struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hb, &header); err != nil {
		return bad("header: %v", err)
	}
	if header.Alg != "HS256" {
		return bad("alg %q: web login ID tokens are HS256", header.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return bad("signature: %v", err)
	}
	mac := hmac.New(sha256.New, []byte(channelSecret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return bad("signature does not match the channel secret")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return bad("payload: %v", err)
	}
	var c Claims
	if err := json.Unmarshal(pb, &c); err != nil {
		return bad("payload: %v", err)
	}
	switch {
	case c.Issuer != Issuer:
		return bad("issuer %q, want %s", c.Issuer, Issuer)
	case c.Audience != channelID:
		return bad("audience %q, want channel %s", c.Audience, channelID)
	case c.Expiry <= now.Unix():
		return bad("expired at %s", time.Unix(c.Expiry, 0).UTC().Format(time.RFC3339))
	case c.IssuedAt > now.Add(maxIssuedAhead).Unix():
		return bad("issued in the future (%s)", strconv.FormatInt(c.IssuedAt, 10))
	case nonce == "" || subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(nonce)) != 1:
		return bad("nonce does not match the login's")
	case !userIDRe.MatchString(c.Subject):
		return bad("subject %q is not a LINE user id", c.Subject)
	}
	return c, nil
}
