package web

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/metrics"
	"linehub/app/store"
	"linehub/app/web/request"
)

// Readiness thresholds.
const (
	// hubspotCheckTTL is how long a HubSpot token check is reused: readyz
	// may be polled every few seconds, HubSpot's budget is shared with sync.
	hubspotCheckTTL = 5 * time.Minute
	// hubspotRecheck is the shorter reuse of a failed check, so a fixed
	// token turns readyz green soon.
	hubspotRecheck = 30 * time.Second
	// syncStale is how long sync may keep failing before readyz says so;
	// shorter outages are retried quietly and lose nothing.
	syncStale = 10 * time.Minute
)

// opsState is what the ops endpoints remember between requests.
type opsState struct {
	started time.Time

	mu        sync.Mutex
	hsChecked time.Time
	hsErr     error
}

// opsRoutes registers the endpoints operators and monitors use.
func (s *server) opsRoutes(app *fiber.App) {
	s.ops = &opsState{started: time.Now()}
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/readyz", s.readyz)
	app.Get("/metrics", s.metricsAccess, s.metrics)
}

type check struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// readyz answers 200 when linehub can do its job: the database takes
// writes, HubSpot accepts the token, and sync is not failing for long.
// Each check says why in "detail"; any failure makes it 503. Error texts
// from HubSpot may quote contact data, so only callers that could read
// /metrics (this host, or an API token) see them.
func (s *server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	trusted := s.trusted(c)
	checks := map[string]check{
		"database": s.checkDatabase(ctx),
		"hubspot":  s.checkHubSpot(ctx, trusted),
		"sync":     syncCheck(s.sync.Status(), s.ops.started, time.Now(), trusted),
	}
	ready := true
	for _, ch := range checks {
		ready = ready && ch.OK
	}
	status := fiber.StatusOK
	if !ready {
		status = fiber.StatusServiceUnavailable
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(status).JSON(fiber.Map{"ready": ready, "checks": checks})
}

func (s *server) checkDatabase(ctx context.Context) check {
	if err := s.st.CheckWritable(ctx); err != nil {
		s.log.Error("readiness: database not writable", "err", err)
		if store.IsFull(err) {
			return check{Detail: "the disk holding the data directory is full"}
		}
		return check{Detail: "database does not accept writes; see the log"}
	}
	return check{OK: true, Detail: "writable"}
}

func (s *server) checkHubSpot(ctx context.Context, showErrors bool) check {
	s.ops.mu.Lock()
	defer s.ops.mu.Unlock()
	ttl := hubspotCheckTTL
	if s.ops.hsErr != nil {
		ttl = hubspotRecheck
	}
	if s.ops.hsChecked.IsZero() || time.Since(s.ops.hsChecked) > ttl || errors.Is(s.ops.hsErr, connections.ErrHubSpotNotConfigured) {
		s.ops.hsErr = s.conns.CheckHubSpot(ctx)
		s.ops.hsChecked = time.Now()
	}
	err := s.ops.hsErr
	age := time.Since(s.ops.hsChecked).Round(time.Second)
	switch {
	case err == nil:
		return check{OK: true, Detail: "token accepted (checked " + age.String() + " ago)"}
	case errors.Is(err, connections.ErrHubSpotNotConfigured):
		// A fresh install waiting for its wizard is working as intended.
		return check{OK: true, Detail: err.Error()}
	case errors.Is(err, hubspot.ErrUnauthorized):
		return check{Detail: "HubSpot rejects the access token; set a new one in the dashboard or with PUT /api/v1/hubspot"}
	}
	if !showErrors {
		return check{Detail: "HubSpot check failed; details in the log and in /readyz from this host"}
	}
	return check{Detail: "HubSpot check failed: " + err.Error()}
}

// syncCheck fails when the last sync round failed and none has succeeded
// for syncStale (or since start, if that is longer ago).
func syncCheck(st contactsync.Status, started, now time.Time, showErrors bool) check {
	if !st.SyncFailing() {
		if st.LastSyncOKAt == nil {
			return check{OK: true, Detail: "no sync round yet"}
		}
		return check{OK: true, Detail: "last sync round ok " + now.Sub(*st.LastSyncOKAt).Round(time.Second).String() + " ago"}
	}
	since := started
	if st.LastSyncOKAt != nil {
		since = *st.LastSyncOKAt
	}
	detail := "last sync error " + now.Sub(*st.LastErrorAt).Round(time.Second).String() + " ago"
	if showErrors {
		detail += ": " + st.LastSyncError
	}
	return check{OK: now.Sub(since) < syncStale, Detail: detail}
}

// metricsAccess lets a scraper in with an API token, or from this host
// without one. A request that came through a proxy on this host carries
// forwarding headers and needs the token like any other.
func (s *server) metricsAccess(c *fiber.Ctx) error {
	if c.Get(fiber.HeaderAuthorization) == "" && request.IsLocal(c) {
		return c.Next()
	}
	return s.requireToken(c)
}

// trusted says whether a request may see operational details: it is local
// or carries a valid API token.
func (s *server) trusted(c *fiber.Ctx) bool {
	if request.IsLocal(c) {
		return true
	}
	scheme, token, _ := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return false
	}
	_, err := s.st.CheckAPIToken(c.UserContext(), strings.TrimSpace(token))
	return err == nil
}

// overview is the figures both /api/v1/status and /metrics show, gathered
// once for either.
type overview struct {
	connections int
	inbox       store.InboxStats
	friends     store.FriendStats
	notes       store.NoteStats
	hubspot     store.HubSpotEventStats
}

func (s *server) overview(ctx context.Context) (overview, error) {
	var o overview
	conns, err := s.st.Connections(ctx)
	if err != nil {
		return o, err
	}
	o.connections = len(conns)
	if o.inbox, err = s.st.InboxStats(ctx, 0); err != nil {
		return o, err
	}
	if o.friends, err = s.st.FriendStats(ctx, 0); err != nil {
		return o, err
	}
	if o.notes, err = s.st.NoteStats(ctx); err != nil {
		return o, err
	}
	o.hubspot, err = s.st.HubSpotEventStats(ctx)
	return o, err
}

// status is the API's overview of the whole installation.
func (s *server) status(c *fiber.Ctx) error {
	ctx := c.UserContext()
	o, err := s.overview(ctx)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{
		"version":     s.ver,
		"hubspot":     s.conns.HubSpotInfo(ctx),
		"connections": o.connections,
		"inbox":       o.inbox,
		"friends":     o.friends,
		"notes":       o.notes,
		// The HubSpot app's webhook events (deletions, merges, edits of
		// LINE properties): stored, and not yet applied.
		"hubspot_events": o.hubspot,
		"sync":           s.sync.Status(),
	})
}

func (s *server) metrics(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var buf bytes.Buffer
	if _, err := metrics.Default.WriteTo(&buf); err != nil {
		return err
	}
	o, err := s.overview(ctx)
	if err != nil {
		return err
	}
	inbox, friends, notes := o.inbox, o.friends, o.notes
	gauges := []struct {
		name, help string
		samples    []metrics.Sample
	}{
		{"linehub_inbox_pending", "Webhook events stored but not yet applied to friend state.",
			[]metrics.Sample{{Value: float64(inbox.Pending)}}},
		{"linehub_inbox_failed", "Webhook events that could not be applied.",
			[]metrics.Sample{{Value: float64(inbox.Failed)}}},
		{"linehub_hubspot_events_pending", "Webhook events of the HubSpot app stored but not yet applied.",
			[]metrics.Sample{{Value: float64(o.hubspot.Pending)}}},
		{"linehub_sync_backlog", "Friends whose changes are not yet written to HubSpot.",
			[]metrics.Sample{{Value: float64(friends.Backlog)}}},
		{"linehub_sync_errors", "Friends whose last HubSpot write failed.",
			[]metrics.Sample{{Value: float64(friends.SyncErrors)}}},
		{"linehub_dead_letters", "Friends parked after HubSpot kept rejecting their contact.",
			[]metrics.Sample{{Value: float64(friends.Parked)}}},
		{"linehub_notes_pending", "Chat messages not yet logged as HubSpot timeline notes, by state.", []metrics.Sample{
			{Labels: []metrics.Label{{Name: "state", Value: "pending"}}, Value: float64(notes.Pending)},
			{Labels: []metrics.Label{{Name: "state", Value: "given_up"}}, Value: float64(notes.GivenUp)},
		}},
		{"linehub_friends", "LINE friends known, by state.", []metrics.Sample{
			{Labels: []metrics.Label{{Name: "state", Value: "following"}}, Value: float64(friends.Following)},
			{Labels: []metrics.Label{{Name: "state", Value: "blocked"}}, Value: float64(friends.Blocked)},
		}},
		{"linehub_connections", "Active LINE connections.", []metrics.Sample{{Value: float64(o.connections)}}},
		{"linehub_build_info", "Always 1; the version label says which linehub runs.",
			[]metrics.Sample{{Labels: []metrics.Label{{Name: "version", Value: s.ver}}, Value: 1}}},
	}
	if st := s.sync.Status(); st.LastSyncOKAt != nil {
		gauges = append(gauges, struct {
			name, help string
			samples    []metrics.Sample
		}{"linehub_last_sync_success_timestamp_seconds", "When a HubSpot sync round last succeeded (Unix time).",
			[]metrics.Sample{{Value: float64(st.LastSyncOKAt.UnixMilli()) / 1000}}})
	}
	for _, g := range gauges {
		if err := metrics.WriteGauge(&buf, g.name, g.help, g.samples...); err != nil {
			return err
		}
	}
	c.Set(fiber.HeaderContentType, metrics.ContentType)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Send(buf.Bytes())
}
