package ui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/store"
	"linehub/app/web/response"
)

// lineLoginView is what the connection page's LINE Login card shows.
type lineLoginView struct {
	Set          bool
	ChannelID    string
	SecretLast4  string
	WithEmail    bool
	CallbackURL  string
	CallbackHTTP bool   // the callback URL is not https: LINE refuses it
	LinkURL      string // the token-less link page, for a website
	BotName      string // the LINE Official Account to link
}

func (s *Server) lineLoginData(ctx context.Context, conn *store.Connection) (lineLoginView, error) {
	v := lineLoginView{CallbackURL: s.conns.LoginCallbackURL(), BotName: conn.BotName,
		LinkURL: s.cfg.WebhookBaseURL() + "/link/" + strconv.FormatInt(conn.ID, 10)}
	v.CallbackHTTP = !strings.HasPrefix(v.CallbackURL, "https://")
	l, err := s.conns.LineLogin(ctx, conn.ID)
	if errors.Is(err, connections.ErrNoLineLogin) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	v.Set, v.ChannelID, v.SecretLast4, v.WithEmail = l.SecretSealed != "", l.ChannelID, l.SecretLast4, l.WithEmail
	return v, nil
}

// saveLineLogin saves the LINE Login channel of a connection; a refused
// input shows the page with the error and changes nothing.
func (s *Server) saveLineLogin(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	in := connections.LineLoginInput{
		ChannelID: c.FormValue("login_channel_id"),
		Secret:    c.FormValue("login_channel_secret"),
		WithEmail: c.FormValue("login_email") == "yes",
	}
	if err := s.conns.SetLineLogin(c.UserContext(), conn.ID, in); err != nil {
		status, _ := response.StatusOf(err)
		return s.connView(c, conn, status, s.userError(c, err), nil)
	}
	return c.Redirect(fmt.Sprintf("/connections/%d?ok=flash.linelogin#line-login", conn.ID), fiber.StatusSeeOther)
}
