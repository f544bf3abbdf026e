package connections

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"linehub/app/config"
	"linehub/app/hubspot"
	"linehub/app/line"
	"linehub/app/store"
)

// Settings keys for the HubSpot side.
const (
	settingHubSpotToken  = "hubspot.token"
	settingHubSpotTier   = "hubspot.tier"
	settingHubSpotPortal = "hubspot.portal_id"
)

// HubSpotInfo describes the HubSpot side for the status API.
type HubSpotInfo struct {
	Configured     bool   `json:"configured"`
	TokenLast4     string `json:"token_last4,omitempty"`
	Tier           string `json:"tier"`
	PortalID       int64  `json:"portal_id,omitempty"`
	MaxConnections int    `json:"max_connections"`
}

// loadHubSpotSettings applies the token and tier saved through the API (or
// wizard) over those from the config file.
func (b *Registry) loadHubSpotSettings(ctx context.Context) error {
	token, err := b.st.SecretSetting(ctx, settingHubSpotToken)
	if err != nil {
		return err
	}
	if token == "" {
		token = b.cfg.HubSpot.Token
	}
	tier, err := b.st.Setting(ctx, settingHubSpotTier)
	if err != nil {
		return err
	}
	if tier == "" {
		tier = b.cfg.HubSpot.Tier
	}
	b.mu.Lock()
	b.tier = tier
	b.mu.Unlock()
	b.hs.SetToken(token)
	b.hs.SetTier(tier)
	return nil
}

// HubSpotInfo reports the HubSpot configuration without the token.
func (b *Registry) HubSpotInfo(ctx context.Context) HubSpotInfo {
	b.mu.Lock()
	tier := b.tier
	b.mu.Unlock()
	info := HubSpotInfo{Configured: b.hs.HasToken(), Tier: tier, MaxConnections: b.MaxConnections()}
	if p, _ := b.st.Setting(ctx, settingHubSpotPortal); p != "" {
		info.PortalID, _ = strconv.ParseInt(p, 10, 64)
	}
	if t, _ := b.st.SecretSetting(ctx, settingHubSpotToken); len(t) > 4 {
		info.TokenLast4 = t[len(t)-4:]
	} else if t := b.cfg.HubSpot.Token; len(t) > 4 {
		info.TokenLast4 = t[len(t)-4:]
	}
	return info
}

// MaxConnections is the connection limit for the current tier, unless
// limits.max_connections says otherwise.
func (b *Registry) MaxConnections() int {
	if b.cfg.Limits.MaxConnections > 0 {
		return b.cfg.Limits.MaxConnections
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return config.TierMaxConnections(b.tier)
}

// InputError is a request the caller must correct; its text is shown as
// is. Code, when set, names the message (with Args for its %-verbs) so
// that the dashboard can show it in the admin's language.
type InputError struct {
	Msg  string
	Code string
	Args []any
}

func (e *InputError) Error() string { return e.Msg }

// InputErr is an InputError with the text format gives.
func InputErr(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// Codes of the InputErrors admins meet most in the dashboard; each is a
// key "bridge.<code>" in the UI's catalogue, with the same %-verbs.
const (
	CodeHubSpotTokenRejected  = "hubspot_token_rejected"
	CodeHubSpotNotConfigured  = "hubspot_not_configured"
	CodeHubSpotMissingScope   = "hubspot_missing_scope"
	CodeHubSpotNoList         = "hubspot_no_list"
	CodeLINETokenRejected     = "line_token_rejected"
	CodeNoChannelToken        = "no_channel_token"
	CodeLINERefusedMessage    = "line_refused_message"
	CodeBroadcastPlaceholders = "broadcast_placeholders"
	CodeBroadcastStarted      = "broadcast_started"
	CodeTemplateExists        = "template_exists"
	// CodeNameLength: a name is empty or longer than MaxNameChars; Args
	// are the limit and the name's length in characters.
	CodeNameLength = "name_length"
	// CodeMessageTooLong: a message's text is over LINE's limit; Args are
	// the limit and the text's length, as LINE counts characters.
	CodeMessageTooLong = "message_too_long"
)

// MaxNameChars is the longest name of a connection or template, in
// characters (not bytes: a Japanese character takes three).
const MaxNameChars = 100

// CheckName refuses an empty or too long name with the English text
// msg (what the API has always said) and a coded message for the
// dashboard.
func CheckName(name, msg string) error {
	if n := utf8.RuneCountInString(name); n == 0 || n > MaxNameChars {
		return &InputError{Msg: msg, Code: CodeNameLength, Args: []any{MaxNameChars, n}}
	}
	return nil
}

// CodedErr is an InputError with a Code; the English text is format.
func CodedErr(code, format string, a ...any) error {
	return &InputError{Msg: fmt.Sprintf(format, a...), Code: code, Args: a}
}

// NoChannelTokenErr tells the admin to save the connection's token.
func NoChannelTokenErr() error {
	return CodedErr(CodeNoChannelToken, "this connection has no channel access token yet: save it on the connection's page")
}

// HubSpotNotConfiguredErr tells the admin to save the HubSpot token.
func HubSpotNotConfiguredErr() error {
	return CodedErr(CodeHubSpotNotConfigured, "HubSpot is not configured yet: save the HubSpot token in Settings")
}

// ConfigureHubSpot checks a token against HubSpot and, when it works, saves
// it (sealed) with the tier and starts using it.
func (b *Registry) ConfigureHubSpot(ctx context.Context, token, tier string) (HubSpotInfo, error) {
	token = strings.TrimSpace(token)
	if strings.TrimSpace(tier) == "" {
		tier = config.TierStarter
	}
	// TierMaxConnections gives unknown tiers the smallest limit, so it
	// cannot tell a bad tier; ParseTier can ("free" → starter, any case).
	parsed, err := config.ParseTier(tier)
	if err != nil {
		return HubSpotInfo{}, InputErr("tier %q is not one of starter, professional, enterprise", tier)
	}
	tier = parsed
	if token == "" {
		return HubSpotInfo{}, InputErr("token is required")
	}
	probe := hubspot.New(hubspot.Config{BaseURL: b.cfg.HubSpot.BaseURL, Token: token, Tier: tier, Logger: b.log, MaxRetries: 1})
	acct, err := probe.AccountDetails(ctx)
	if errors.Is(err, hubspot.ErrUnauthorized) {
		return HubSpotInfo{}, CodedErr(CodeHubSpotTokenRejected, "HubSpot rejected the token (401): check that it is a valid service key or private-app token")
	}
	if err != nil {
		return HubSpotInfo{}, fmt.Errorf("check HubSpot token: %w", err)
	}
	err = b.st.SetSettings(ctx, map[string]string{
		settingHubSpotToken: token, settingHubSpotTier: tier, settingHubSpotPortal: strconv.FormatInt(acct.PortalID, 10),
	}, map[string]bool{settingHubSpotToken: true})
	if err != nil {
		return HubSpotInfo{}, err
	}
	if err := b.loadHubSpotSettings(ctx); err != nil {
		return HubSpotInfo{}, err
	}
	b.hs.SetTimeZone(acct.TimeZone)
	b.log.Info("HubSpot configured", "portal_id", acct.PortalID, "tier", tier, "time_zone", acct.TimeZone)
	if h := b.hook().HubSpotReady; h != nil {
		h()
	}
	return b.HubSpotInfo(ctx), nil
}

// NewConnection is what an admin gives to connect a LINE account.
type NewConnection struct {
	Name, Description  string
	ChannelSecret      string
	ChannelAccessToken string
}

// CreateConnection validates the LINE token (when given), takes the next
// serial, and has the sync pipeline (Hooks.EnsureProperties) create that
// serial's property group and seven properties in HubSpot. If HubSpot fails the connection still exists (events are
// accepted and kept) and EnsureProperties can be retried.
func (b *Registry) CreateConnection(ctx context.Context, in NewConnection) (*store.Connection, error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		return nil, CheckName(in.Name, "name is required")
	}
	if err := CheckName(in.Name, "name is longer than 100 characters"); err != nil {
		return nil, err
	}
	if !b.hs.HasToken() {
		return nil, InputErr("set the HubSpot token first (PUT /api/v1/hubspot): the connection's properties are created in HubSpot")
	}
	c := &store.Connection{Name: in.Name, Description: in.Description}
	if in.ChannelAccessToken != "" {
		bot, err := b.verifyLINEToken(ctx, in.ChannelAccessToken)
		if err != nil {
			return nil, err
		}
		c.BotUserID, c.BotName, c.BotPictureURL = bot.UserID, bot.DisplayName, bot.PictureURL
	}
	max := b.MaxConnections()
	if err := b.st.CreateConnection(ctx, c, in.ChannelSecret, in.ChannelAccessToken, max); err != nil {
		if errors.Is(err, store.ErrLimit) {
			b.mu.Lock()
			tier := b.tier
			b.mu.Unlock()
			return nil, fmt.Errorf("%w: the %s tier allows %d LINE connections; delete one or raise the tier (or limits.max_connections)", store.ErrLimit, tier, max)
		}
		return nil, err
	}
	b.log.Info("connection created", "id", c.ID, "serial", c.Serial, "name", c.Name)
	if ensure := b.hook().EnsureProperties; ensure != nil {
		if err := ensure(ctx, c.ID); err != nil {
			b.log.Error("create HubSpot properties", "connection", c.ID, "serial", c.Serial, "err", err)
		}
	}
	return b.st.Connection(ctx, c.ID)
}

func (b *Registry) verifyLINEToken(ctx context.Context, token string) (line.BotInfo, error) {
	cl, err := b.lineClient(token)
	if err != nil {
		return line.BotInfo{}, err
	}
	bot, err := cl.BotInfo(ctx)
	if errors.Is(err, line.ErrUnauthorized) {
		return bot, CodedErr(CodeLINETokenRejected, "LINE rejected the channel access token (401): paste the long-lived channel access token from LINE Developers → Messaging API")
	}
	if err != nil {
		return bot, fmt.Errorf("check channel access token with LINE: %w", err)
	}
	return bot, nil
}

// ConnectionPatch changes a connection; nil fields stay.
type ConnectionPatch struct {
	Name, Description  *string
	ChannelSecret      *string
	ChannelAccessToken *string
}

// UpdateConnection applies a patch, checking a new token with LINE first.
func (b *Registry) UpdateConnection(ctx context.Context, id int64, p ConnectionPatch) (*store.Connection, error) {
	if _, err := b.st.Connection(ctx, id); err != nil {
		return nil, err
	}
	u := store.ConnectionUpdate{Description: p.Description, ChannelSecret: p.ChannelSecret, ChannelToken: p.ChannelAccessToken}
	if p.Name != nil {
		name := strings.TrimSpace(*p.Name)
		if err := CheckName(name, "name must be 1 to 100 characters"); err != nil {
			return nil, err
		}
		u.Name = &name
	}
	if p.ChannelAccessToken != nil && *p.ChannelAccessToken != "" {
		bot, err := b.verifyLINEToken(ctx, *p.ChannelAccessToken)
		if err != nil {
			return nil, err
		}
		u.BotUserID, u.BotName, u.BotPictureURL = &bot.UserID, &bot.DisplayName, &bot.PictureURL
	}
	c, err := b.st.UpdateConnection(ctx, id, u)
	if err != nil {
		return nil, err
	}
	b.Forget(id)
	b.NoteLINE(id, nil) // new credentials: the next profile read tells
	return c, nil
}

// DeleteConnection removes a connection; its HubSpot properties stay and
// its serial is never issued again.
func (b *Registry) DeleteConnection(ctx context.Context, id int64) error {
	if err := b.st.DeleteConnection(ctx, id); err != nil {
		return err
	}
	b.Forget(id)
	b.NoteLINE(id, nil)
	b.log.Info("connection deleted", "id", id)
	return nil
}

// WebhookURL is the URL to paste into LINE Developers for a connection.
func (b *Registry) WebhookURL(c *store.Connection) string {
	return b.cfg.WebhookBaseURL() + "/webhook/" + c.Key
}

// MessageErr is the InputError for message i that LINE would refuse;
// a text over LINE's limit gets a code, so the dashboard can say it in
// the admin's language. context says where ("" or " after filling
// placeholders").
func MessageErr(i int, context string, err error) error {
	msg := fmt.Sprintf("messages[%d]%s: %v", i, context, err)
	var tl *line.TooLongError
	if errors.As(err, &tl) {
		return &InputError{Msg: msg, Code: CodeMessageTooLong, Args: []any{tl.Max, tl.N}}
	}
	return &InputError{Msg: msg}
}
