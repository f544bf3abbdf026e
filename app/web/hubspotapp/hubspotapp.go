// Package hubspotapp answers what the HubSpot app linehub writes for its
// portal (app/hubspotproject) sends: the contact card's fetches, the
// "Send LINE message" workflow action and its options, and the app's
// webhooks. Every route is under /hubspot/app and runs only after verify
// has checked HubSpot's v3 signature with the app's client secret; each
// handler then answers only for the portal that signed (samePortal).
package hubspotapp

import (
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/linking"
	"linehub/app/messaging"
	"linehub/app/store"
)

// BodyLimit caps what HubSpot sends: hubspot.fetch payloads are at most
// 1 MB, and a webhook batch of 100 events or a workflow call with its
// input fields is far less.
const BodyLimit = 1 << 20

// Options wires the handlers.
type Options struct {
	Connections *connections.Registry
	Sync        *contactsync.Sync
	Messaging   *messaging.Service
	Store       *store.Store
	Config      *config.Config
	Logger      *slog.Logger
	// Linking links friends to contacts from the card; nil: not offered.
	Linking *linking.Service
	// Now is the clock signatures are checked against (tests move it).
	Now func() time.Time
}

// Server holds the handlers' dependencies.
type Server struct {
	conns *connections.Registry
	sync  *contactsync.Sync
	msg   *messaging.Service
	st    *store.Store
	cfg   *config.Config
	log   *slog.Logger
	link  *linking.Service
	now   func() time.Time
	// flights are the workflow-action executions in progress, by
	// callback id (action.go).
	flights sync.Map
}

// New returns the handlers.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Server{conns: o.Connections, sync: o.Sync, msg: o.Messaging, st: o.Store, cfg: o.Config, log: o.Logger, link: o.Linking, now: o.Now}
}

// Prefix is where the app's requests arrive; the exported project points
// its URLs here.
const Prefix = "/hubspot/app"

// Routes registers every route of the app behind the signature check.
func (h *Server) Routes(app fiber.Router) {
	g := app.Group(Prefix, h.cardErrors, h.verify)
	g.Get("/ping", h.ping)
	h.cardRoutes(g)
	h.cardLinkRoutes(g)
	h.actionRoutes(g)
	h.webhookRoutes(g)
}

// Caller is a verified request: its body (copied) and query, and the
// app's settings it was checked with.
type Caller struct {
	Body  []byte
	Query url.Values
	App   connections.HubSpotApp
}

const callerKey = "hubspotapp.caller"

// caller returns the request verify let through.
func caller(c *fiber.Ctx) *Caller {
	cl, _ := c.Locals(callerKey).(*Caller)
	return cl
}

// verify lets through only what HubSpot signed with the app's client
// secret for linehub's public URL, within the signature's five minutes.
// The URL is built from the configured public URL, never from the
// request's Host: a request signed for another site must not verify here.
func (h *Server) verify(c *fiber.Ctx) error {
	body := c.Request().Body()
	if len(body) > BodyLimit {
		return refuse(fiber.StatusRequestEntityTooLarge, CodeTooLarge, "request body exceeds 1 MiB")
	}
	app, err := h.conns.HubSpotApp(c.UserContext())
	if err != nil {
		return err
	}
	if !app.Configured {
		return refuse(fiber.StatusUnauthorized, CodeAppNotSetUp, "the HubSpot app is not set up in linehub: paste its client secret under Settings → HubSpot app")
	}
	uri := strings.TrimRight(h.cfg.WebhookBaseURL(), "/") + c.OriginalURL()
	if v3 := c.Get("X-HubSpot-Signature-v3"); v3 == "" && legacySigned(c) {
		err = hubspot.VerifySignatureV2(app.ClientSecret, c.Method(), uri, body, c.Get("X-HubSpot-Signature"))
	} else {
		err = hubspot.VerifySignatureV3(app.ClientSecret, c.Method(), uri, body,
			c.Get("X-HubSpot-Request-Timestamp"), v3, h.now())
	}
	var se *hubspot.SignatureError
	if errors.As(err, &se) {
		h.log.Warn("HubSpot app request refused", "path", c.Path(), "reason", se.Msg)
		return refuse(fiber.StatusUnauthorized, CodeBadSignature, se.Msg)
	}
	if err != nil {
		return err
	}
	q := url.Values{}
	c.Request().URI().QueryArgs().VisitAll(func(k, v []byte) { q.Add(string(k), string(v)) })
	c.Locals(callerKey, &Caller{Body: append([]byte(nil), body...), Query: q, App: app})
	return c.Next()
}

// legacySigned tells a workflow action's request that carries only the
// older v2 signature, which HubSpot's custom action guide names for them.
// Only the action routes take it: the options are lists of names, and an
// execution is idempotent per callbackId for as long as its send is kept
// (at least four days: HubSpot's three days of retries and one), so a
// replay (v2 has no timestamp) repeats nothing within that time. One
// replayed later, by someone who captured HubSpot's TLS traffic to
// linehub, would send again.
func legacySigned(c *fiber.Ctx) bool {
	return strings.HasPrefix(c.Path(), Prefix+"/actions/") && strings.EqualFold(c.Get("X-HubSpot-Signature-Version"), "v2")
}

// errOtherPortal is a signed request for a portal linehub does not sync
// to: the same app uploaded to a second account signs with the same
// secret, and must not read or write this portal's contacts.
var errOtherPortal = refuse(fiber.StatusForbidden, CodeOtherPortal, "this linehub serves another HubSpot portal")

// samePortal refuses a request made for another portal than the one
// linehub's HubSpot token belongs to (or before that portal is known).
func (h *Server) samePortal(cl *Caller, portalID int64) error {
	if cl.App.PortalID == 0 {
		return refuse(fiber.StatusServiceUnavailable, CodePortalUnknown, "linehub does not know its HubSpot portal yet: save the HubSpot key in Settings")
	}
	if portalID != cl.App.PortalID {
		return errOtherPortal
	}
	return nil
}

// queryPortal reads the portalId hubspot.fetch adds to a card's request.
func queryPortal(cl *Caller) int64 {
	id, _ := strconv.ParseInt(cl.Query.Get("portalId"), 10, 64)
	return id
}

// ping answers a signed request with the portal it was made for: the
// card's first call, and a check that the secret and URL are right.
func (h *Server) ping(c *fiber.Ctx) error {
	cl := caller(c)
	if err := h.samePortal(cl, queryPortal(cl)); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"ok": true, "portal_id": cl.App.PortalID})
}
