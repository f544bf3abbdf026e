package linetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"linehub/app/line"
)

// LINE Login v2.1 web login, as documented:
//
//	GET  /oauth2/v2.1/authorize   the login and consent page
//	     (https://developers.line.biz/en/docs/line-login/integrate-line-login/):
//	     response_type=code, client_id, redirect_uri (a registered callback
//	     URL; LINE allows extra query parameters on it), state, scope
//	     (openid, profile, email), nonce, bot_prompt (normal|aggressive),
//	     code_challenge + code_challenge_method=S256 (PKCE,
//	     https://developers.line.biz/en/docs/line-login/integrate-pkce/).
//	     An unknown client_id or callback URL gets an error page, as on
//	     LINE; other errors go back to the callback with error,
//	     error_description and state. On success the callback gets code and
//	     state, and friendship_status_changed when bot_prompt was given and
//	     a LINE Official Account is linked
//	     (https://developers.line.biz/en/docs/line-login/link-a-bot/).
//	     The code works once, for 10 minutes.
//	POST /oauth2/v2.1/token       authorization_code grant
//	     (https://developers.line.biz/en/reference/line-login/#issue-access-token):
//	     form grant_type, code, redirect_uri, client_id, client_secret,
//	     code_verifier; answers access_token, expires_in (30 days),
//	     id_token, refresh_token, scope, token_type "Bearer". Errors are 400
//	     {"error","error_description"} (OAuth 2.0, RFC 6749 §5.2).
//	POST /oauth2/v2.1/verify      ID token verification
//	     (https://developers.line.biz/en/reference/line-login/#verify-id-token):
//	     form id_token, client_id, nonce, user_id; answers the claims;
//	     400 {"error":"invalid_request","error_description":...}.
//	GET  /v2/profile              the user's profile with a login access token
//	     (https://developers.line.biz/en/reference/line-login/#get-user-profile).
//
// The ID token is a JWT signed HS256 with the channel secret, as LINE signs
// web login ID tokens
// (https://developers.line.biz/ja/docs/line-login/verify-id-token/), with
// iss https://access.line.me, sub, aud (channel ID), exp, iat, auth_time,
// nonce, amr ["pwd"], name, picture and, with the email scope and the
// channel's email permission, email. There is no separate email endpoint.
//
// Deliberate differences: the page is a plain form listing the users added
// with AddLoginUser (a browser test clicks "login-<user id>" or "cancel");
// a Go test can skip it by adding linetest_user=<user id> to the
// authorization URL, which logs that user in and consents to everything.

// LoginChannel is a LINE Login channel.
type LoginChannel struct {
	ID     string // channel ID (numeric)
	Secret string
	// CallbackURLs are the console's "Callback URL" entries.
	CallbackURLs []string
	// EmailPermission is the console's "Email address permission"; without
	// it the email scope gives no email.
	EmailPermission bool
	// LinkedBotToken is the channel access token of the Messaging API
	// channel of the linked LINE Official Account ("" = none linked). With
	// bot_prompt, a consenting user becomes its friend.
	LinkedBotToken string
}

// LoginUser is a LINE user who can log in.
type LoginUser struct {
	UserID, Name, PictureURL, Email string
}

// Login is one successful login the double answered a token request for.
type Login struct {
	ChannelID string
	UserID    string
	Scope     string
}

// LoginCodeTTL is how long an authorization code works, as documented.
const LoginCodeTTL = 10 * time.Minute

type loginState struct {
	channels map[string]*LoginChannel // by channel ID
	users    map[string]LoginUser
	order    []string // users in the order added
	pending  map[string]authRequest
	codes    map[string]*authCode
	access   map[string]string // access token → user id
	tamper   func(claims map[string]any) string
	logins   []Login
}

type authRequest struct {
	ChannelID, RedirectURI, State, Scope, Nonce, BotPrompt, Challenge string
}

type authCode struct {
	req     authRequest
	userID  string
	expires time.Time
	used    bool
}

func (l *loginState) init() {
	if l.channels == nil {
		l.channels = map[string]*LoginChannel{}
		l.users = map[string]LoginUser{}
		l.pending = map[string]authRequest{}
		l.codes = map[string]*authCode{}
		l.access = map[string]string{}
	}
}

// AddLoginChannel registers (or replaces) a LINE Login channel.
func (s *Server) AddLoginChannel(ch LoginChannel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login.init()
	c := ch
	s.login.channels[ch.ID] = &c
}

// AddLoginUser adds a user who can log in (any channel: user ids are per
// provider, and the double has one provider).
func (s *Server) AddLoginUser(u LoginUser) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login.init()
	if _, ok := s.login.users[u.UserID]; !ok {
		s.login.order = append(s.login.order, u.UserID)
	}
	s.login.users[u.UserID] = u
}

// SetIDTokenTamper installs f, called with the claims of every ID token
// the token endpoint issues: it may change them, and returns the secret to
// sign with ("" = the channel's). nil removes it. Tests use it for
// expired, forged or misaddressed tokens.
func (s *Server) SetIDTokenTamper(f func(claims map[string]any) (secret string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login.tamper = f
}

// Logins returns the logins completed so far (token requests answered).
func (s *Server) Logins() []Login {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.login.logins)
}

// SignIDToken signs claims as a LINE web login ID token (HS256).
func SignIDToken(secret string, claims any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"JWT","alg":"HS256"}`))
	b, _ := json.Marshal(claims)
	p := base64.RawURLEncoding.EncodeToString(b)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// serveLogin answers the LINE Login paths; false for any other path.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) bool {
	switch p := r.URL.Path; {
	case p == "/oauth2/v2.1/authorize" && r.Method == http.MethodGet:
		s.authorize(w, r)
	case p == "/oauth2/v2.1/authorize/consent" && r.Method == http.MethodPost:
		s.consent(w, r)
	case p == "/oauth2/v2.1/token" && r.Method == http.MethodPost:
		s.loginToken(w, r)
	case p == "/oauth2/v2.1/verify" && r.Method == http.MethodPost:
		s.verifyIDToken(w, r)
	case p == "/v2/profile" && r.Method == http.MethodGet:
		s.loginProfile(w, r)
	default:
		return false
	}
	return true
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc})
}

// registered tells whether redirect matches a callback URL; LINE lets the
// app add query parameters to a registered URL.
func registered(ch *LoginChannel, redirect string) bool {
	u, err := url.Parse(redirect)
	if err != nil {
		return false
	}
	u.RawQuery = ""
	for _, cb := range ch.CallbackURLs {
		if cb == redirect || cb == u.String() {
			return true
		}
	}
	return false
}

func errorPage(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = template.Must(template.New("e").Parse(`<!doctype html><title>LINE Login error</title><h1 id="login-error">{{.}}</h1>`)).Execute(w, msg)
}

func backTo(redirect string, q url.Values) string {
	u, _ := url.Parse(redirect)
	cur := u.Query()
	for k, v := range q {
		cur[k] = v
	}
	u.RawQuery = cur.Encode()
	return u.String()
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.login.init()
	ch, ok := s.login.channels[q.Get("client_id")]
	s.mu.Unlock()
	if !ok {
		errorPage(w, "400 Bad Request: invalid client_id")
		return
	}
	redirect := q.Get("redirect_uri")
	if !registered(ch, redirect) {
		errorPage(w, "400 Bad Request: Invalid redirect_uri value. Check if it is registered in a LINE developers site.")
		return
	}
	fail := func(code, desc string) {
		http.Redirect(w, r, backTo(redirect, url.Values{"error": {code}, "error_description": {desc}, "state": {q.Get("state")}}), http.StatusFound)
	}
	scopes := strings.Fields(q.Get("scope"))
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "response_type must be code")
		return
	case q.Get("state") == "":
		fail("invalid_request", "state is required")
		return
	case len(scopes) == 0:
		fail("invalid_scope", "scope is required")
		return
	case q.Get("code_challenge") != "" && q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
		return
	case q.Get("bot_prompt") != "" && q.Get("bot_prompt") != "normal" && q.Get("bot_prompt") != "aggressive":
		fail("invalid_request", "bot_prompt must be normal or aggressive")
		return
	}
	for _, sc := range scopes {
		if sc != "openid" && sc != "profile" && sc != "email" {
			fail("invalid_scope", "unknown scope "+sc)
			return
		}
	}
	req := authRequest{ChannelID: ch.ID, RedirectURI: redirect, State: q.Get("state"), Scope: strings.Join(scopes, " "),
		Nonce: q.Get("nonce"), BotPrompt: q.Get("bot_prompt"), Challenge: q.Get("code_challenge")}
	if uid := q.Get("linetest_user"); uid != "" {
		http.Redirect(w, r, s.approve(req, uid, true), http.StatusFound)
		return
	}
	id := randHex(16)
	s.mu.Lock()
	s.login.pending[id] = req
	users := make([]LoginUser, 0, len(s.login.order))
	for _, uid := range s.login.order {
		users = append(users, s.login.users[uid])
	}
	linked := ch.LinkedBotToken != ""
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = consentPage.Execute(w, map[string]any{"Req": id, "Users": users, "BotPrompt": req.BotPrompt != "" && linked})
}

var consentPage = template.Must(template.New("c").Parse(`<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"><title>LINE Login (linetest)</title></head><body>
<h1>LINE Login (linetest)</h1>
<form method="post" action="/oauth2/v2.1/authorize/consent">
<input type="hidden" name="req" value="{{.Req}}">
{{if .BotPrompt}}<label><input type="checkbox" name="add_friend" value="1" id="add-friend" checked> Add as friend</label>{{end}}
{{range .Users}}<p><button name="user" value="{{.UserID}}" id="login-{{.UserID}}">Log in as {{.Name}}</button></p>{{end}}
<p><button name="cancel" value="1" id="cancel">Cancel</button></p>
</form></body></html>`))

func (s *Server) consent(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		errorPage(w, "bad form")
		return
	}
	s.mu.Lock()
	req, ok := s.login.pending[r.PostForm.Get("req")]
	delete(s.login.pending, r.PostForm.Get("req"))
	s.mu.Unlock()
	if !ok {
		errorPage(w, "this login page has expired")
		return
	}
	if r.PostForm.Get("cancel") != "" {
		// What LINE sends when the user cancels on the consent screen.
		http.Redirect(w, r, backTo(req.RedirectURI, url.Values{"error": {"access_denied"},
			"error_description": {"The resource owner denied the request."}, "state": {req.State}}), http.StatusFound)
		return
	}
	http.Redirect(w, r, s.approve(req, r.PostForm.Get("user"), r.PostForm.Get("add_friend") != ""), http.StatusFound)
}

// approve logs uid in for req and returns the callback URL with a code.
func (s *Server) approve(req authRequest, uid string, addFriend bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.login.users[uid]
	if !ok {
		return backTo(req.RedirectURI, url.Values{"error": {"access_denied"}, "error_description": {"unknown test user"}, "state": {req.State}})
	}
	code := randHex(10)
	s.login.codes[code] = &authCode{req: req, userID: u.UserID, expires: s.opts.Now().Add(LoginCodeTTL)}
	q := url.Values{"code": {code}, "state": {req.State}}
	ch := s.login.channels[req.ChannelID]
	if req.BotPrompt != "" && ch.LinkedBotToken != "" {
		changed := false
		if c, ok := s.channels[ch.LinkedBotToken]; ok && addFriend {
			fu := c.user(u.UserID)
			if !fu.friend || fu.blocked {
				changed = true
				fu.friend, fu.blocked = true, false
				fu.profile = line.Profile{UserID: u.UserID, DisplayName: u.Name, PictureURL: u.PictureURL}
				c.markFollowed(u.UserID, fu)
			}
		}
		q.Set("friendship_status_changed", strconv.FormatBool(changed))
	}
	return backTo(req.RedirectURI, q)
}

func (s *Server) loginToken(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Content-Type must be application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.login.init()
	ch, ok := s.login.channels[f.Get("client_id")]
	if !ok || subtle.ConstantTimeCompare([]byte(ch.Secret), []byte(f.Get("client_secret"))) != 1 {
		oauthError(w, http.StatusBadRequest, "invalid_client", "invalid client_id or client_secret")
		return
	}
	c, ok := s.login.codes[f.Get("code")]
	switch {
	case !ok || c.req.ChannelID != ch.ID:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "invalid authorization code")
		return
	case c.used:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "authorization code has already been used")
		return
	case !s.opts.Now().Before(c.expires):
		oauthError(w, http.StatusBadRequest, "invalid_grant", "authorization code expired")
		return
	}
	// Used is final even when the rest fails: a code works once.
	c.used = true
	if f.Get("redirect_uri") != c.req.RedirectURI {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	}
	if c.req.Challenge != "" {
		v := f.Get("code_verifier")
		sum := sha256.Sum256([]byte(v))
		if v == "" || base64.RawURLEncoding.EncodeToString(sum[:]) != c.req.Challenge {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "invalid code_verifier")
			return
		}
	}
	u := s.login.users[c.userID]
	now := s.opts.Now()
	claims := map[string]any{
		"iss": "https://access.line.me", "sub": u.UserID, "aud": ch.ID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "auth_time": now.Unix(),
		"amr": []string{"pwd"},
	}
	if c.req.Nonce != "" {
		claims["nonce"] = c.req.Nonce
	}
	scopes := strings.Fields(c.req.Scope)
	if slices.Contains(scopes, "profile") {
		claims["name"] = u.Name
		if u.PictureURL != "" {
			claims["picture"] = u.PictureURL
		}
	}
	if slices.Contains(scopes, "email") && ch.EmailPermission && u.Email != "" {
		claims["email"] = u.Email
	}
	secret := ch.Secret
	if s.login.tamper != nil {
		if alt := s.login.tamper(claims); alt != "" {
			secret = alt
		}
	}
	access := "lt" + randHex(24)
	s.login.access[access] = u.UserID
	s.login.logins = append(s.login.logins, Login{ChannelID: ch.ID, UserID: u.UserID, Scope: c.req.Scope})
	out := map[string]any{
		"access_token": access, "expires_in": 2592000, "refresh_token": "lr" + randHex(16),
		"scope": c.req.Scope, "token_type": "Bearer",
	}
	if slices.Contains(scopes, "openid") {
		out["id_token"] = SignIDToken(secret, claims)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) verifyIDToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "bad form")
		return
	}
	f := r.PostForm
	s.mu.Lock()
	s.login.init()
	ch, ok := s.login.channels[f.Get("client_id")]
	now := s.opts.Now()
	s.mu.Unlock()
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_client", "invalid client_id")
		return
	}
	parts := strings.Split(f.Get("id_token"), ".")
	bad := func(desc string) { oauthError(w, http.StatusBadRequest, "invalid_request", desc) }
	if len(parts) != 3 {
		bad("Invalid IdToken.")
		return
	}
	mac := hmac.New(sha256.New, []byte(ch.Secret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		bad("Invalid IdToken Signature.")
		return
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	if err != nil || json.Unmarshal(pb, &claims) != nil {
		bad("Invalid IdToken.")
		return
	}
	exp, _ := claims["exp"].(float64)
	switch {
	case claims["iss"] != "https://access.line.me":
		bad("Invalid IdToken Issuer.")
	case int64(exp) <= now.Unix():
		bad("IdToken expired.")
	case claims["aud"] != ch.ID:
		bad("Invalid IdToken Audience.")
	case f.Get("nonce") != "" && claims["nonce"] != f.Get("nonce"):
		bad("Invalid IdToken Nonce.")
	case f.Get("user_id") != "" && claims["sub"] != f.Get("user_id"):
		bad("Invalid IdToken Subject Identifier.")
	default:
		writeJSON(w, http.StatusOK, claims)
	}
}

func (s *Server) loginProfile(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	uid, known := s.login.access[token]
	u := s.login.users[uid]
	s.mu.Unlock()
	if !ok || !known {
		oauthError(w, http.StatusUnauthorized, "invalid_token", "The access token expired")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"userId": u.UserID, "displayName": u.Name, "pictureUrl": u.PictureURL})
}
