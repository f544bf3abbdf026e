package ui

import (
	"errors"
	"strings"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/store"
	"linehub/app/web/response"
)

// machinePrefixes are the paths programs call (the JSON API, LINE's and
// HubSpot's callbacks, probes): their errors stay JSON. Every other path
// is a page a person opened in a browser.
var machinePrefixes = []string{"/api/", "/webhook/", "/hooks/", "/hubspot/app/", "/healthz", "/readyz", "/metrics"}

// BrowserPath tells whether an error on path is shown to a person as a
// page rather than answered as JSON.
func BrowserPath(path string) bool {
	if path == "/api" {
		return false
	}
	for _, p := range machinePrefixes {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	return true
}

// wantsJSON tells a script's fetch (the dashboard's progress polls ask
// for JSON) from a page load.
func wantsJSON(c *fiber.Ctx) bool {
	a := c.Get(fiber.HeaderAccept)
	return strings.Contains(a, "application/json") && !strings.Contains(a, "text/html")
}

// ErrorHandler answers errors on browser paths with a page in the
// admin's language (with the menu when signed in) and passes the rest to
// next, the JSON error handler.
func (s *Server) ErrorHandler(next fiber.ErrorHandler) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		if !BrowserPath(c.Path()) || wantsJSON(c) {
			return next(c, err)
		}
		if rerr := s.errorPage(c, err); rerr != nil {
			s.log.Error("render error page", "path", c.Path(), "err", rerr)
			return next(c, err)
		}
		return nil
	}
}

// errorPage renders err as a page: what happened, what to do, and a way
// back; a message from linehub's checks or from LINE/HubSpot stays
// available under "details", internals only in the log.
func (s *Server) errorPage(c *fiber.Ctx, err error) error {
	status, msg := response.StatusOf(err)
	if status >= 500 && status != fiber.StatusBadGateway {
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "status", status, "err", err)
		msg = ""
	}
	s.signedInAdmin(c)
	l := s.locale(c)
	title, body := "errpage.title", "errpage.body"
	var ie *connections.InputError
	switch {
	case status == fiber.StatusNotFound:
		title, body, msg = "errpage.not_found_title", "errpage.not_found", ""
	case status == fiber.StatusRequestEntityTooLarge:
		title, body, msg = "errpage.too_large_title", "errpage.too_large", ""
	case status == fiber.StatusBadGateway:
		title, body = "errpage.upstream_title", "errpage.upstream"
	case status == fiber.StatusServiceUnavailable:
		title, body = "errpage.unavailable_title", "errpage.unavailable"
	case status >= 500:
		title, body = "errpage.internal_title", "errpage.internal"
	case errors.As(err, &ie) && ie.Code != "" && l.Has("bridge."+ie.Code):
		body, msg = "", l.T("bridge."+ie.Code, ie.Args...)
	}
	text := msg
	switch body {
	case "":
	case "errpage.too_large":
		text = l.T(body, bodyLimitMB)
	default:
		text = l.T(body)
	}
	detail := ""
	if body != "" {
		detail = msg
	}
	_, signedIn := c.Locals("admin").(*store.Admin)
	return s.render(c, status, "error", &page{L: l, Title: title, Data: fiber.Map{
		"Text": text, "Detail": detail, "Status": status, "SignedIn": signedIn,
	}})
}

// MaxRequestBytes caps any request body (the server refuses a larger
// one before any handler runs); pages that upload say it in MB.
const MaxRequestBytes = 8 << 20

const bodyLimitMB = MaxRequestBytes >> 20

// signedInAdmin puts the signed-in admin (if any) on c, for pages that
// no session check ran for (unknown paths, refused uploads), so that the
// error page shows the menu to a signed-in admin only.
func (s *Server) signedInAdmin(c *fiber.Ctx) {
	if _, ok := c.Locals("admin").(*store.Admin); ok {
		return
	}
	v := c.Cookies(sessionCookie)
	if v == "" {
		return
	}
	sess, err := s.st.Session(c.UserContext(), v)
	if err != nil {
		return
	}
	a, err := s.st.Admin(c.UserContext(), sess.AdminID)
	if err != nil {
		return
	}
	c.Locals("session", sess)
	c.Locals("admin", a)
}
