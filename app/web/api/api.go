// Package api serves the admin JSON API under /api/v1 (docs/design.md §6):
// connections, friends, sending, messaging (workflow keys, templates,
// broadcasts, conversations) and scheduled jobs. The router in package web
// mounts it behind the API token check; the machine endpoints (webhook,
// hooks, health, metrics, the status overview) stay in web.
package api

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/jobs"
	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web/request"
	"linehub/app/web/response"
)

// Server holds what the API handlers use.
type Server struct {
	conns *connections.Registry
	sync  *contactsync.Sync
	msg   *messaging.Service
	st    *store.Store
	jobs  *jobs.Scheduler // nil answers 503 on the jobs routes
}

// Options is what the API handlers are built over.
type Options struct {
	Connections *connections.Registry
	Sync        *contactsync.Sync
	Messaging   *messaging.Service
	Store       *store.Store
	Jobs        *jobs.Scheduler // may be nil
}

// New returns the API handlers.
func New(o Options) *Server {
	return &Server{conns: o.Connections, sync: o.Sync, msg: o.Messaging, st: o.Store, jobs: o.Jobs}
}

// Routes registers the admin JSON API on the token-guarded /api/v1 group.
func (s *Server) Routes(api fiber.Router) {
	api.Put("/hubspot", s.putHubSpot)
	api.Get("/hubspot/app", s.getHubSpotApp)
	api.Put("/hubspot/app", s.putHubSpotApp)
	api.Delete("/hubspot/app", s.deleteHubSpotApp)
	api.Get("/connections", s.listConnections)
	api.Post("/connections", s.createConnection)
	api.Get("/connections/:id", s.getConnection)
	api.Patch("/connections/:id", s.patchConnection)
	api.Delete("/connections/:id", s.deleteConnection)
	api.Post("/connections/:id/properties", s.ensureProperties)
	api.Get("/connections/:id/friends", s.listFriends)
	api.Post("/connections/:id/messages", s.sendMessage)
	s.jobRoutes(api)
	s.messagingRoutes(api)
}

func (s *Server) putHubSpot(c *fiber.Ctx) error {
	var in struct {
		Token string `json:"token"`
		Tier  string `json:"tier"`
	}
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	info, err := s.conns.ConfigureHubSpot(c.UserContext(), in.Token, in.Tier)
	if err != nil {
		return err
	}
	return c.JSON(info)
}

// The HubSpot app's settings: its client secret is never shown back.
func (s *Server) getHubSpotApp(c *fiber.Ctx) error {
	app, err := s.conns.HubSpotApp(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(app)
}

func (s *Server) putHubSpotApp(c *fiber.Ctx) error {
	var in struct {
		AppID        string `json:"app_id"`
		ClientSecret string `json:"client_secret"`
	}
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	app, err := s.conns.ConfigureHubSpotApp(c.UserContext(), in.AppID, in.ClientSecret)
	if err != nil {
		return err
	}
	return c.JSON(app)
}

func (s *Server) deleteHubSpotApp(c *fiber.Ctx) error {
	if err := s.conns.RemoveHubSpotApp(c.UserContext()); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// connectionJSON is a connection as the API shows it: secrets only as
// their last four characters.
type connectionJSON struct {
	ID                 int64              `json:"id"`
	Serial             int                `json:"serial"`
	Name               string             `json:"name"`
	Description        string             `json:"description"`
	WebhookURL         string             `json:"webhook_url"`
	ChannelSecret      string             `json:"channel_secret"`
	ChannelAccessToken string             `json:"channel_access_token"`
	BotUserID          string             `json:"bot_user_id,omitempty"`
	BotName            string             `json:"bot_name,omitempty"`
	BotPictureURL      string             `json:"bot_picture_url,omitempty"`
	PropertyGroup      string             `json:"property_group"`
	Properties         []string           `json:"properties"`
	PropertiesReady    bool               `json:"properties_ready"`
	LastError          string             `json:"last_error,omitempty"`
	LastEventAt        *time.Time         `json:"last_event_at"`
	Friends            *store.FriendStats `json:"friends,omitempty"`
	Inbox              *store.InboxStats  `json:"inbox,omitempty"`
	CreatedAt          time.Time          `json:"created_at"`
}

func mask(last4 string, set bool) string {
	switch {
	case !set:
		return ""
	case last4 == "":
		return "****"
	}
	return "****" + last4
}

func (s *Server) connectionView(c *fiber.Ctx, conn *store.Connection, detail bool) (connectionJSON, error) {
	v := connectionJSON{
		ID: conn.ID, Serial: conn.Serial, Name: conn.Name, Description: conn.Description,
		WebhookURL:         s.conns.WebhookURL(conn),
		ChannelSecret:      mask(conn.SecretLast4, conn.ChannelSecretSealed != ""),
		ChannelAccessToken: mask(conn.TokenLast4, conn.ChannelTokenSealed != ""),
		BotUserID:          conn.BotUserID, BotName: conn.BotName, BotPictureURL: conn.BotPictureURL,
		PropertyGroup: contactsync.PropertyGroup(conn.Serial).Name, Properties: contactsync.PropertyNames(conn.Serial),
		PropertiesReady: conn.PropertiesReady, LastError: conn.LastError, CreatedAt: conn.CreatedAt,
	}
	if !detail {
		return v, nil
	}
	ctx := c.UserContext()
	fs, err := s.st.FriendStats(ctx, conn.ID)
	if err != nil {
		return v, err
	}
	is, err := s.st.InboxStats(ctx, conn.ID)
	if err != nil {
		return v, err
	}
	v.Friends, v.Inbox = &fs, &is
	v.LastEventAt, err = s.st.LastEventAt(ctx, conn.ID)
	return v, err
}

func (s *Server) listConnections(c *fiber.Ctx) error {
	conns, err := s.st.Connections(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]connectionJSON, 0, len(conns))
	for i := range conns {
		v, err := s.connectionView(c, &conns[i], false)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	return c.JSON(fiber.Map{"connections": out, "max_connections": s.conns.MaxConnections()})
}

func (s *Server) createConnection(c *fiber.Ctx) error {
	var in struct {
		Name               string `json:"name"`
		Description        string `json:"description"`
		ChannelSecret      string `json:"channel_secret"`
		ChannelAccessToken string `json:"channel_access_token"`
	}
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	conn, err := s.conns.CreateConnection(c.UserContext(), connections.NewConnection{
		Name: in.Name, Description: in.Description, ChannelSecret: in.ChannelSecret, ChannelAccessToken: in.ChannelAccessToken,
	})
	if err != nil {
		return err
	}
	v, err := s.connectionView(c, conn, true)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) getConnection(c *fiber.Ctx) error {
	conn, err := request.Connection(c, s.st)
	if err != nil {
		return err
	}
	v, err := s.connectionView(c, conn, true)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) patchConnection(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	var in struct {
		Name               *string `json:"name"`
		Description        *string `json:"description"`
		ChannelSecret      *string `json:"channel_secret"`
		ChannelAccessToken *string `json:"channel_access_token"`
	}
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	conn, err := s.conns.UpdateConnection(c.UserContext(), id, connections.ConnectionPatch{
		Name: in.Name, Description: in.Description, ChannelSecret: in.ChannelSecret, ChannelAccessToken: in.ChannelAccessToken,
	})
	if err != nil {
		return err
	}
	v, err := s.connectionView(c, conn, true)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) deleteConnection(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	if err := s.conns.DeleteConnection(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) ensureProperties(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	if err := s.sync.EnsureProperties(c.UserContext(), id); err != nil {
		return fiber.NewError(fiber.StatusBadGateway, err.Error())
	}
	return s.getConnection(c)
}

type friendJSON struct {
	ID           int64  `json:"id"`
	UserID       string `json:"user_id"`
	DisplayName  string `json:"display_name"`
	PictureURL   string `json:"picture_url"`
	Following    bool   `json:"following"`
	LastResponse string `json:"last_response"`
	Unanswered   bool   `json:"unanswered"`
	ContactID    string `json:"contact_id,omitempty"`
	ContactGone  bool   `json:"contact_deleted_in_hubspot,omitempty"`
	Synced       bool   `json:"synced"`
	SyncError    string `json:"sync_error,omitempty"`
	// SyncErrorCode names a cause of SyncError a person can fix
	// (hubspot_token_rejected, hubspot_no_scope, hubspot_unreachable).
	SyncErrorCode string     `json:"sync_error_code,omitempty"`
	SyncedAt      *time.Time `json:"synced_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// EditedInHubSpot are LINE properties a person changed in HubSpot, as
	// the HubSpot app's webhooks reported: linehub leaves them alone until
	// a new LINE event changes the value.
	EditedInHubSpot []editJSON `json:"edited_in_hubspot,omitempty"`
}

type editJSON struct {
	Property string    `json:"property"`
	Value    string    `json:"value"`
	Source   string    `json:"source"`
	SourceID string    `json:"source_id,omitempty"`
	At       time.Time `json:"at"`
}

func (s *Server) listFriends(c *fiber.Ctx) error {
	conn, err := request.Connection(c, s.st)
	if err != nil {
		return err
	}
	id := conn.ID
	limit := 100
	if q := c.Query("limit"); q != "" {
		// QueryInt would silently turn "ten" into the default.
		n, err := strconv.Atoi(q)
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "limit must be 1..1000")
		}
		limit = n
	}
	if limit < 1 || limit > 1000 {
		return fiber.NewError(fiber.StatusBadRequest, "limit must be 1..1000")
	}
	after, err := strconv.ParseInt(c.Query("after", "0"), 10, 64)
	if err != nil || after < 0 {
		return fiber.NewError(fiber.StatusBadRequest, "after must be a cursor from a previous page")
	}
	fs, err := s.st.FriendsPage(c.UserContext(), id, after, limit)
	if err != nil {
		return err
	}
	ids := make([]int64, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	edits, err := s.st.ContactEdits(c.UserContext(), ids)
	if err != nil {
		return err
	}
	out := make([]friendJSON, len(fs))
	for i, f := range fs {
		code, syncErr := contactsync.SplitSyncError(f.SyncError)
		out[i] = friendJSON{ID: f.ID, UserID: f.UserID, DisplayName: f.DisplayName, PictureURL: f.PictureURL,
			Following: f.Following, LastResponse: f.LastResponse, Unanswered: f.Unanswered,
			ContactID: f.ContactID, ContactGone: f.ContactGone, Synced: f.Dirty == 0, SyncError: syncErr, SyncErrorCode: code,
			SyncedAt: f.SyncedAt, UpdatedAt: f.UpdatedAt}
		for _, e := range edits[f.ID] {
			out[i].EditedInHubSpot = append(out[i].EditedInHubSpot, editJSON{Property: contactsync.PropertyName(e.Property, conn.Serial),
				Value: e.Value, Source: e.Source, SourceID: e.SourceID, At: time.UnixMilli(e.OccurredAt).UTC()})
		}
		slices.SortFunc(out[i].EditedInHubSpot, func(a, b editJSON) int { return strings.Compare(a.Property, b.Property) })
	}
	var next string
	if len(fs) == limit {
		next = strconv.FormatInt(fs[len(fs)-1].ID, 10)
	}
	return c.JSON(fiber.Map{"friends": out, "next": next})
}

func (s *Server) sendMessage(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	var in messagesBody // messaging.go
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	key := in.IdempotencyKey
	if key == "" {
		key = c.Get("Idempotency-Key")
	}
	res, err := s.msg.SendMessages(c.UserContext(), id, in.To, messaging.MessageInput{Text: in.Text, Messages: in.Messages}, key)
	if err != nil {
		return response.SendError(c, err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"sent": true, "duplicate": res.Duplicate, "send_id": res.SendID})
}
