package hubspotapp

import (
	"github.com/gofiber/fiber/v2"

	"linehub/app/hubspot"
	"linehub/app/store"
)

// The app's webhooks (src/app/webhooks in the exported project) POST
// batches of contact events here: deletions, merges, and changes of
// linehub's LINE properties. HubSpot waits five seconds for the answer and
// otherwise, or on any 4xx/5xx, sends the batch again, up to 10 times over
// 24 hours
// (https://developers.hubspot.com/docs/api-reference/legacy/webhooks/guide#retries),
// so the handler only checks and stores; contactsync applies the stored
// events afterwards.
func (h *Server) webhookRoutes(g fiber.Router) {
	g.Post("/webhooks", h.webhooks)
}

// webhooks answers 200 only once every event of the batch is durable. A
// batch that is not HubSpot's event array, or names another portal than
// linehub's, is refused whole and nothing of it is stored.
func (h *Server) webhooks(c *fiber.Ctx) error {
	cl := caller(c)
	evs, err := hubspot.ParseWebhookEvents(cl.Body)
	if err != nil {
		return fiber.NewError(fiber.StatusBadRequest, err.Error())
	}
	for _, ev := range evs {
		if err := h.samePortal(cl, ev.PortalID); err != nil {
			h.log.Warn("HubSpot webhook batch refused", "portal", ev.PortalID, "event", ev.EventID, "err", err)
			return err
		}
	}
	n, err := h.sync.IngestHubSpotEvents(c.UserContext(), evs)
	if err != nil {
		h.log.Error("HubSpot webhook batch not stored", "events", len(evs), "err", err)
		if store.IsFull(err) {
			return fiber.NewError(fiber.StatusServiceUnavailable, "linehub's disk is full, so the events were not stored; HubSpot sends them again")
		}
		return fiber.NewError(fiber.StatusInternalServerError, "could not store the events; HubSpot sends them again")
	}
	h.log.Debug("HubSpot webhook batch stored", "events", len(evs), "new", n)
	return c.JSON(fiber.Map{"received": len(evs), "new": n})
}
