// Package web is linehub's HTTP entry point: the fiber app with its
// middleware (panic recovery, refusal of compressed bodies, security
// headers, the API token check) and router, and the machine endpoints:
// the LINE webhook, HubSpot's workflow hook, health, readiness, metrics
// and the status overview. It mounts the admin JSON API (package api)
// under /api/v1 and the browser dashboard (package ui) on the rest;
// those share the request, response and jobrun packages, never this one.
package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspotproject"
	"linehub/app/jobs"
	"linehub/app/linking"
	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web/api"
	"linehub/app/web/hubspotapp"
	"linehub/app/web/linkpage"
	"linehub/app/web/response"
	"linehub/app/web/ui"
)

// Options wires the HTTP handlers.
type Options struct {
	Connections *connections.Registry
	Sync        *contactsync.Sync
	Messaging   *messaging.Service
	Store       *store.Store
	Config      *config.Config
	Logger      *slog.Logger
	Version     string
	// SetupURL, when set, receives the one-time first-run link (serve
	// prints it); it is not called once an admin exists.
	SetupURL func(url string)
	// Jobs is the scheduler behind the jobs API; nil answers 503 there.
	Jobs *jobs.Scheduler
	// Linker links LINE users to contacts from the public link pages; nil
	// answers them with "not available".
	Linker linkpage.Linker
	// Linking links friends to HubSpot contacts; nil leaves its pages out.
	Linking *linking.Service
}

type server struct {
	conns *connections.Registry
	sync  *contactsync.Sync
	msg   *messaging.Service
	st    *store.Store
	cfg   *config.Config
	log   *slog.Logger
	ver   string
	ops   *opsState
}

// bodyLimit caps any request body; the webhook applies its own smaller
// limit so that it can answer with a clear 413.
const bodyLimit = ui.MaxRequestBytes

// New builds the fiber app with every route.
func New(o Options) *fiber.App {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &server{conns: o.Connections, sync: o.Sync, msg: o.Messaging, st: o.Store, cfg: o.Config, log: o.Logger, ver: o.Version}
	dash, err := ui.New(ui.Options{Connections: o.Connections, Sync: o.Sync, Messaging: o.Messaging, Store: o.Store, Config: o.Config, Logger: o.Logger, Version: o.Version, Jobs: o.Jobs, Linking: o.Linking})
	if err != nil {
		panic(err) // embedded templates are part of the build; a test catches this
	}
	dash.ApplySavedPublicURL()
	if link, err := dash.StartSetup(context.Background()); err != nil {
		s.log.Error("first-run setup link", "err", err)
	} else if link != "" {
		s.log.Warn("setup pending: open the one-time setup link (valid 30 minutes) to create the admin account", "url", link)
		if o.SetupURL != nil {
			o.SetupURL(link)
		}
	}
	// Browser pages get an error page; the API and machine paths JSON.
	jsonErrors := response.ErrorHandler(s.log)
	app := fiber.New(fiber.Config{
		AppName:   "linehub",
		BodyLimit: bodyLimit,
		// Bodies are read as streams and bounded by dash.BoundBody, so that
		// an oversized icon form can be answered with the form rather than
		// a reset connection. Multipart bodies are not parsed before the
		// handlers run: fasthttp would parse a streamed one of any size
		// into temporary files.
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		DisableStartupMessage:        true,
		ErrorHandler:                 dash.ErrorHandler(jsonErrors),
		ReadBufferSize:               16 << 10,
		// Without it every string fiber hands out (params, form values,
		// headers, query, cookies) points into fasthttp's request buffers,
		// which later requests reuse: one kept in the config, a cache or a
		// goroutine silently changes value.
		Immutable: true,
	})
	app.Use(s.recoverPanic, dash.BoundBody, refuseEncodedBody, securityHeaders)
	s.opsRoutes(app)
	app.Post("/webhook/:key", s.webhook)
	s.hookRoutes(app)
	hubspotapp.New(hubspotapp.Options{Connections: o.Connections, Sync: o.Sync, Messaging: o.Messaging, Store: o.Store,
		Config: o.Config, Logger: o.Logger, Linking: o.Linking}).Routes(app)
	linker := o.Linker
	if linker == nil && o.Linking != nil {
		linker = linkpage.FromLinking(o.Linking)
	}
	links, err := linkpage.New(linkpage.Options{Logins: o.Connections, Linker: linker, Logger: o.Logger})
	if err != nil {
		panic(err) // embedded templates are part of the build; a test catches this
	}
	links.Routes(app)
	v1 := app.Group("/api/v1", s.requireToken)
	v1.Get("/status", s.status)
	api.New(api.Options{Connections: o.Connections, Sync: o.Sync, Messaging: o.Messaging, Store: o.Store, Jobs: o.Jobs}).Routes(v1)
	dash.Routes(app)
	app.Use(func(c *fiber.Ctx) error {
		return fiber.NewError(fiber.StatusNotFound, "no such page: "+c.Method()+" "+c.Path())
	})
	return app
}

// recoverPanic turns a handler's panic into a logged 500 so one bad
// request cannot stop the service. Its own error (not the panic value) is
// returned, so a panicked fiber.Error or store error is never answered as
// if a handler had returned it.
func (s *server) recoverPanic(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("handler panicked", "method", c.Method(), "path", c.Path(),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = errPanic
		}
	}()
	return c.Next()
}

var errPanic = errors.New("handler panicked")

// refuseEncodedBody answers 415 to a request whose body is declared
// compressed, before any handler reads it. fasthttp inflates a gzip
// multipart form (behind every c.FormValue) and fiber's c.Body inflates
// gzip, deflate and br, all in memory and without limit, so a 1 MB request
// could take gigabytes. (While reading a request fasthttp parses only
// multipart bodies without a Content-Encoding, so nothing is inflated
// before this runs.) Neither LINE nor HubSpot documents compressed calls.
func refuseEncodedBody(c *fiber.Ctx) error {
	encoded := false
	c.Request().Header.VisitAll(func(k, v []byte) {
		if !encoded && bytes.EqualFold(k, headerContentEncoding) && !identityOnly(v) {
			encoded = true
		}
	})
	if encoded {
		return fiber.NewError(fiber.StatusUnsupportedMediaType,
			"compressed request bodies are not accepted: send the body without Content-Encoding")
	}
	return c.Next()
}

var headerContentEncoding = []byte(fiber.HeaderContentEncoding)

// identityOnly tells whether a Content-Encoding value names no coding but
// "identity" (or nothing).
func identityOnly(v []byte) bool {
	for _, part := range bytes.Split(v, []byte(",")) {
		if p := bytes.TrimSpace(part); len(p) > 0 && !bytes.EqualFold(p, []byte("identity")) {
			return false
		}
	}
	return true
}

// requireToken lets a request through with a valid API token.
func (s *server) requireToken(c *fiber.Ctx) error {
	h := c.Get(fiber.HeaderAuthorization)
	// The auth scheme is case-insensitive (RFC 9110 §11.1).
	scheme, token, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="linehub"`)
		return fiber.NewError(fiber.StatusUnauthorized, "missing bearer token: create one with `linehub token create --name NAME`")
	}
	if _, err := s.st.CheckAPIToken(c.UserContext(), strings.TrimSpace(token)); err != nil {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="linehub", error="invalid_token"`)
		return fiber.NewError(fiber.StatusUnauthorized, "invalid or revoked API token")
	}
	return c.Next()
}

// MintSetupLink stores a new one-time first-run link (replacing any
// earlier one) and returns it; store.ErrAdminExists once an admin exists.
func MintSetupLink(ctx context.Context, st *store.Store, cfg *config.Config) (string, error) {
	return ui.MintSetupLink(ctx, st, cfg)
}

// HashNewPassword checks a new admin password against the dashboard's
// rules and returns its hash; the error says in English what is wrong
// (the command line resets passwords with it).
func HashNewPassword(pw, email string) (string, error) { return ui.HashNewPassword(pw, email) }

// PasswordMatches tells whether pw is the password hashed in phc.
func PasswordMatches(phc, pw string) bool { return ui.PasswordMatches(phc, pw) }

// HubSpotAppOptions fills the HubSpot project for a process other than
// the server (the command line): the public URL in use, the wizard's
// saved one included, and the connections' LINE properties.
func HubSpotAppOptions(ctx context.Context, st *store.Store, cfg *config.Config) (hubspotproject.Options, error) {
	return ui.HubSpotAppOptions(ctx, st, cfg)
}
