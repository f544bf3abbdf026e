package api

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/messaging"
	"linehub/app/web/request"
	"linehub/app/web/response"
)

// messagingRoutes registers the messaging JSON API: workflow keys,
// templates, HubSpot lists, broadcasts, conversations and replies. The
// dashboard's composer, chat view and template editor call these.
func (s *Server) messagingRoutes(api fiber.Router) {
	api.Get("/connections/:id/workflow", s.getWorkflow)
	api.Post("/connections/:id/workflow/key", s.rotateWorkflowKey)
	api.Put("/connections/:id/workflow/signing-secret", s.putWorkflowSecret)

	api.Get("/templates", s.listTemplates)
	api.Post("/templates", s.createTemplate)
	api.Post("/templates/preview", s.previewTemplate)
	api.Get("/templates/:tid", s.getTemplate)
	api.Put("/templates/:tid", s.updateTemplate)
	api.Delete("/templates/:tid", s.deleteTemplate)
	api.Post("/templates/:tid/preview", s.previewTemplate)

	api.Get("/hubspot/lists", s.searchLists)
	api.Get("/connections/:id/quota", s.quota)
	api.Post("/connections/:id/broadcasts/preview", s.previewBroadcast)
	api.Post("/connections/:id/broadcasts", s.createBroadcast)
	api.Get("/connections/:id/broadcasts", s.listBroadcasts)
	api.Get("/broadcasts/:bid", s.getBroadcast)
	api.Post("/broadcasts/:bid/cancel", s.cancelBroadcast)

	api.Get("/connections/:id/conversations", s.conversations)
	api.Get("/connections/:id/conversations/:user/messages", s.chatMessages)
	api.Post("/connections/:id/conversations/:user/reply", s.reply)
}

// ---- workflow ----

func (s *Server) getWorkflow(c *fiber.Ctx) error {
	conn, err := request.Connection(c, s.st)
	if err != nil {
		return err
	}
	k, err := s.msg.WorkflowKeyInfo(c.UserContext(), conn)
	if err != nil {
		return err
	}
	return c.JSON(k)
}

func (s *Server) rotateWorkflowKey(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	k, err := s.msg.RotateWorkflowKey(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(k)
}

func (s *Server) putWorkflowSecret(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	var in struct {
		Secret string `json:"secret"`
	}
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	if err := s.msg.SetWorkflowSigningSecret(c.UserContext(), id, in.Secret); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"signature_required": strings.TrimSpace(in.Secret) != ""})
}

// ---- templates ----

type templateIn struct {
	Name string `json:"name"`
	messaging.MessageInput
}

func (s *Server) listTemplates(c *fiber.Ctx) error {
	ts, err := s.msg.Templates(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"templates": ts})
}

func (s *Server) createTemplate(c *fiber.Ctx) error {
	var in templateIn
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	t, err := s.msg.SaveTemplate(c.UserContext(), 0, in.Name, in.MessageInput)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(t)
}

func (s *Server) getTemplate(c *fiber.Ctx) error {
	id, err := request.PathID(c, "tid", "template")
	if err != nil {
		return err
	}
	t, err := s.msg.GetTemplate(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *Server) updateTemplate(c *fiber.Ctx) error {
	id, err := request.PathID(c, "tid", "template")
	if err != nil {
		return err
	}
	var in templateIn
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	t, err := s.msg.SaveTemplate(c.UserContext(), id, in.Name, in.MessageInput)
	if err != nil {
		return err
	}
	return c.JSON(t)
}

func (s *Server) deleteTemplate(c *fiber.Ctx) error {
	id, err := request.PathID(c, "tid", "template")
	if err != nil {
		return err
	}
	if err := s.msg.DeleteTemplate(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// previewTemplate renders a saved template (/templates/:tid/preview) or the
// message in the body (/templates/preview) for a sample contact.
func (s *Server) previewTemplate(c *fiber.Ctx) error {
	var id int64
	if c.Params("tid") != "" {
		var err error
		if id, err = request.PathID(c, "tid", "template"); err != nil {
			return err
		}
	}
	var in struct {
		messaging.MessageInput
		ContactID  string            `json:"contact_id"`
		Properties map[string]string `json:"properties"`
	}
	if len(c.Request().Body()) > 0 {
		if err := request.ParseJSON(c, &in); err != nil {
			return err
		}
	}
	p, err := s.msg.PreviewTemplate(c.UserContext(), id, in.MessageInput, strings.TrimSpace(in.ContactID), in.Properties)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// ---- lists and broadcasts ----

func (s *Server) searchLists(c *fiber.Ctx) error {
	lists, err := s.msg.SearchLists(c.UserContext(), c.Query("q"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"lists": lists})
}

func (s *Server) quota(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	q, err := s.msg.Quota(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(q)
}

func (s *Server) previewBroadcast(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	var in struct {
		ListID string `json:"list_id"`
	}
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	if strings.TrimSpace(in.ListID) == "" {
		return fiber.NewError(fiber.StatusBadRequest, "list_id is required")
	}
	p, err := s.msg.PreviewBroadcast(c.UserContext(), id, in.ListID)
	if err != nil {
		return response.SendError(c, err)
	}
	return c.JSON(p)
}

func (s *Server) createBroadcast(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	var in struct {
		ListID      string `json:"list_id"`
		ListName    string `json:"list_name"`
		Template    string `json:"template"`
		ScheduledAt string `json:"scheduled_at"` // RFC 3339; empty: now
		messaging.MessageInput
	}
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	bi := messaging.BroadcastInput{ConnectionID: id, ListID: in.ListID, ListName: in.ListName, Template: in.Template, Message: in.MessageInput}
	if in.ScheduledAt != "" {
		at, err := time.Parse(time.RFC3339, in.ScheduledAt)
		if err != nil {
			return fiber.NewError(fiber.StatusBadRequest, "scheduled_at must be an RFC 3339 time, e.g. 2026-12-01T09:00:00+09:00")
		}
		if at.After(time.Now()) {
			bi.ScheduledAt = &at
		}
	}
	v, err := s.msg.CreateBroadcast(c.UserContext(), bi)
	if err != nil {
		return response.SendError(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(v)
}

func (s *Server) listBroadcasts(c *fiber.Ctx) error {
	conn, err := request.Connection(c, s.st)
	if err != nil {
		return err
	}
	id := conn.ID
	bs, err := s.msg.Broadcasts(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"broadcasts": bs})
}

func (s *Server) getBroadcast(c *fiber.Ctx) error {
	id, err := request.PathID(c, "bid", "broadcast")
	if err != nil {
		return err
	}
	v, err := s.msg.GetBroadcast(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

func (s *Server) cancelBroadcast(c *fiber.Ctx) error {
	id, err := request.PathID(c, "bid", "broadcast")
	if err != nil {
		return err
	}
	if err := s.msg.CancelBroadcast(c.UserContext(), id); err != nil {
		return err
	}
	v, err := s.msg.GetBroadcast(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(v)
}

// ---- conversations ----

func (s *Server) conversations(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	limit, err := request.QueryLimit(c, 100, 500)
	if err != nil {
		return err
	}
	cs, err := s.msg.Conversations(c.UserContext(), id, limit)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"conversations": cs})
}

func (s *Server) chatMessages(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	limit, err := request.QueryLimit(c, 50, 200)
	if err != nil {
		return err
	}
	var before int64
	if v := c.Query("before"); v != "" {
		if before, err = strconv.ParseInt(v, 10, 64); err != nil || before <= 0 {
			return fiber.NewError(fiber.StatusBadRequest, "before must be a message id")
		}
	}
	ms, err := s.msg.ChatMessages(c.UserContext(), id, c.Params("user"), before, limit)
	if err != nil {
		return err
	}
	var next string
	if len(ms) == limit {
		next = strconv.FormatInt(ms[0].ID, 10)
	}
	return c.JSON(fiber.Map{"messages": ms, "before": next})
}

func (s *Server) reply(c *fiber.Ctx) error {
	id, err := request.ConnectionID(c)
	if err != nil {
		return err
	}
	var in struct {
		messaging.MessageInput
		IdempotencyKey string `json:"idempotency_key"`
	}
	if err := request.ParseJSON(c, &in); err != nil {
		return err
	}
	key := in.IdempotencyKey
	if key == "" {
		key = c.Get("Idempotency-Key")
	}
	res, err := s.msg.Reply(c.UserContext(), id, c.Params("user"), in.MessageInput, key)
	if err != nil {
		return response.SendError(c, err)
	}
	return c.JSON(res)
}

// messagesBody is the "messages" form of POST /connections/{id}/messages.
type messagesBody struct {
	To             string          `json:"to"`
	Text           string          `json:"text"`
	Messages       json.RawMessage `json:"messages"`
	IdempotencyKey string          `json:"idempotency_key"`
}
