// Package web serves linehub's HTTP surface: the LINE webhook and the admin
// JSON API. It maps requests onto the bridge and errors onto status codes.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net"

	"github.com/gofiber/fiber/v2"

	"linehub/app/bridge"
	"linehub/app/config"
	"linehub/app/hubspot"
	"linehub/app/jobs"
	"linehub/app/line"
	"linehub/app/store"
)

// Options wires the HTTP handlers.
type Options struct {
	Bridge  *bridge.Bridge
	Store   *store.Store
	Config  *config.Config
	Logger  *slog.Logger
	Version string
	// SetupURL, when set, receives the one-time first-run link (serve
	// prints it); it is not called once an admin exists.
	SetupURL func(url string)
	// Jobs is the scheduler behind the jobs API; nil answers 503 there.
	Jobs *jobs.Scheduler
}

type server struct {
	b    *bridge.Bridge
	st   *store.Store
	cfg  *config.Config
	log  *slog.Logger
	ver  string
	ops  *opsState
	jobs *jobs.Scheduler
	ui   *ui
}

// bodyLimit caps any request body; the webhook applies its own smaller
// limit so that it can answer with a clear 413.
const bodyLimit = 8 << 20

// New builds the fiber app with every route.
func New(o Options) *fiber.App {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &server{b: o.Bridge, st: o.Store, cfg: o.Config, log: o.Logger, ver: o.Version, jobs: o.Jobs}
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
		// which the next request on any connection overwrites: one kept in
		// the config, a cache or a goroutine silently changes value.
		Immutable: true,
	})
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
	var ie *bridge.InputError
	switch {
	case errors.As(err, &fe):
		return fe.Code, fe.Message
	case errors.As(err, &ie):
		return fiber.StatusBadRequest, ie.Msg
	case errors.Is(err, store.ErrNotFound):
		return fiber.StatusNotFound, "not found"
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
