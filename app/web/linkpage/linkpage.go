// Package linkpage serves the public link pages: a person opens a link
// from an email (/link/{connection}/{signed token}) or from a website
// (/link/{connection}), logs in with LINE Login, and is linked to a HubSpot
// contact. No admin session is involved; the pages speak the visitor's
// language (Japanese unless the browser prefers English) and are made
// for phones first.
//
// Safety: the LINE user comes only from the ID token that LINE Login
// returns (verified in package login), never from a parameter. state,
// nonce and the PKCE verifier are random per login, kept server-side in a
// table bounded in size, per client address (an IPv6 client's /64) and in age (10 minutes), and
// used once; the browser holds only an HttpOnly, SameSite=Lax cookie (Secure
// over https) that binds the login to it. The only off-site redirect is to
// LINE's authorization URL that package login builds.
package linkpage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/text/language"

	"linehub/app/connections"
	"linehub/app/line/login"
	"linehub/app/store"
	"linehub/app/web/request"
	"linehub/assets"
)

// Errors a Linker returns for a token that links nothing.
var (
	ErrTokenInvalid = errors.New("link token is not valid")
	ErrTokenExpired = errors.New("link token has expired")
	ErrTokenUsed    = errors.New("link token was used by another LINE account")
)

// Errors a Linker's Link returns for a link it refuses, each with its own
// page; any other error is "something went wrong".
var (
	// ErrLinkedElsewhere: the LINE account is linked to another contact.
	ErrLinkedElsewhere = errors.New("this LINE account is already linked to another contact")
	// ErrNoEmail: without a token, LINE gave no email address to link by.
	ErrNoEmail = errors.New("LINE gave no email address")
	// ErrCannotLink: the contact cannot take this LINE account (taken by
	// another friend, gone, or its email is on several contacts).
	ErrCannotLink = errors.New("this contact cannot be linked")
)

// How a link was made.
const (
	HowLink  = "link"  // from a signed per-contact link
	HowEmail = "email" // from the website link, by the LINE account's email
)

// LinkRequest asks to link the LINE user of Identity (from a verified ID
// token) to the contact the token names (ContactID, "" without a token).
type LinkRequest struct {
	ConnID    int64
	Identity  login.Identity
	ContactID string
	Token     string
	How       string
}

// LinkResult is what linking did.
type LinkResult struct {
	ContactID string
	// Already: the LINE user was linked to this contact before; nothing changed.
	Already bool
}

// Linker checks tokens and links LINE users to contacts.
type Linker interface {
	// CheckToken returns the contact a token names for connID, or
	// ErrTokenInvalid / ErrTokenExpired / ErrTokenUsed.
	CheckToken(ctx context.Context, connID int64, token string) (contactID string, err error)
	Link(ctx context.Context, r LinkRequest) (LinkResult, error)
}

// Logins gives a connection's LINE Login client and settings, and tells
// whether a LINE user is a friend of its LINE Official Account
// (*connections.Registry).
type Logins interface {
	LoginClient(ctx context.Context, connID int64) (*login.Client, error)
	LineLogin(ctx context.Context, connID int64) (*store.LineLogin, error)
	LoginCallbackURL() string
	IsFriend(ctx context.Context, connID int64, userID string) (bool, error)
}

// Options wire the pages.
type Options struct {
	Logins Logins
	Linker Linker
	Logger *slog.Logger
	// MaxPending caps logins under way (default 10000), PerAddress those
	// of one client address (default 20); past either a visitor is asked
	// to try again shortly.
	MaxPending, PerAddress int
	// Now replaces time.Now.
	Now func() time.Time
}

// Pages serves the link pages.
type Pages struct {
	o       Options
	table   *pendingTable
	cat     map[string]map[string]string
	tmpl    *template.Template
	matcher language.Matcher
}

// pendingTTL is how long a login may take: LINE's authorization code
// lives 10 minutes too.
const pendingTTL = 10 * time.Minute

// cookieName holds the browser binding; path /link keeps it off every
// other page.
const cookieName = "linehub_link"

// New loads the pages' templates and texts.
func New(o Options) (*Pages, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPending <= 0 {
		o.MaxPending = 10000
	}
	if o.PerAddress <= 0 {
		o.PerAddress = 20
	}
	cat := map[string]map[string]string{}
	for _, lang := range []string{"ja", "en"} {
		b, err := fs.ReadFile(assets.UI, "i18n/"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("link pages catalogue %s: %w", lang, err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("link pages catalogue %s: %w", lang, err)
		}
		cat[lang] = m
	}
	body, err := fs.ReadFile(assets.UI, "templates/public/link.html")
	if err != nil {
		return nil, fmt.Errorf("link page template: %w", err)
	}
	t, err := template.New("link").Parse(string(body))
	if err != nil {
		return nil, fmt.Errorf("link page template: %w", err)
	}
	return &Pages{o: o, table: newPendingTable(o.MaxPending, o.PerAddress, pendingTTL), cat: cat, tmpl: t,
		// Japanese first: it wins unless the browser prefers English.
		matcher: language.NewMatcher([]language.Tag{language.Japanese, language.English})}, nil
}

// Routes registers the pages; the callback first, so that it is not
// taken for a connection.
func (p *Pages) Routes(app fiber.Router) {
	app.Get(connections.LoginCallbackPath, p.callback)
	app.Get("/link/:conn", p.start)
	app.Get("/link/:conn/:token", p.start)
}

// tokenRe bounds what a link token may look like before it reaches the
// Linker: URL-safe characters, at most 512 of them.
var tokenRe = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,512}$`)

func (p *Pages) start(c *fiber.Ctx) error {
	ctx := c.UserContext()
	connID, err := strconv.ParseInt(c.Params("conn"), 10, 64)
	if err != nil || connID <= 0 {
		return p.page(c, fiber.StatusNotFound, "invalid", "")
	}
	// Clone: the token outlives the handler in the pending table.
	token := strings.Clone(c.Params("token"))
	withToken := token != ""
	if withToken && !tokenRe.MatchString(token) {
		return p.page(c, fiber.StatusNotFound, "invalid", "")
	}
	if p.o.Linker == nil {
		return p.page(c, fiber.StatusNotFound, "unavailable", "")
	}
	cl, err := p.o.Logins.LoginClient(ctx, connID)
	if errors.Is(err, connections.ErrNoLineLogin) || errors.Is(err, store.ErrNotFound) {
		return p.page(c, fiber.StatusNotFound, "unavailable", "")
	}
	if err != nil {
		p.o.Logger.Error("link page: LINE Login client", "connection", connID, "err", err)
		return p.page(c, fiber.StatusInternalServerError, "failed", "")
	}
	settings, err := p.o.Logins.LineLogin(ctx, connID)
	if err != nil {
		p.o.Logger.Error("link page: LINE Login settings", "connection", connID, "err", err)
		return p.page(c, fiber.StatusInternalServerError, "failed", "")
	}
	var contactID string
	if withToken {
		contactID, err = p.o.Linker.CheckToken(ctx, connID, token)
		if err != nil {
			return p.tokenProblem(c, connID, err)
		}
	}
	st, err := cl.Begin(settings.WithEmail)
	if err != nil {
		p.o.Logger.Error("link page: begin LINE Login", "connection", connID, "err", err)
		return p.page(c, fiber.StatusInternalServerError, "failed", "")
	}
	binding := strings.Clone(c.Cookies(cookieName))
	if !bindingRe.MatchString(binding) {
		if binding, err = randomHex(32); err != nil {
			return err
		}
	}
	pend := pending{ConnID: connID, Token: token, ContactID: contactID, Nonce: st.Nonce, Verifier: st.Verifier,
		Binding: binding, Client: strings.Clone(request.ClientIP(c))}
	if err := p.table.add(st.State, pend, p.o.Now()); err != nil {
		p.o.Logger.Warn("link page: too many logins under way", "connection", connID, "client", pend.Client, "pending", p.table.len())
		c.Set(fiber.HeaderRetryAfter, "60")
		return p.page(c, fiber.StatusServiceUnavailable, "busy", "")
	}
	c.Cookie(&fiber.Cookie{Name: cookieName, Value: binding, Path: "/link", MaxAge: int(pendingTTL / time.Second),
		HTTPOnly: true, Secure: p.secure(c), SameSite: fiber.CookieSameSiteLaxMode})
	p.noStore(c)
	// The one off-site redirect: LINE's authorization page, built by login.
	return c.Redirect(st.URL, fiber.StatusFound)
}

var bindingRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// secure tells whether the cookie is marked Secure: when LINE sends the
// visitor back to an https callback URL (the cookie must come back
// there), or when this request came over https.
func (p *Pages) secure(c *fiber.Ctx) bool {
	return strings.HasPrefix(p.o.Logins.LoginCallbackURL(), "https://") || c.Protocol() == "https"
}

func (p *Pages) tokenProblem(c *fiber.Ctx, connID int64, err error) error {
	switch {
	case errors.Is(err, ErrTokenExpired):
		return p.page(c, fiber.StatusGone, "expired", "")
	case errors.Is(err, ErrTokenUsed):
		return p.page(c, fiber.StatusConflict, "used", "")
	case errors.Is(err, ErrTokenInvalid):
		return p.page(c, fiber.StatusNotFound, "invalid", "")
	}
	p.o.Logger.Error("link page: check token", "connection", connID, "err", err)
	return p.page(c, fiber.StatusInternalServerError, "failed", "")
}

// callbackQuery is what LINE sends back to the callback URL.
type callbackQuery struct {
	Code, State             string
	Error, ErrorDescription string
	// FriendshipChanged is friendship_status_changed: "true" when the
	// person added the linked LINE Official Account while logging in.
	FriendshipChanged string
}

// maxQuery bounds the callback's query string; LINE's is a few hundred bytes.
const maxQuery = 4096

// parseCallback reads the callback's raw query. Its strings are copies,
// never fasthttp's buffers.
func parseCallback(raw string) (callbackQuery, error) {
	if len(raw) > maxQuery {
		return callbackQuery{}, fmt.Errorf("callback query of %d bytes", len(raw))
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return callbackQuery{}, fmt.Errorf("callback query: %w", err)
	}
	one := func(k string) (string, error) {
		if len(q[k]) > 1 {
			return "", fmt.Errorf("callback query repeats %s", k)
		}
		return strings.Clone(q.Get(k)), nil
	}
	var cb callbackQuery
	for _, f := range []struct {
		k string
		v *string
	}{{"code", &cb.Code}, {"state", &cb.State}, {"error", &cb.Error}, {"error_description", &cb.ErrorDescription},
		{"friendship_status_changed", &cb.FriendshipChanged}} {
		if *f.v, err = one(f.k); err != nil {
			return callbackQuery{}, err
		}
	}
	if cb.State == "" {
		return callbackQuery{}, errors.New("callback without state")
	}
	if cb.Error == "" && cb.Code == "" {
		return callbackQuery{}, errors.New("callback with neither code nor error")
	}
	return cb, nil
}

func (p *Pages) callback(c *fiber.Ctx) error {
	ctx := c.UserContext()
	cb, err := parseCallback(string(c.Request().URI().QueryString()))
	if err != nil {
		p.o.Logger.Warn("link callback: bad query", "err", err)
		return p.page(c, fiber.StatusBadRequest, "session", "")
	}
	pend, ok := p.table.take(cb.State, c.Cookies(cookieName), p.o.Now())
	if !ok {
		// An unknown, expired, reused or other browser's state: LINE's
		// guide says a mismatch may also be a failed auto login, so the
		// visitor is asked to open the link again.
		p.o.Logger.Warn("link callback: state not pending for this browser")
		return p.page(c, fiber.StatusBadRequest, "session", "")
	}
	retry := "/link/" + strconv.FormatInt(pend.ConnID, 10)
	if pend.Token != "" {
		retry += "/" + pend.Token
	}
	if cb.Error != "" {
		if strings.EqualFold(cb.Error, "access_denied") {
			return p.page(c, fiber.StatusOK, "cancelled", retry)
		}
		p.o.Logger.Warn("link callback: LINE Login error", "connection", pend.ConnID, "error", cb.Error, "description", cb.ErrorDescription)
		return p.page(c, fiber.StatusBadGateway, "failed", retry)
	}
	cl, err := p.o.Logins.LoginClient(ctx, pend.ConnID)
	if err != nil {
		p.o.Logger.Error("link callback: LINE Login client", "connection", pend.ConnID, "err", err)
		return p.page(c, fiber.StatusInternalServerError, "failed", retry)
	}
	id, err := cl.Finish(ctx, cb.Code, pend.Verifier, pend.Nonce)
	if err != nil {
		p.o.Logger.Warn("link callback: LINE Login refused", "connection", pend.ConnID, "err", err)
		status := fiber.StatusBadGateway
		if errors.Is(err, login.ErrCodeRejected) || errors.Is(err, login.ErrIDToken) {
			status = fiber.StatusBadRequest
		}
		return p.page(c, status, "failed", retry)
	}
	// The person must be a friend of the account, or have become one in
	// this login (bot_prompt=aggressive): otherwise the id is not one the
	// Messaging API knows, and nothing is linked.
	friend, err := p.o.Logins.IsFriend(ctx, pend.ConnID, id.UserID)
	if err != nil {
		p.o.Logger.Error("link callback: friendship", "connection", pend.ConnID, "user", id.UserID, "err", err)
		return p.page(c, fiber.StatusBadGateway, "failed", retry)
	}
	if !friend {
		p.o.Logger.Warn("link callback: the LINE Login user is not a friend of the account (declined to add it, blocked it, or the LINE Login channel is in another provider than the Messaging API channel)",
			"connection", pend.ConnID, "user", id.UserID, "friendship_changed", cb.FriendshipChanged)
		return p.page(c, fiber.StatusOK, "notfriend", retry)
	}
	how := HowLink
	if pend.Token == "" {
		how = HowEmail
	}
	res, err := p.o.Linker.Link(ctx, LinkRequest{ConnID: pend.ConnID, Identity: id, ContactID: pend.ContactID, Token: pend.Token, How: how})
	if err != nil {
		switch {
		case errors.Is(err, ErrTokenExpired) || errors.Is(err, ErrTokenUsed) || errors.Is(err, ErrTokenInvalid):
			return p.tokenProblem(c, pend.ConnID, err)
		case errors.Is(err, ErrLinkedElsewhere):
			p.o.Logger.Warn("link callback: LINE account linked elsewhere", "connection", pend.ConnID, "user", id.UserID, "err", err)
			return p.page(c, fiber.StatusConflict, "elsewhere", "")
		case errors.Is(err, ErrNoEmail):
			return p.page(c, fiber.StatusOK, "noemail", retry)
		case errors.Is(err, ErrCannotLink):
			p.o.Logger.Warn("link callback: contact cannot be linked", "connection", pend.ConnID, "user", id.UserID, "err", err)
			return p.page(c, fiber.StatusConflict, "cannot", "")
		}
		p.o.Logger.Error("link callback: link", "connection", pend.ConnID, "user", id.UserID, "err", err)
		return p.page(c, fiber.StatusInternalServerError, "failed", retry)
	}
	p.o.Logger.Info("linked LINE user to contact", "connection", pend.ConnID, "user", id.UserID, "contact", res.ContactID,
		"how", how, "already", res.Already, "friendship_changed", cb.FriendshipChanged == "true")
	if res.Already {
		return p.page(c, fiber.StatusOK, "already", "")
	}
	return p.page(c, fiber.StatusOK, "linked", "")
}

// pageData fills templates/public/link.html.
type pageData struct {
	Lang, DocTitle, Title, Text, Privacy string
	Kind                                 string
	Retry, RetryText                     string
	OK                                   bool
}

// lang picks the visitor's language: Japanese unless Accept-Language
// prefers English.
func (p *Pages) lang(c *fiber.Ctx) string {
	tags, _, _ := language.ParseAcceptLanguage(c.Get(fiber.HeaderAcceptLanguage))
	if len(tags) == 0 {
		return "ja"
	}
	_, i, conf := p.matcher.Match(tags...)
	if conf == language.No || i == 0 {
		return "ja"
	}
	return "en"
}

func (p *Pages) t(lang, key string) string {
	if s, ok := p.cat[lang][key]; ok {
		return s
	}
	return p.cat["en"][key]
}

// page answers with the page of kind; retry, when set, is an on-site
// path to start again.
func (p *Pages) page(c *fiber.Ctx, status int, kind, retry string) error {
	lang := p.lang(c)
	d := pageData{Lang: lang, Kind: kind, DocTitle: p.t(lang, "linkpage.doc_title"),
		Title: p.t(lang, "linkpage."+kind+"_title"), Text: p.t(lang, "linkpage."+kind),
		Privacy: p.t(lang, "linkpage.privacy"), OK: kind == "linked" || kind == "already"}
	if strings.HasPrefix(retry, "/link/") {
		d.Retry, d.RetryText = retry, p.t(lang, "linkpage.retry")
	}
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, d); err != nil {
		return fmt.Errorf("render link page %s: %w", kind, err)
	}
	p.noStore(c)
	c.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'none'")
	c.Set("Content-Language", lang)
	c.Vary(fiber.HeaderAcceptLanguage)
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// noStore keeps link pages out of caches, and their URLs (which carry
// the token) out of Referer headers.
func (p *Pages) noStore(c *fiber.Ctx) {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer")
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return hex.EncodeToString(b), nil
}
