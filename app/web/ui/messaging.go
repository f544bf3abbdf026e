package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web/request"
	"linehub/app/web/response"
)

// messagingRoutes registers the messaging dashboard pages: broadcasts,
// 1:1 chat, message templates and the workflow panel. Every handler calls
// the messaging functions the JSON API of api/messaging.go calls.
func (s *Server) messagingRoutes(app *fiber.App, authed func(fiber.Handler) []fiber.Handler) {
	app.Get("/broadcasts", authed(s.broadcastsPage)...)
	app.Post("/broadcasts", authed(s.broadcastSubmit)...)
	app.Get("/broadcasts/:bid", authed(s.broadcastPage)...)
	app.Get("/broadcasts/:bid/progress", authed(s.broadcastProgress)...)
	app.Post("/broadcasts/:bid/cancel", authed(s.cancelBroadcast)...)

	app.Get("/connections/:id/chat", authed(s.conversationsPage)...)
	app.Get("/connections/:id/chat/:user", authed(s.chatPage)...)
	app.Get("/connections/:id/chat/:user/after", authed(s.chatAfter)...)
	app.Get("/chats", authed(s.inboxPage)...)
	app.Get("/chats/unanswered", authed(s.unansweredCount)...)
	app.Post("/connections/:id/chat/:user/reply", append([]fiber.Handler{s.oversizedIcon}, authed(s.reply)...)...)
	app.Post("/connections/:id/chat/:user/template", authed(s.replyTemplate)...)

	app.Get("/templates", authed(s.templatesPage)...)
	app.Get("/templates/new", authed(s.newTemplateForm)...)
	app.Post("/templates", authed(s.templateSubmit)...)
	app.Get("/templates/:tid", authed(s.editTemplateForm)...)
	app.Post("/templates/:tid", authed(s.templateSubmit)...)
	app.Post("/templates/:tid/delete", authed(s.deleteTemplate)...)

	app.Get("/connections/:id/workflow", authed(s.workflowPage)...)
	app.Post("/connections/:id/workflow/key", authed(s.rotateWorkflowKey)...)
	app.Post("/connections/:id/workflow/secret", authed(s.workflowSecret)...)
}

// sendErrorText is what the admin sees for a failed send: messaging's
// sending errors (rate limit, quota, skip) mapped as the API maps them.
func (s *Server) sendErrorText(c *fiber.Ctx, err error) string {
	return s.userError(c, response.SendError(c, err))
}

// messageSummary turns LINE message objects into one readable line each.
func messageSummary(raw []json.RawMessage) []string {
	out := make([]string, 0, len(raw))
	for _, m := range raw {
		var v struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			AltText string `json:"altText"`
		}
		_ = json.Unmarshal(m, &v)
		switch {
		case v.Type == "text":
			out = append(out, v.Text)
		case v.AltText != "":
			out = append(out, "["+v.Type+"] "+v.AltText)
		default:
			out = append(out, "["+v.Type+"]")
		}
	}
	return out
}

// ---- 1:1 chat ----

const chatPageSize = 50

func (s *Server) conversationsPage(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	cs, err := s.msg.Conversations(c.UserContext(), conn.ID, 200)
	if err != nil {
		return err
	}
	return s.render(c, 0, "chat_list", &page{Title: "chat.title", Nav: "chats", Data: fiber.Map{"Conn": conn, "Conversations": cs}})
}

type chatLine struct {
	messaging.ChatMessage
	Lines []string
}

// replyForm is the reply form's state, kept across a failed send or a
// template pick so nothing typed is lost.
type replyForm struct {
	Text       string
	Messages   string // rendered LINE message JSON from a template, instead of Text
	Image      string // HTTPS URL of an image sent after the text
	TemplateID int64
	Preview    []string // what Messages shows as
	Missing    []string // template placeholders this friend has no value for
}

func (s *Server) chatView(c *fiber.Ctx, conn *store.Connection, userID string, status int, errMsg string, form replyForm) error {
	ctx := c.UserContext()
	var before int64
	if v := c.Query("before"); v != "" {
		before, _ = strconv.ParseInt(v, 10, 64)
	}
	ms, err := s.msg.ChatMessages(ctx, conn.ID, userID, before, chatPageSize)
	if err != nil {
		return err
	}
	lines := chatLines(ms)
	var older string
	if len(ms) == chatPageSize {
		older = strconv.FormatInt(ms[0].ID, 10)
	}
	// The newest message shown: the page polls for those after it. An
	// older page (?before=) does not poll: new messages belong below the
	// newest, which it does not show.
	var last int64
	for _, m := range ms {
		last = max(last, m.ID)
	}
	fs, err := s.st.FriendsByUser(ctx, conn.ID, []string{userID})
	if err != nil {
		return err
	}
	if status == 0 && fs[userID] == nil && len(ms) == 0 {
		return fiber.NewError(fiber.StatusNotFound, "no such friend")
	}
	ts, err := s.msg.Templates(ctx)
	if err != nil {
		return err
	}
	var edits map[string]store.ContactEdit
	if f := fs[userID]; f != nil {
		es, err := s.st.ContactEdits(ctx, []int64{f.ID})
		if err != nil {
			return err
		}
		edits = es[f.ID]
	}
	hs := s.conns.HubSpotInfo(ctx)
	return s.render(c, status, "chat", &page{Title: "chat.conversation", Nav: "chats", Error: errMsg, Data: fiber.Map{
		"Conn": conn, "UserID": userID, "Friend": fs[userID], "Messages": lines, "Older": older, "Edits": edits,
		"Form": form, "Templates": ts, "Idem": randomToken(), "Portal": hs.PortalID, "Via": c.Query("via"),
		"Last": last, "Poll": before == 0,
		// LINE loads images over HTTPS only: without an HTTPS public URL
		// the form says so instead of offering an upload that must fail.
		"CanUpload": strings.HasPrefix(s.cfg.EffectivePublicURL(), "https://"),
	}})
}

func (s *Server) chatPage(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	return s.chatView(c, conn, c.Params("user"), 0, "", replyForm{})
}

func (s *Server) reply(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	user := c.Params("user")
	form := replyFormOf(c)
	// An uploaded image is stored first and sent by its address, as a
	// typed URL would be; the form keeps that address if the send fails.
	switch orig, _, err := s.chatImageURLs(c, s.locale(c)); {
	case errors.Is(err, errNoUpload):
	case err != nil:
		status, _ := response.StatusOf(err)
		return s.chatView(c, conn, user, status, s.userError(c, err), form)
	default:
		form.Image = orig
	}
	in, err := form.input(s.locale(c))
	if err != nil {
		status, _ := response.StatusOf(err)
		return s.chatView(c, conn, user, status, s.userError(c, err), form)
	}
	// The form's one-time key makes a double click (or a resubmitted form)
	// send once.
	res, err := s.msg.Reply(c.UserContext(), conn.ID, user, in, c.FormValue("idem"))
	if err != nil {
		status, _ := response.StatusOf(response.SendError(c, err))
		return s.chatView(c, conn, user, status, s.sendErrorText(c, err), form)
	}
	flash := "chat.sent_push"
	switch {
	case res.Duplicate:
		flash = "chat.sent_duplicate"
	case res.Via == "reply":
		flash = "chat.sent_reply"
	}
	return c.Redirect(fmt.Sprintf("/connections/%d/chat/%s?ok=%s#reply", conn.ID, url.PathEscape(user), flash), fiber.StatusSeeOther)
}

// ---- templates ----

func (s *Server) templatesPage(c *fiber.Ctx) error {
	ts, err := s.msg.Templates(c.UserContext())
	if err != nil {
		return err
	}
	type row struct {
		messaging.Template
		Lines []string
	}
	rows := make([]row, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, row{t, messageSummary(t.Messages)})
	}
	return s.render(c, 0, "templates", &page{Title: "tpl.title", Nav: "templates", Data: fiber.Map{"Templates": rows}})
}

// templateForm is the editor's state, kept across a failed save or a
// preview so nothing typed is lost.
type templateForm struct {
	ID       int64
	Name     string
	Text     string
	Messages string // LINE message JSON, instead of Text
	Sample   string // HubSpot contact id or email
	Props    string // name=value lines
}

func (f templateForm) input() messaging.MessageInput {
	in := messaging.MessageInput{Text: f.Text}
	if strings.TrimSpace(f.Messages) != "" {
		in.Messages = json.RawMessage(f.Messages)
	}
	return in
}

func (s *Server) templateView(c *fiber.Ctx, status int, f templateForm, errMsg string, preview *messaging.Preview) error {
	title := "tpl.new"
	if f.ID > 0 {
		title = "tpl.edit"
	}
	var lines []string
	if preview != nil {
		lines = messageSummary(preview.Messages)
	}
	return s.render(c, status, "template", &page{Title: title, Nav: "templates", Error: errMsg, Data: fiber.Map{
		"Form": f, "Preview": preview, "PreviewLines": lines,
	}})
}

func (s *Server) newTemplateForm(c *fiber.Ctx) error {
	return s.templateView(c, 0, templateForm{}, "", nil)
}

func (s *Server) editTemplateForm(c *fiber.Ctx) error {
	id, err := request.PathID(c, "tid", "template")
	if err != nil {
		return err
	}
	t, err := s.msg.GetTemplate(c.UserContext(), id)
	if err != nil {
		return err
	}
	f := templateForm{ID: t.ID, Name: t.Name}
	if len(t.Messages) == 1 && len(messageSummary(t.Messages)) == 1 && isPlainText(t.Messages[0]) {
		f.Text = messageSummary(t.Messages)[0]
	} else {
		b, _ := json.MarshalIndent(t.Messages, "", "  ")
		f.Messages = string(b)
	}
	return s.templateView(c, 0, f, "", nil)
}

// isPlainText tells a text message without extras (emojis, quick replies),
// which the editor can show as plain text without losing anything.
func isPlainText(m json.RawMessage) bool {
	var v map[string]any
	if json.Unmarshal(m, &v) != nil || v["type"] != "text" {
		return false
	}
	return len(v) == 2
}

func (s *Server) templateSubmit(c *fiber.Ctx) error {
	f := templateForm{Name: c.FormValue("name"), Text: c.FormValue("text"), Messages: c.FormValue("messages"),
		Sample: strings.TrimSpace(c.FormValue("sample")), Props: c.FormValue("props")}
	if c.Params("tid") != "" {
		id, err := request.PathID(c, "tid", "template")
		if err != nil {
			return err
		}
		if _, err := s.msg.GetTemplate(c.UserContext(), id); err != nil {
			return err
		}
		f.ID = id
	}
	if c.FormValue("action") == "preview" {
		p, err := s.msg.PreviewTemplate(c.UserContext(), 0, f.input(), f.Sample, parseProps(f.Props))
		if err != nil {
			status, _ := response.StatusOf(err)
			return s.templateView(c, status, f, s.userError(c, err), nil)
		}
		return s.templateView(c, 0, f, "", &p)
	}
	t, err := s.msg.SaveTemplate(c.UserContext(), f.ID, f.Name, f.input())
	if err != nil {
		status, _ := response.StatusOf(err)
		return s.templateView(c, status, f, s.userError(c, err), nil)
	}
	return c.Redirect(fmt.Sprintf("/templates/%d?ok=tpl.saved", t.ID), fiber.StatusSeeOther)
}

// parseProps reads "name=value" (or "name: value") lines of sample
// properties.
func parseProps(s string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if k = strings.TrimSpace(k); ok && k != "" {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func (s *Server) deleteTemplate(c *fiber.Ctx) error {
	id, err := request.PathID(c, "tid", "template")
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		t, err := s.msg.GetTemplate(c.UserContext(), id)
		if err != nil {
			return err
		}
		f := templateForm{ID: t.ID, Name: t.Name}
		b, _ := json.MarshalIndent(t.Messages, "", "  ")
		f.Messages = string(b)
		return s.templateView(c, fiber.StatusBadRequest, f, s.locale(c).T("tpl.delete_confirm_needed"), nil)
	}
	if err := s.msg.DeleteTemplate(c.UserContext(), id); err != nil {
		return err
	}
	return c.Redirect("/templates?ok=tpl.deleted", fiber.StatusSeeOther)
}

// ---- workflow panel ----

func (s *Server) workflowView(c *fiber.Ctx, conn *store.Connection, status int, errMsg, newKey string) error {
	k, err := s.msg.WorkflowKeyInfo(c.UserContext(), conn)
	if err != nil {
		return err
	}
	ts, err := s.msg.Templates(c.UserContext())
	if err != nil {
		return err
	}
	example := "welcome"
	if len(ts) > 0 {
		example = ts[0].Name
	}
	return s.render(c, status, "workflow", &page{Title: "workflow.title", Nav: "dash", Error: errMsg, Data: fiber.Map{
		"Conn": conn, "Key": k, "NewKey": newKey, "HTTPS": strings.HasPrefix(k.URL, "https://"),
		"TemplateURL": k.URL + "?template=" + url.QueryEscape(example),
		"TextURL":     k.URL + "?text=" + strings.ReplaceAll(url.QueryEscape("Hello {{firstname}}"), "+", "%20"),
	}})
}

func (s *Server) workflowPage(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	return s.workflowView(c, conn, 0, "", "")
}

func (s *Server) rotateWorkflowKey(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	k, err := s.msg.WorkflowKeyInfo(c.UserContext(), conn)
	if err != nil {
		return err
	}
	// A rotation breaks the workflows that use the old key: ask first.
	if k.Last4 != "" && c.FormValue("confirm") != "yes" {
		return s.workflowView(c, conn, fiber.StatusBadRequest, s.locale(c).T("workflow.rotate_confirm_needed"), "")
	}
	nk, err := s.msg.RotateWorkflowKey(c.UserContext(), conn.ID)
	if err != nil {
		return err
	}
	s.log.Info("workflow key issued in dashboard", "connection", conn.ID, "last4", nk.Last4)
	// Shown once, in this response only; the store keeps a hash.
	return s.workflowView(c, conn, 0, "", nk.Key)
}

func (s *Server) workflowSecret(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	secret := strings.TrimSpace(c.FormValue("secret"))
	flash := "workflow.secret_saved"
	if c.FormValue("clear") == "yes" {
		secret, flash = "", "workflow.secret_cleared"
	} else if secret == "" {
		return s.workflowView(c, conn, fiber.StatusBadRequest, s.locale(c).T("workflow.secret_empty"), "")
	}
	if err := s.msg.SetWorkflowSigningSecret(c.UserContext(), conn.ID, secret); err != nil {
		status, _ := response.StatusOf(err)
		return s.workflowView(c, conn, status, s.userError(c, err), "")
	}
	return c.Redirect(fmt.Sprintf("/connections/%d/workflow?ok=%s", conn.ID, flash), fiber.StatusSeeOther)
}
