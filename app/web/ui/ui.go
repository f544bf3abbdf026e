// Package ui serves the admin's browser dashboard: sign-in and first-run
// setup, settings and the wizard, connections, friends, jobs, broadcasts,
// 1:1 chat, templates and the workflow panel. Pages are rendered on the
// server from the templates, catalogues and static files of package
// assets. The router in package web mounts it next to the JSON API; both
// share the request, response and jobrun packages.
package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/jobs"
	"linehub/app/linking"
	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web/request"
	"linehub/assets"
)

const (
	sessionCookie = "linehub_session"
	preCSRFCookie = "linehub_csrf" // double-submit token for forms shown before sign-in
	langCookie    = "linehub_lang"
	sessionTTL    = 12 * time.Hour
)

// Options wires the dashboard to the rest of linehub.
type Options struct {
	Connections *connections.Registry
	Sync        *contactsync.Sync
	Messaging   *messaging.Service
	Store       *store.Store
	Config      *config.Config
	Logger      *slog.Logger
	Version     string
	Jobs        *jobs.Scheduler  // nil: the job pages say the scheduler is off
	Linking     *linking.Service // nil: no linking pages
}

// Server holds what the dashboard's handlers use.
type Server struct {
	conns *connections.Registry
	sync  *contactsync.Sync
	msg   *messaging.Service
	st    *store.Store
	cfg   *config.Config
	log   *slog.Logger
	ver   string
	jobs  *jobs.Scheduler
	link  *linking.Service
	ui    *ui

	results connResults // outcomes of Verify and webhook registration, shown once
	checks  lineChecks  // what LINE said about each channel's setup, briefly kept
}

// New loads the dashboard's templates and catalogues; an error means the
// embedded assets are broken.
func New(o Options) (*Server, error) {
	s := &Server{conns: o.Connections, sync: o.Sync, msg: o.Messaging, st: o.Store, cfg: o.Config, log: o.Logger, ver: o.Version, jobs: o.Jobs, link: o.Linking}
	if err := s.initUI(); err != nil {
		return nil, err
	}
	return s, nil
}

// ui is the state of the browser dashboard.
type ui struct {
	cat     catalog
	pages   map[string]*template.Template
	pending bool        // no admin when the server started: the gate asks the database
	claimed atomic.Bool // an admin exists: the gate stops asking the database
	byIP    *limiter    // failures per client address: refuses
	byPair  *limiter    // failures per (address, email): refuses
	byEmail *limiter    // failures per email from anywhere: only slows down
	sleep   func(time.Duration)
	// jobsZone is where times are shown until HubSpot has told the
	// portal's time zone: the zone the job schedules are read in.
	jobsZone *time.Location
}

// page is what every template receives.
type page struct {
	L       *locale
	Title   string
	CSRF    string
	Admin   *store.Admin
	Flash   string
	Error   string
	Nav     string
	Version string
	Data    any
	// Unanswered is the menu's count of conversations waiting for an
	// answer, across all connections (signed-in pages only).
	Unanswered int64
	// ErrorNote is the fix link and detail of Error (from userError).
	ErrorNote *notice
	// Wizard: a first-run step, shown with a reduced header (only sign
	// out and the language) so the menu does not lead away half-way.
	Wizard bool
}

func (s *Server) initUI() error {
	cat, err := loadCatalog()
	if err != nil {
		return err
	}
	layout, err := fs.ReadFile(assets.UI, "templates/layout.html")
	if err != nil {
		return fmt.Errorf("layout template: %w", err)
	}
	names, err := fs.Glob(assets.UI, "templates/*.html")
	if err != nil {
		return err
	}
	// Partials (templates/partials) are sections shared by several pages.
	partials, err := readPartials()
	if err != nil {
		return err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		body, err := fs.ReadFile(assets.UI, n)
		if err != nil {
			return err
		}
		t, err := template.New("layout").Funcs(s.templateFuncs()).Parse(string(layout))
		for _, p := range partials {
			if err == nil {
				_, err = t.Parse(p)
			}
		}
		if err == nil {
			_, err = t.Parse(string(body))
		}
		if err != nil {
			return fmt.Errorf("template %s: %w", name, err)
		}
		pages[name] = t
	}
	s.ui = &ui{cat: cat, pages: pages,
		byIP: newLimiter(10, 15*time.Minute), byPair: newLimiter(5, 15*time.Minute), byEmail: newLimiter(5, 15*time.Minute),
		sleep: time.Sleep, jobsZone: time.UTC}
	if s.cfg != nil {
		if loc, err := s.cfg.Jobs.Location(); err == nil {
			s.ui.jobsZone = loc
		}
	}
	return nil
}

// templateFuncs are the helpers of every page. Times are shown in the
// portal's zone without naming it: the layout names it once per page.
func (s *Server) templateFuncs() template.FuncMap {
	return template.FuncMap{
		"when": func(t *time.Time) template.HTML {
			if t == nil || t.IsZero() {
				return "—"
			}
			return s.timeTag(*t)
		},
		"ms": func(ms int64) template.HTML {
			if ms == 0 {
				return "—"
			}
			return s.timeTag(time.UnixMilli(ms))
		},
		"at":        s.timeTag,
		"atText":    s.localTime, // for a time inside a translated sentence
		"zone":      func() string { return zoneName(s.zone(), time.Now()) },
		"add":       func(a, b int) int { return a + b },
		"shortUser": shortUserID,
		"join":      strings.Join,
		// LINE's stand-ins and sync reasons in the admin's language.
		"standin":  standin,
		"syncNote": syncNote,
		// The icon limit, for the browser's check before an upload is sent.
		"iconMaxBytes": func() int { return maxIconBytes },
		"iconMaxKB":    func() int { return maxIconBytes >> 10 },
		// The chat image limits, for the reply form and its check.
		"chatImageMaxBytes": func() int { return maxChatImageBytes },
		"chatImageMB":       func() int { return maxChatImageBytes >> 20 },
		"chatImageSide":     func() int { return maxChatImageSide },
		"initial": func(s string) string {
			for _, r := range s {
				return string(r)
			}
			return "?"
		},
	}
}

// zone is where the dashboard shows and reads times: the HubSpot portal's
// time zone (its users think in it), else the job schedules' zone, else
// UTC.
func (s *Server) zone() *time.Location {
	if s.conns != nil {
		if loc := s.conns.TimeZone(); loc != nil {
			return loc
		}
	}
	if s.ui != nil && s.ui.jobsZone != nil {
		return s.ui.jobsZone
	}
	return time.UTC
}

// localTime is a time as the pages show it, as text.
func (s *Server) localTime(t time.Time) string {
	return t.In(s.zone()).Format(timeLayout)
}

// timeLayout is how pages show a time. The no-break space keeps date and
// time together where text wraps.
const timeLayout = "2006-01-02\u00a015:04"

// timeTag is a time as a <time> element, which the stylesheet keeps on
// one line, with the exact instant for machines.
func (s *Server) timeTag(t time.Time) template.HTML {
	t = t.In(s.zone())
	return template.HTML(`<time datetime="` + t.Format(time.RFC3339) + `">` + t.Format(timeLayout) + `</time>`)
}

// zoneName names a zone for people: its IANA name and, where one exists,
// its abbreviation at t ("Asia/Tokyo (JST)").
func zoneName(loc *time.Location, t time.Time) string {
	abbr := t.In(loc).Format("MST")
	if abbr == loc.String() || strings.ContainsAny(abbr, "+-") {
		return loc.String()
	}
	return loc.String() + " (" + abbr + ")"
}

// when shows a time in UTC, named, for messages worded outside a page's
// zone note; "—" for none.
func (s *Server) whenText(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return s.localTime(*t)
}

// StartSetup creates the one-time link when no admin exists yet and
// returns it ("" when the claim is done).
func (s *Server) StartSetup(ctx context.Context) (string, error) {
	has, err := s.st.HasAdmin(ctx)
	if err != nil {
		return "", err
	}
	if has {
		return "", nil
	}
	link, err := MintSetupLink(ctx, s.st, s.cfg)
	if err != nil {
		return "", err
	}
	s.ui.pending = true
	return link, nil
}

// Routes registers the admin's browser pages. Middleware is attached
// per route (not with Use) so that the webhook, the API and the 404
// for unknown paths stay as they are.
func (s *Server) Routes(app *fiber.App) {
	app.Get("/static/:file", s.static)
	app.Get("/favicon.ico", s.favicon)
	app.Get(chatImagePath+":name", s.chatImage)
	app.Get("/lang/:code", s.setLang)
	open := func(h fiber.Handler) []fiber.Handler { return []fiber.Handler{s.setupGate, s.csrf, h} }
	authed := func(h fiber.Handler) []fiber.Handler {
		return []fiber.Handler{s.setupGate, s.requireSession, s.csrf, h}
	}
	app.Get("/setup", open(s.setupForm)...)
	app.Post("/setup", open(s.setupSubmit)...)
	app.Get("/login", open(s.loginForm)...)
	app.Post("/login", open(s.loginSubmit)...)

	app.Post("/logout", authed(s.logout)...)
	app.Get("/", authed(s.dashboard)...)
	app.Get("/settings", authed(s.settingsPage)...)
	app.Get("/wizard/:step", authed(s.wizardPage)...)
	app.Post("/settings/domain", authed(s.saveDomain)...)
	app.Post("/settings/hubspot", authed(s.saveHubSpot)...)
	app.Post("/settings/tier", authed(s.saveTier)...)
	app.Post("/settings/hubspot-app", authed(s.saveHubSpotApp)...)
	app.Post("/settings/hubspot-app/remove", authed(s.removeHubSpotApp)...)
	app.Post("/settings/password", authed(s.savePassword)...)
	app.Get("/settings/hubspot-app.zip", authed(s.hubspotAppZip)...)
	app.Get("/connections/new", authed(s.newConnectionForm)...)
	app.Post("/connections", append([]fiber.Handler{s.oversizedIcon}, authed(s.createConnection)...)...)
	app.Get("/connections/:id", authed(s.connectionPage)...)
	app.Get("/connections/:id/icon", authed(s.connectionIcon)...)
	app.Get("/connections/:id/friends", authed(s.friendsPage)...)
	app.Post("/connections/:id/edit", append([]fiber.Handler{s.oversizedIcon}, authed(s.editConnection)...)...)
	app.Post("/connections/:id/credentials", authed(s.saveCredentials)...)
	app.Post("/connections/:id/line-login", authed(s.saveLineLogin)...)
	app.Post("/connections/:id/verify", authed(s.verifyConnection)...)
	app.Post("/connections/:id/webhook", authed(s.registerWebhook)...)
	app.Post("/connections/:id/check", authed(s.recheckConnection)...)
	app.Post("/connections/:id/properties", authed(s.retryProperties)...)
	app.Post("/connections/:id/delete", authed(s.deleteConnection)...)
	app.Get("/tokens", authed(s.tokensPage)...)
	app.Post("/tokens", authed(s.createToken)...)
	app.Post("/tokens/:id/revoke", authed(s.revokeToken)...)
	s.jobRoutes(app, authed)
	s.messagingRoutes(app, authed)
	s.linkingRoutes(app, authed)
}

func (s *Server) static(c *fiber.Ctx) error {
	name := c.Params("file")
	b, err := fs.ReadFile(assets.UI, "static/"+name)
	if err != nil || strings.Contains(name, "/") {
		return fiber.NewError(fiber.StatusNotFound, "no such file")
	}
	c.Type(strings.TrimPrefix(name[strings.LastIndex(name, "."):], "."), "utf-8")
	c.Set("Cache-Control", "public, max-age=3600")
	return c.Send(b)
}

// favicon answers the address browsers and other clients ask for an icon
// by themselves, so that it is not a 404 in every log; the pages name the
// SVG icon, which is the same picture.
func (s *Server) favicon(c *fiber.Ctx) error {
	b, err := fs.ReadFile(assets.UI, "static/icon.svg")
	if err != nil {
		return fmt.Errorf("favicon: %w", err)
	}
	c.Set(fiber.HeaderContentType, "image/svg+xml")
	c.Set("Cache-Control", "public, max-age=86400")
	return c.Send(b)
}

func (s *Server) locale(c *fiber.Ctx) *locale {
	return s.ui.cat.locale(pickLang(c.Cookies(langCookie), c.Get("Accept-Language")))
}

func (s *Server) setLang(c *fiber.Ctx) error {
	code := pickLang(c.Params("code"), "")
	c.Cookie(&fiber.Cookie{Name: langCookie, Value: code, Path: "/", MaxAge: 365 * 86400, HTTPOnly: true, SameSite: "Lax", Secure: s.secure(c)})
	return c.Redirect(localPath(c.Query("back")), fiber.StatusSeeOther)
}

// secure tells whether cookies must carry Secure: served over TLS, or a
// domain is configured (TLS terminates here or at a proxy in front).
func (s *Server) secure(c *fiber.Ctx) bool {
	return c.Protocol() == "https" || s.cfg.Domain != "" || strings.HasPrefix(s.cfg.EffectivePublicURL(), "https://")
}

// render writes a page; status 0 means 200.
func (s *Server) render(c *fiber.Ctx, status int, name string, p *page) error {
	t := s.ui.pages[name]
	if t == nil {
		return fmt.Errorf("no template %q", name)
	}
	if p.L == nil {
		p.L = s.locale(c)
	}
	if p.CSRF == "" {
		p.CSRF = s.csrfToken(c)
	}
	if a, ok := c.Locals("admin").(*store.Admin); ok {
		p.Admin = a
		// The badge is a hint: a failure to count shows no badge rather
		// than no page.
		n, err := s.st.UnansweredCount(c.UserContext())
		if err != nil {
			s.log.Warn("count unanswered conversations", "err", err)
		}
		p.Unanswered = n
	}
	if n, ok := c.Locals("errnote").(*notice); ok && n.Text != "" && strings.HasSuffix(p.Error, n.Text) && p.ErrorNote == nil {
		p.ErrorNote = n
	}
	if ok := c.Query("ok"); ok != "" && p.L.Has(ok) && p.Flash == "" {
		p.Flash = p.L.T(ok)
	}
	p.Version = s.ver
	var buf bytes.Buffer
	if err := t.Execute(&buf, p); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if status == 0 {
		status = fiber.StatusOK
	}
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "same-origin")
	c.Set("Cache-Control", "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// setupGate answers every page with "setup pending" until the admin
// account exists, except the one-time setup link itself.
func (s *Server) setupGate(c *fiber.Ctx) error {
	if !s.ui.pending || s.ui.claimed.Load() {
		return c.Next()
	}
	has, err := s.st.HasAdmin(c.UserContext())
	if err != nil {
		return err
	}
	if has {
		s.ui.claimed.Store(true)
		return c.Next()
	}
	tok := c.Query("token")
	if c.Method() == fiber.MethodPost {
		tok = c.FormValue("token")
	}
	if c.Path() == "/setup" && s.setupTokenValid(c.UserContext(), tok) {
		return c.Next()
	}
	if c.Path() == "/setup" && tok != "" {
		// Someone followed a setup link that no longer works: say so and
		// how to get a new one, rather than the general waiting page.
		return s.render(c, fiber.StatusForbidden, "setup_expired", &page{Title: "setup.expired_title"})
	}
	return s.render(c, fiber.StatusForbidden, "pending", &page{Title: "pending.title"})
}

func (s *Server) csrfToken(c *fiber.Ctx) string {
	if sess, ok := c.Locals("session").(*store.Session); ok {
		return sess.CSRF
	}
	if v := c.Cookies(preCSRFCookie); len(v) >= 32 {
		return v
	}
	v, _ := c.Locals("precsrf").(string)
	if v == "" {
		v = randomToken()
		c.Locals("precsrf", v)
		c.Cookie(&fiber.Cookie{Name: preCSRFCookie, Value: v, Path: "/", HTTPOnly: true, SameSite: "Lax", Secure: s.secure(c)})
	}
	return v
}

// csrf rejects a state-changing request whose form token does not match
// the session's (or, before sign-in, the double-submit cookie).
func (s *Server) csrf(c *fiber.Ctx) error {
	if c.Method() != fiber.MethodPost {
		return c.Next()
	}
	want := ""
	if sess, ok := c.Locals("session").(*store.Session); ok {
		want = sess.CSRF
	} else {
		want = c.Cookies(preCSRFCookie)
	}
	got := c.FormValue("csrf")
	if want == "" || len(got) != len(want) || got != want {
		l := s.locale(c)
		return s.render(c, fiber.StatusForbidden, "message", &page{L: l, Title: "csrf.title", Error: l.T("csrf.body")})
	}
	return c.Next()
}

func (s *Server) requireSession(c *fiber.Ctx) error {
	v := c.Cookies(sessionCookie)
	if v != "" {
		sess, err := s.st.Session(c.UserContext(), v)
		if err == nil {
			a, err := s.st.Admin(c.UserContext(), sess.AdminID)
			if err == nil {
				c.Locals("session", sess)
				c.Locals("admin", a)
				return c.Next()
			}
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if c.Method() != fiber.MethodGet {
		return s.render(c, fiber.StatusUnauthorized, "message", &page{Title: "login.title", Error: s.locale(c).T("login.expired")})
	}
	return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
}

// startSession signs the admin in with a brand-new session id, dropping
// whatever session cookie the browser brought (fixation).
func (s *Server) startSession(c *fiber.Ctx, adminID int64) error {
	if old := c.Cookies(sessionCookie); old != "" {
		if err := s.st.DeleteSession(c.UserContext(), old); err != nil {
			return err
		}
	}
	id := randomToken()
	if err := s.st.CreateSession(c.UserContext(), id, adminID, randomToken(), sessionTTL); err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: sessionCookie, Value: id, Path: "/", HTTPOnly: true, SameSite: "Lax", Secure: s.secure(c), Expires: time.Now().Add(sessionTTL)})
	c.ClearCookie(preCSRFCookie)
	return nil
}

func (s *Server) setupForm(c *fiber.Ctx) error {
	if has, err := s.st.HasAdmin(c.UserContext()); err != nil || has || !s.setupTokenValid(c.UserContext(), c.Query("token")) {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	return s.render(c, 0, "setup", &page{Title: "setup.title", Data: fiber.Map{"Token": c.Query("token"), "Email": ""}})
}

// setupSubmit creates the first admin. It checks the one-time link itself
// rather than trusting the gate: the gate lets everything through once an
// admin existed, and the admin table may have been emptied since.
func (s *Server) setupSubmit(c *fiber.Ctx) error {
	l := s.locale(c)
	tok := c.FormValue("token")
	if !s.setupTokenValid(c.UserContext(), tok) {
		s.log.Warn("setup refused: no live setup link", "ip", request.ClientIP(c))
		return s.render(c, fiber.StatusForbidden, "message", &page{L: l, Title: "setup.title", Error: l.T("setup.closed")})
	}
	email, pw := strings.TrimSpace(c.FormValue("email")), c.FormValue("password")
	data := fiber.Map{"Token": tok, "Email": email}
	fail := func(key string) error {
		return s.render(c, fiber.StatusBadRequest, "setup", &page{L: l, Title: "setup.title", Error: l.T(key), Data: data})
	}
	if !validEmail(email) {
		return fail("err.email")
	}
	if p := passwordProblem(pw, email); p != "" {
		return fail(p)
	}
	if pw != c.FormValue("password2") {
		return fail("err.password_mismatch")
	}
	var hash string
	var err error
	if !argonGate.run(func() { hash, err = hashPassword(pw) }) {
		return s.busy(c, fiber.StatusServiceUnavailable, "setup", "setup.title", data)
	}
	if err != nil {
		return err
	}
	a, err := s.st.CreateFirstAdmin(c.UserContext(), email, hash)
	if errors.Is(err, store.ErrAdminExists) {
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
	if err != nil {
		return err
	}
	if err := s.st.SetSetting(c.UserContext(), settingSetupKey, ""); err != nil {
		// The admin exists, so the link admits nobody any more anyway.
		s.log.Error("retire the setup link", "err", err)
	}
	s.log.Info("admin account created; setup link retired", "admin_id", a.ID)
	if err := s.startSession(c, a.ID); err != nil {
		return err
	}
	return c.Redirect("/wizard/domain", fiber.StatusSeeOther)
}

func validEmail(e string) bool {
	at := strings.LastIndex(e, "@")
	return len(e) <= 254 && at > 0 && at < len(e)-3 && strings.Contains(e[at:], ".") && !strings.ContainsAny(e, " \t\r\n<>\"")
}

func (s *Server) loginForm(c *fiber.Ctx) error {
	return s.render(c, 0, "login", &page{Title: "login.title", Data: fiber.Map{"Next": localPath(c.Query("next")), "Email": ""}})
}

// localPath returns p when it is a path on this site, safe as a redirect
// target, else "/". Browsers read a Location leniently (a backslash as
// "/", tabs and newlines dropped), so "/\evil.com" or "/<tab>/evil.com" lead to
// another host although they start with one slash: only printable ASCII
// without backslashes passes (a page's own address, percent-encoded, is
// that), and it must parse as a path with no scheme or host.
func localPath(p string) string {
	if len(p) == 0 || len(p) > 2048 || p[0] != '/' || (len(p) > 1 && (p[1] == '/' || p[1] == '\\')) {
		return "/"
	}
	for i := 0; i < len(p); i++ {
		if b := p[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return p
}

// maxEmailLen is the longest address a mailbox can have (RFC 5321's path
// limit); no admin can have a longer one.
const maxEmailLen = 254

// dummyHash is checked for an unknown email, so that timing does not
// reveal which accounts exist.
const dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"

func (s *Server) loginSubmit(c *fiber.Ctx) error {
	l := s.locale(c)
	next := localPath(c.FormValue("next"))
	ip := request.ClientIP(c)
	email := strings.TrimSpace(c.FormValue("email"))
	if len(email) > maxEmailLen {
		// No account has such an address: refused before anything about
		// it is kept or hashed.
		s.log.Warn("sign-in failed: email too long", "ip", ip, "bytes", len(email))
		return s.render(c, fiber.StatusUnauthorized, "login", &page{L: l, Title: "login.title", Error: l.T("login.bad"), Data: fiber.Map{"Next": next, "Email": ""}})
	}
	email = strings.ToLower(email)
	data := fiber.Map{"Next": next, "Email": email}
	now := time.Now()
	addr := request.AddressGroup(ip)
	ipKey, pairKey, emailKey := keyOf(addr), keyOf(addr+"\x00"+email), keyOf(email)
	// The attempt is counted as a failure before the hash runs and given
	// back if it was not one, so parallel attempts cannot all pass.
	// Only the address and the (address, email) pair refuse: a per-email
	// refusal would let anyone lock the owner out by failing on purpose.
	if !s.ui.byIP.take(ipKey, now) {
		s.log.Warn("sign-in rate limited", "ip", ip, "by", "address")
		return s.render(c, fiber.StatusTooManyRequests, "login", &page{L: l, Title: "login.title", Error: l.T("login.too_many"), Data: data})
	}
	if !s.ui.byPair.take(pairKey, now) {
		s.ui.byIP.undo(ipKey)
		s.log.Warn("sign-in rate limited", "ip", ip, "by", "address and email")
		return s.render(c, fiber.StatusTooManyRequests, "login", &page{L: l, Title: "login.title", Error: l.T("login.too_many"), Data: data})
	}
	giveBack := func() {
		s.ui.byIP.undo(ipKey)
		s.ui.byPair.undo(pairKey)
		s.ui.byEmail.undo(emailKey)
	}
	// Failures for this email from many addresses slow every attempt for
	// it down (outside the hash gate, which the wait must not occupy).
	if d := emailDelay(s.ui.byEmail.add(emailKey, now)); d > 0 {
		s.log.Warn("sign-in slowed down", "ip", ip, "by", "email", "delay", d)
		s.ui.sleep(d)
	}
	a, err := s.st.AdminByEmail(c.UserContext(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		giveBack()
		return err
	}
	phc := dummyHash
	if a != nil {
		phc = a.PasswordHash
	}
	pw := c.FormValue("password")
	ok := false
	if !argonGate.run(func() { ok = checkPassword(phc, pw) }) {
		giveBack()
		s.log.Warn("sign-in refused: too many at once", "ip", ip)
		return s.busy(c, fiber.StatusServiceUnavailable, "login", "login.title", data)
	}
	if !ok || a == nil {
		s.log.Warn("sign-in failed", "ip", ip)
		return s.render(c, fiber.StatusUnauthorized, "login", &page{L: l, Title: "login.title", Error: l.T("login.bad"), Data: data})
	}
	s.ui.byIP.undo(ipKey)
	s.ui.byPair.reset(pairKey)
	s.ui.byEmail.reset(emailKey)
	if err := s.startSession(c, a.ID); err != nil {
		return err
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}

// busy answers a form whose password hashing found the gate full.
func (s *Server) busy(c *fiber.Ctx, status int, name, title string, data fiber.Map) error {
	l := s.locale(c)
	c.Set(fiber.HeaderRetryAfter, "1")
	return s.render(c, status, name, &page{L: l, Title: title, Error: l.T("login.busy"), Data: data})
}

func (s *Server) logout(c *fiber.Ctx) error {
	if err := s.st.DeleteSession(c.UserContext(), c.Cookies(sessionCookie)); err != nil {
		return err
	}
	c.ClearCookie(sessionCookie)
	return c.Redirect("/login", fiber.StatusSeeOther)
}

func (s *Server) savePassword(c *fiber.Ctx) error {
	l := s.locale(c)
	a := c.Locals("admin").(*store.Admin)
	cur, pw := c.FormValue("current"), c.FormValue("password")
	var curOK bool
	if !argonGate.run(func() { curOK = checkPassword(a.PasswordHash, cur) }) {
		c.Set(fiber.HeaderRetryAfter, "1")
		return s.settingsWith(c, fiber.StatusServiceUnavailable, "", l.T("login.busy"))
	}
	if !curOK {
		return s.settingsWith(c, fiber.StatusBadRequest, "", l.T("err.password_current"))
	}
	if p := passwordProblem(pw, a.Email); p != "" {
		return s.settingsWith(c, fiber.StatusBadRequest, "", l.T(p))
	}
	if pw != c.FormValue("password2") {
		return s.settingsWith(c, fiber.StatusBadRequest, "", l.T("err.password_mismatch"))
	}
	var hash string
	var err error
	if !argonGate.run(func() { hash, err = hashPassword(pw) }) {
		c.Set(fiber.HeaderRetryAfter, "1")
		return s.settingsWith(c, fiber.StatusServiceUnavailable, "", l.T("login.busy"))
	}
	if err != nil {
		return err
	}
	if err := s.st.SetAdminPassword(c.UserContext(), a.ID, hash, c.Cookies(sessionCookie)); err != nil {
		return err
	}
	return c.Redirect("/settings?ok=flash.password", fiber.StatusSeeOther)
}

// userError is the text to show for an error from connections, contact
// sync or messaging, in the
// admin's language (see explain). The link to the fix and the technical
// detail go with the page's error (render shows them).
func (s *Server) userError(c *fiber.Ctx, err error) string {
	n := s.explain(c, err)
	c.Locals("errnote", &n)
	return n.Text
}

func (s *Server) connParam(c *fiber.Ctx) (*store.Connection, error) {
	conn, err := request.Connection(c, s.st)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusNotFound, "no such connection")
	}
	return conn, err
}

var errNoIcon = errors.New("no icon")

// readIcon reads an uploaded icon; errNoIcon when none was sent.
func readIcon(c *fiber.Ctx) (string, []byte, error) {
	fh, err := c.FormFile("icon")
	if err != nil || fh.Size == 0 {
		return "", nil, errNoIcon
	}
	if fh.Size > maxIconBytes {
		return "", nil, &connections.InputError{Msg: "icon"}
	}
	f, err := fh.Open()
	if err != nil {
		return "", nil, fmt.Errorf("open upload: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxIconBytes+1))
	if err != nil {
		return "", nil, fmt.Errorf("read upload: %w", err)
	}
	return checkIcon(data)
}
