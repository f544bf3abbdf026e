package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"linehub/app/contactsync"
	"linehub/app/line"
	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web/response"
)

// inboxSize is how many conversations the combined inbox lists, unanswered
// first, across all connections.
const inboxSize = 200

// inboxRow is one conversation of the combined inbox, with its account.
type inboxRow struct {
	messaging.Conversation
	Conn store.Connection
}

// inboxPage lists every connection's conversations in one place, so an
// admin with several LINE accounts sees who waits for an answer without
// opening each account.
func (s *Server) inboxPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	conns, err := s.st.Connections(ctx)
	if err != nil {
		return err
	}
	var rows []inboxRow
	for _, conn := range conns {
		cs, err := s.msg.Conversations(ctx, conn.ID, inboxSize)
		if err != nil {
			return fmt.Errorf("conversations of connection %d: %w", conn.ID, err)
		}
		for _, cv := range cs {
			rows = append(rows, inboxRow{Conversation: cv, Conn: conn})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Unanswered != rows[j].Unanswered {
			return rows[i].Unanswered
		}
		return rows[i].LastMessageAt > rows[j].LastMessageAt
	})
	if len(rows) > inboxSize {
		rows = rows[:inboxSize]
	}
	return s.render(c, 0, "inbox", &page{Title: "inbox.title", Nav: "chats", Data: fiber.Map{"Rows": rows, "Accounts": len(conns)}})
}

// chatLines prepares messages for the chat bubbles: a sent message shows
// each LINE message object as one line.
func chatLines(ms []messaging.ChatMessage) []chatLine {
	lines := make([]chatLine, 0, len(ms))
	for _, m := range ms {
		l := chatLine{ChatMessage: m}
		if m.Direction == store.ChatOut && len(m.Messages) > 0 {
			var raw []json.RawMessage
			if json.Unmarshal(m.Messages, &raw) == nil {
				l.Lines = messageSummary(raw)
			}
		}
		if len(l.Lines) == 0 {
			l.Lines = []string{m.Text}
		}
		lines = append(lines, l)
	}
	return lines
}

// chatAfter answers the open conversation's poll: the messages stored
// after the newest one the page shows (by id, so a message whose LINE
// timestamp is older than one shown is not missed), rendered as the page
// renders them. It sits behind the session like the page itself and reads
// only this connection's conversation with this friend.
func (s *Server) chatAfter(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	after, err := strconv.ParseInt(c.Query("after"), 10, 64)
	if err != nil || after < 0 {
		return fiber.NewError(fiber.StatusBadRequest, "after must be a message id")
	}
	ms, err := s.msg.ChatMessages(c.UserContext(), conn.ID, c.Params("user"), 0, chatPageSize)
	if err != nil {
		return err
	}
	var fresh []messaging.ChatMessage
	last := after
	for _, m := range ms {
		if m.ID > after {
			fresh = append(fresh, m)
			last = max(last, m.ID)
		}
	}
	var buf bytes.Buffer
	if len(fresh) > 0 {
		p := &page{L: s.locale(c), Data: fiber.Map{"Messages": chatLines(fresh)}}
		if err := s.ui.pages["chat"].ExecuteTemplate(&buf, "bubbles", p); err != nil {
			return fmt.Errorf("render new chat messages: %w", err)
		}
	}
	c.Set("Cache-Control", "no-store")
	return c.JSON(fiber.Map{
		"html": buf.String(), "last": last, "count": len(fresh),
		// A full page of new messages may have left some out: the page
		// reloads instead of showing a gap.
		"reload": len(fresh) == chatPageSize,
	})
}

// unansweredCount answers the menu's badge, which app.js asks for every
// so often while the tab is shown: one indexed count (see
// store.UnansweredCount) and the badge's label in the admin's language.
func (s *Server) unansweredCount(c *fiber.Ctx) error {
	n, err := s.st.UnansweredCount(c.UserContext())
	if err != nil {
		return err
	}
	c.Set("Cache-Control", "no-store")
	return c.JSON(fiber.Map{"count": n, "label": s.locale(c).T("inbox.unanswered_count", n)})
}

// shortUserID shortens a LINE user id for a heading: "U1234…".
func shortUserID(id string) string {
	if len(id) <= 6 {
		return id
	}
	return id[:5] + "…"
}

// maxImageURL is LINE's limit for an image message's URLs.
const maxImageURL = 2000

// input turns the reply form into the message to send: the text or the
// template's rendered messages, then the image if one is given.
func (f replyForm) input(l *locale) (messaging.MessageInput, error) {
	if strings.TrimSpace(f.Text) == "" && strings.TrimSpace(f.Messages) == "" && f.Image == "" {
		return messaging.MessageInput{}, fiber.NewError(fiber.StatusBadRequest, l.T("chat.reply_empty"))
	}
	if f.Image == "" {
		if strings.TrimSpace(f.Messages) != "" {
			return messaging.MessageInput{Messages: json.RawMessage(f.Messages)}, nil
		}
		return messaging.MessageInput{Text: f.Text}, nil
	}
	u, err := url.Parse(f.Image)
	if err != nil || u.Scheme != "https" || u.Host == "" || len(f.Image) > maxImageURL {
		return messaging.MessageInput{}, fiber.NewError(fiber.StatusBadRequest, l.T("chat.image_https"))
	}
	var msgs []json.RawMessage
	switch {
	case strings.TrimSpace(f.Messages) != "":
		if json.Unmarshal([]byte(f.Messages), &msgs) != nil {
			return messaging.MessageInput{}, fiber.NewError(fiber.StatusBadRequest, l.T("chat.template_broken"))
		}
	case strings.TrimSpace(f.Text) != "":
		msgs = append(msgs, line.TextMessage(f.Text))
	}
	img, _ := json.Marshal(map[string]string{"type": "image", "originalContentUrl": f.Image, "previewImageUrl": previewURL(f.Image)})
	raw, _ := json.Marshal(append(msgs, img))
	return messaging.MessageInput{Messages: raw}, nil
}

// previewURL is the preview LINE shows for the image at u: the smaller
// copy linehub made of an image uploaded here, else the image itself.
func previewURL(u string) string {
	i := strings.LastIndex(u, chatImagePath)
	if i < 0 {
		return u
	}
	name := u[i+len(chatImagePath):]
	if !chatImageName.MatchString(name) || strings.Contains(name, "-p.") {
		return u
	}
	return u[:i+len(chatImagePath)] + name[:64] + "-p.jpg"
}

func replyFormOf(c *fiber.Ctx) replyForm {
	f := replyForm{Text: c.FormValue("text"), Messages: c.FormValue("messages"), Image: strings.TrimSpace(c.FormValue("image"))}
	// A template's messages come back with a failed send: show them again.
	var raw []json.RawMessage
	if f.Messages != "" && json.Unmarshal([]byte(f.Messages), &raw) == nil {
		f.Preview = messageSummary(raw)
	}
	return f
}

// replyTemplate answers the reply form's template button (its own address:
// the form's double-submit guard disables the pressed button, whose name
// and value would then not be sent).
func (s *Server) replyTemplate(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	return s.pickTemplate(c, conn, c.Params("user"), replyFormOf(c))
}

// pickTemplate fills the reply form with a saved template rendered for
// this friend: their HubSpot contact's properties when linked, and their
// LINE name. Nothing is sent; the admin reads (and may edit) it first.
func (s *Server) pickTemplate(c *fiber.Ctx, conn *store.Connection, user string, form replyForm) error {
	ctx := c.UserContext()
	l := s.locale(c)
	tid, err := strconv.ParseInt(c.FormValue("template"), 10, 64)
	if err != nil || tid <= 0 {
		return s.chatView(c, conn, user, fiber.StatusBadRequest, l.T("chat.template_none"), form)
	}
	t, err := s.msg.GetTemplate(ctx, tid)
	if err != nil {
		status, _ := response.StatusOf(err)
		return s.chatView(c, conn, user, status, s.userError(c, err), form)
	}
	fs, err := s.st.FriendsByUser(ctx, conn.ID, []string{user})
	if err != nil {
		return err
	}
	f := fs[user]
	props := map[string]string{}
	if f != nil && f.ContactID != "" && len(t.Placeholders) > 0 {
		p, err := s.msg.PreviewTemplate(ctx, tid, messaging.MessageInput{}, f.ContactID, nil)
		if err != nil {
			status, _ := response.StatusOf(err)
			return s.chatView(c, conn, user, status, s.userError(c, err), form)
		}
		maps.Copy(props, p.Properties)
	}
	// The names Reply fills in too, so the admin sees what goes out.
	if f != nil && f.DisplayName != "" {
		props["display_name"] = f.DisplayName
		props[contactsync.PropertyName("line_user_name", conn.Serial)] = f.DisplayName
	}
	out, err := messaging.Render(t.Messages, props)
	if err != nil {
		status, _ := response.StatusOf(err)
		return s.chatView(c, conn, user, status, s.userError(c, err), form)
	}
	form.TemplateID, form.Missing = tid, nil
	for _, n := range t.Placeholders {
		if strings.TrimSpace(props[n]) == "" {
			form.Missing = append(form.Missing, n)
		}
	}
	if len(out) == 1 && isPlainText(out[0]) {
		form.Text, form.Messages, form.Preview = messageSummary(out)[0], "", nil
	} else {
		b, _ := json.Marshal(out)
		form.Text, form.Messages, form.Preview = "", string(b), messageSummary(out)
	}
	return s.chatView(c, conn, user, 0, "", form)
}
