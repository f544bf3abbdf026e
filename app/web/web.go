// Package web serves linehub's HTTP surface: the LINE webhook and the admin
// JSON API. It maps requests onto the bridge and errors onto status codes.
package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/jobs"
	"linehub/app/line"
	"linehub/app/messaging"
	"linehub/app/store"
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
	jobs  *jobs.Scheduler
	ui    *ui
}

// bodyLimit caps any request body; the webhook applies its own smaller
// limit so that it can answer with a clear 413.
const bodyLimit = 8 << 20

// New builds the fiber app with every route.
func New(o Options) *fiber.App {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &server{conns: o.Connections, sync: o.Sync, msg: o.Messaging, st: o.Store, cfg: o.Config, log: o.Logger, ver: o.Version, jobs: o.Jobs}
	if err := s.initUI(); err != nil {
		panic(err) // embedded templates are part of the build; a test catches this
	}
	s.applySavedPublicURL()
	if link, err := s.startSetup(context.Background()); err != nil {
		s.log.Error("first-run setup link", "err", err)
	} else if link != "" {
		s.log.Warn("setup pending: open the one-time setup link (valid 30 minutes) to create the admin account", "url", link)
		if o.SetupURL != nil {
			o.SetupURL(link)
		}
	}
	app := fiber.New(fiber.Config{
		AppName:               "linehub",
		BodyLimit:             bodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		ReadBufferSize:        16 << 10,
		// Without it every string fiber hands out (params, form values,
		// headers, query, cookies) points into fasthttp's request buffers,
		// which later requests reuse: one kept in the config, a cache or a
		// goroutine silently changes value.
		Immutable: true,
	})
	app.Use(s.recoverPanic, refuseEncodedBody, securityHeaders)
	s.opsRoutes(app)
	app.Post("/webhook/:key", s.webhook)
	s.hookRoutes(app)
	api := app.Group("/api/v1", s.requireToken)
	s.apiRoutes(api)
	s.jobRoutes(api)
	s.messagingRoutes(api)
	s.uiRoutes(app)
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

// errorHandler answers every error as {"error": "..."}; unexpected ones are
// logged in full and shown without internals.
func (s *server) errorHandler(c *fiber.Ctx, err error) error {
	status, msg := statusOf(err)
	if status >= 500 {
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "status", status, "err", err)
	}
	return c.Status(status).JSON(fiber.Map{"error": msg})
}

func statusOf(err error) (int, string) {
	var fe *fiber.Error
	var ie *connections.InputError
	switch {
	case errors.As(err, &fe):
		return fe.Code, fe.Message
	case errors.As(err, &ie):
		return fiber.StatusBadRequest, ie.Msg
	case errors.Is(err, store.ErrNotFound):
		return fiber.StatusNotFound, "not found"
	case errors.Is(err, store.ErrKeyReused):
		return fiber.StatusConflict, "this idempotency key was already used for another recipient or message; nothing was sent: use a new key for a new message"
	case errors.Is(err, store.ErrLimit):
		return fiber.StatusConflict, err.Error()
	case errors.Is(err, store.ErrClosed):
		return fiber.StatusServiceUnavailable, "shutting down"
	case isUpstream(err):
		return fiber.StatusBadGateway, err.Error()
	}
	return fiber.StatusInternalServerError, "internal error; the server log has the details"
}

// isUpstream tells failures of LINE or HubSpot (which the admin should
// see) from linehub's own (which stay in the log).
func isUpstream(err error) bool {
	var hsErr *hubspot.APIError
	var lineErr *line.APIError
	var netErr net.Error
	return errors.As(err, &hsErr) || errors.As(err, &lineErr) || errors.As(err, &netErr) ||
		errors.Is(err, hubspot.ErrDailyLimit) || errors.Is(err, context.DeadlineExceeded)
}
