package ui

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"linehub/app/linking"
	"linehub/app/store"
)

// Linking by hand: a friend's page to link it to a HubSpot contact (found
// by email, name or id) or unlink it, with the history of its links; and
// a connection's linking page (the switch, the token expiry, the job that
// writes link URLs to a list's contacts).

func (s *Server) linkingRoutes(app *fiber.App, authed func(fiber.Handler) []fiber.Handler) {
	app.Get("/connections/:id/friends/:user/link", authed(s.friendLinkPage)...)
	app.Post("/connections/:id/friends/:user/link", authed(s.linkFriend)...)
	app.Post("/connections/:id/friends/:user/unlink", authed(s.unlinkFriend)...)
	app.Get("/connections/:id/linking", authed(s.linkingPage)...)
	app.Post("/connections/:id/linking", authed(s.saveLinking)...)
	app.Post("/connections/:id/linking/urls", authed(s.startLinkURLs)...)
	app.Post("/connections/:id/linking/urls/cancel", authed(s.cancelLinkURLs)...)
}

// maxReasonChars bounds the words an admin gives for a link or unlink.
const maxReasonChars = 500

// friendParam is the connection and the friend the path names; only
// friends linehub knows can be linked by hand.
func (s *Server) friendParam(c *fiber.Ctx) (*store.Connection, *store.Friend, error) {
	if s.link == nil {
		return nil, nil, fiber.NewError(fiber.StatusNotFound, "linking is not available")
	}
	conn, err := s.connParam(c)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.st.Friend(c.UserContext(), conn.ID, c.Params("user"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fiber.NewError(fiber.StatusNotFound, "no such friend")
	}
	return conn, f, err
}

func (s *Server) friendLinkPage(c *fiber.Ctx) error { return s.friendLinkView(c, 0, "") }

func (s *Server) friendLinkView(c *fiber.Ctx, status int, errMsg string) error {
	conn, f, err := s.friendParam(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	recs, err := s.link.Records(ctx, conn.ID, f.UserID)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(c.Query("q"))
	var hits []linking.ContactHit
	searched := false
	if q != "" && errMsg == "" {
		hits, err = s.link.SearchContacts(ctx, conn.ID, q)
		switch {
		case errors.Is(err, linking.ErrBadRequest):
			errMsg, status = s.locale(c).T("link.search_len"), fiber.StatusBadRequest
		case err != nil:
			errMsg = s.userError(c, err)
		default:
			searched = true
		}
	}
	hs := s.conns.HubSpotInfo(ctx)
	return s.render(c, status, "friend_link", &page{Title: "link.title", Nav: "dash", Error: errMsg, Data: fiber.Map{
		"Conn": conn, "Friend": f, "Records": recs, "Q": q, "Hits": hits, "Searched": searched, "Portal": hs.PortalID,
	}})
}

func (s *Server) linkFriend(c *fiber.Ctx) error {
	contactID := strings.TrimSpace(c.FormValue("contact_id"))
	return s.linkPost(c, func(conn *store.Connection, f *store.Friend, by, reason string) (linking.Result, error) {
		return s.link.Link(c.UserContext(), linking.Request{ConnID: conn.ID, Identity: linking.Identity{UserID: f.UserID},
			ContactID: contactID, How: linking.HowHand, By: by, Reason: reason})
	})
}

func (s *Server) unlinkFriend(c *fiber.Ctx) error {
	return s.linkPost(c, func(conn *store.Connection, f *store.Friend, by, reason string) (linking.Result, error) {
		return s.link.Unlink(c.UserContext(), conn.ID, f.UserID, by, reason)
	})
}

// linkPost reads what a link or unlink form names (the connection, the
// friend, the admin's reason), carries it out with do, and shows the
// outcome on the friend's link page.
func (s *Server) linkPost(c *fiber.Ctx, do func(conn *store.Connection, f *store.Friend, by, reason string) (linking.Result, error)) error {
	conn, f, err := s.friendParam(c)
	if err != nil {
		return err
	}
	reason := strings.TrimSpace(c.FormValue("reason"))
	if utf8.RuneCountInString(reason) > maxReasonChars {
		return s.friendLinkView(c, fiber.StatusBadRequest, s.locale(c).T("link.reason_len", maxReasonChars))
	}
	a := c.Locals("admin").(*store.Admin)
	res, err := do(conn, f, a.Email, reason)
	if err != nil {
		status, msg := s.linkError(c, err)
		return s.friendLinkView(c, status, msg)
	}
	return c.Redirect(s.friendLinkURL(conn.ID, f.UserID, "flash.link_"+res.Outcome), fiber.StatusSeeOther)
}

func (s *Server) friendLinkURL(connID int64, userID, flash string) string {
	return fmt.Sprintf("/connections/%d/friends/%s/link?ok=%s", connID, url.PathEscape(userID), url.QueryEscape(flash))
}

// linkErrors are the linking refusals a person can act on, in words.
var linkErrors = []struct {
	err error
	key string
}{
	{linking.ErrContactTaken, "link.err_taken"},
	{linking.ErrContactGone, "link.err_gone"},
	{linking.ErrNotLinked, "link.err_not_linked"},
	{linking.ErrBusy, "link.err_busy"},
	{linking.ErrLinkedElsewhere, "link.err_elsewhere"},
	{linking.ErrBadRequest, "link.err_bad"},
}

func (s *Server) linkError(c *fiber.Ctx, err error) (int, string) {
	l := s.locale(c)
	for _, e := range linkErrors {
		if errors.Is(err, e.err) {
			status := fiber.StatusConflict
			if e.err == linking.ErrBadRequest || e.err == linking.ErrContactGone {
				status = fiber.StatusBadRequest
			}
			return status, l.T(e.key)
		}
	}
	return 0, s.userError(c, err)
}

func (s *Server) linkingPage(c *fiber.Ctx) error { return s.linkingView(c, 0, "") }

func (s *Server) linkingView(c *fiber.Ctx, status int, errMsg string) error {
	if s.link == nil {
		return fiber.NewError(fiber.StatusNotFound, "linking is not available")
	}
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	ls, err := s.link.Settings(ctx, conn.ID)
	if err != nil {
		return err
	}
	job, err := s.link.LastLinkURLJob(ctx, conn.ID)
	if err != nil {
		return err
	}
	lq := strings.TrimSpace(c.Query("lq"))
	var lists any
	if c.Query("lists") != "" && ls.Enabled && errMsg == "" {
		found, err := s.link.SearchLists(ctx, lq)
		if err != nil {
			errMsg = s.userError(c, err)
		} else {
			lists = found
		}
	}
	return s.render(c, status, "linking", &page{Title: "linking.title", Nav: "dash", Error: errMsg, Data: fiber.Map{
		"Conn": conn, "Settings": ls, "Job": job, "LQ": lq, "Lists": lists, "Prop": fmt.Sprintf("line_link_url_%d", conn.Serial),
		"Example": fmt.Sprintf("%s/link/%d/…", strings.TrimRight(s.cfg.EffectivePublicURL(), "/"), conn.ID),
		"MaxDays": linking.MaxExpiryDays,
	}})
}

func (s *Server) saveLinking(c *fiber.Ctx) error {
	if s.link == nil {
		return fiber.NewError(fiber.StatusNotFound, "linking is not available")
	}
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	days, err := strconv.Atoi(strings.TrimSpace(c.FormValue("expiry_days")))
	if err != nil || days < 1 || days > linking.MaxExpiryDays {
		return s.linkingView(c, fiber.StatusBadRequest, s.locale(c).T("linking.err_days", linking.MaxExpiryDays))
	}
	on := c.FormValue("enabled") == "on"
	if err := s.link.SetSettings(c.UserContext(), conn.ID, on, days); err != nil {
		return s.linkingView(c, 0, s.userError(c, err))
	}
	s.log.Info("linking settings saved", "connection", conn.ID, "enabled", on, "expiry_days", days)
	return c.Redirect(fmt.Sprintf("/connections/%d/linking?ok=flash.saved", conn.ID), fiber.StatusSeeOther)
}

func (s *Server) startLinkURLs(c *fiber.Ctx) error {
	if s.link == nil {
		return fiber.NewError(fiber.StatusNotFound, "linking is not available")
	}
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(c.FormValue("list_name"))
	if utf8.RuneCountInString(name) > 200 {
		name = string([]rune(name)[:200])
	}
	_, err = s.link.StartLinkURLs(c.UserContext(), conn.ID, c.FormValue("list_id"), name)
	switch {
	case errors.Is(err, store.ErrJobRunning):
		return s.linkingView(c, fiber.StatusConflict, s.locale(c).T("linking.err_running"))
	case errors.Is(err, linking.ErrLinkingOff):
		return s.linkingView(c, fiber.StatusConflict, s.locale(c).T("linking.err_off"))
	case errors.Is(err, linking.ErrBadRequest):
		return s.linkingView(c, fiber.StatusBadRequest, s.locale(c).T("linking.err_list"))
	case err != nil:
		return s.linkingView(c, 0, s.userError(c, err))
	}
	return c.Redirect(fmt.Sprintf("/connections/%d/linking?ok=flash.link_urls_started#job", conn.ID), fiber.StatusSeeOther)
}

func (s *Server) cancelLinkURLs(c *fiber.Ctx) error {
	if s.link == nil {
		return fiber.NewError(fiber.StatusNotFound, "linking is not available")
	}
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	if err := s.link.CancelLinkURLs(c.UserContext(), conn.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return c.Redirect(fmt.Sprintf("/connections/%d/linking#job", conn.ID), fiber.StatusSeeOther)
}
