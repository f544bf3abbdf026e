package connections

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"linehub/app/line"
	"linehub/app/line/login"
	"linehub/app/store"
)

// LoginCallbackPath is where LINE Login sends visitors back; the admin
// registers LoginCallbackURL as the channel's callback URL.
const LoginCallbackPath = "/link/callback"

// ErrNoLineLogin: the connection has no LINE Login channel set up.
var ErrNoLineLogin = errors.New("LINE Login is not set up for this connection")

// Codes of the LINE Login settings' input errors ("bridge.<code>").
const (
	CodeLoginChannelID = "login_channel_id"
	CodeLoginSecret    = "login_secret"
)

// LoginCallbackURL is the callback URL to register in the LINE Login
// channel (LINE Developers Console → LINE Login tab → Callback URL).
func (b *Registry) LoginCallbackURL() string {
	return b.cfg.WebhookBaseURL() + LoginCallbackPath
}

var (
	loginChannelIDRe = regexp.MustCompile(`^[0-9]{1,20}$`)
	// LINE channel secrets are 32 hexadecimal digits.
	loginSecretRe = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

// LineLoginInput is what the admin saves; an empty Secret keeps the saved
// one.
type LineLoginInput struct {
	ChannelID, Secret string
	WithEmail         bool
}

// SetLineLogin checks and saves a connection's LINE Login channel.
func (b *Registry) SetLineLogin(ctx context.Context, connID int64, in LineLoginInput) error {
	if _, err := b.st.Connection(ctx, connID); err != nil {
		return err
	}
	in.ChannelID, in.Secret = strings.TrimSpace(in.ChannelID), strings.TrimSpace(in.Secret)
	if !loginChannelIDRe.MatchString(in.ChannelID) {
		return CodedErr(CodeLoginChannelID, "the LINE Login channel ID is the number shown on the channel's Basic settings tab")
	}
	u := store.LineLoginUpdate{ChannelID: in.ChannelID, WithEmail: in.WithEmail}
	if in.Secret != "" {
		if !loginSecretRe.MatchString(in.Secret) {
			return CodedErr(CodeLoginSecret, "the LINE Login channel secret is 32 hexadecimal characters, on the channel's Basic settings tab")
		}
		u.Secret = &in.Secret
	} else if l, err := b.st.LineLoginOf(ctx, connID); err != nil || l.SecretSealed == "" {
		return CodedErr(CodeLoginSecret, "the LINE Login channel secret is 32 hexadecimal characters, on the channel's Basic settings tab")
	}
	if err := b.st.SetLineLogin(ctx, connID, u); err != nil {
		return err
	}
	b.log.Info("LINE Login channel saved", "connection", connID, "channel_id", in.ChannelID, "email", in.WithEmail)
	return nil
}

// LineLogin returns a connection's LINE Login settings, ErrNoLineLogin
// when none are saved.
func (b *Registry) LineLogin(ctx context.Context, connID int64) (*store.LineLogin, error) {
	l, err := b.st.LineLoginOf(ctx, connID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoLineLogin
	}
	return l, err
}

// LoginClient builds the LINE Login client of a connection (ErrNoLineLogin
// when it has none) with the callback URL of this server.
func (b *Registry) LoginClient(ctx context.Context, connID int64) (*login.Client, error) {
	if _, err := b.st.Connection(ctx, connID); err != nil {
		return nil, err
	}
	l, err := b.LineLogin(ctx, connID)
	if err != nil {
		return nil, err
	}
	secret, err := b.st.LineLoginSecret(l)
	if err != nil {
		return nil, err
	}
	if secret == "" {
		return nil, ErrNoLineLogin
	}
	cl, err := login.New(login.Options{
		ChannelID: l.ChannelID, ChannelSecret: secret, RedirectURI: b.LoginCallbackURL(),
		AuthBaseURL: b.cfg.LINE.LoginBaseURL, APIBaseURL: b.cfg.LINE.LoginAPIBaseURL, HTTPClient: b.lineHTTP,
	})
	if err != nil {
		return nil, fmt.Errorf("connection %d LINE Login: %w", connID, err)
	}
	return cl, nil
}

// IsFriend tells whether userID is a friend of the connection's LINE
// Official Account (its profile can be read). A LINE Login user who is
// not a friend declined to add the account, blocked it, or comes from a
// LINE Login channel in another provider (user ids are per provider).
func (b *Registry) IsFriend(ctx context.Context, connID int64, userID string) (bool, error) {
	c, err := b.ByID(ctx, connID)
	if err != nil {
		return false, err
	}
	if c.Client == nil {
		return false, NoChannelTokenErr()
	}
	_, err = c.Client.Profile(ctx, userID)
	if errors.Is(err, line.ErrNotFriend) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read LINE profile of %s: %w", userID, err)
	}
	return true, nil
}
