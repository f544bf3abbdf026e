package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/hubspot"
	"linehub/app/messaging"
	"linehub/app/store"
	"linehub/app/web/request"
	"linehub/app/web/response"
)

// broadcastForm is the composer's state. Everything lives in one form so
// that searching lists or previewing keeps what was typed.
type broadcastForm struct {
	Q          string
	ListID     string
	ListName   string
	ConnID     int64
	TemplateID string
	Text       string
	At         string // datetime-local value in the dashboard's zone; "" sends now
}

func readBroadcastForm(c *fiber.Ctx) broadcastForm {
	f := broadcastForm{Q: strings.TrimSpace(c.FormValue("q")), TemplateID: c.FormValue("template"),
		Text: c.FormValue("text"), At: strings.TrimSpace(c.FormValue("scheduled_at"))}
	f.ListID, f.ListName, _ = strings.Cut(c.FormValue("list"), "|")
	f.ConnID, _ = strconv.ParseInt(c.FormValue("connection"), 10, 64)
	return f
}

// ListValue is the radio value of a list: id and name travel together so
// the report can name the list without asking HubSpot again.
func (f broadcastForm) ListValue() string {
	if f.ListID == "" {
		return ""
	}
	return f.ListID + "|" + f.ListName
}

// scheduledAt reads the schedule field in loc, the zone every page shows
// times in, so a time typed as shown means what it says.
func (f broadcastForm) scheduledAt(loc *time.Location) (*time.Time, error) {
	if f.At == "" {
		return nil, nil
	}
	const layout = "2006-01-02T15:04" // what <input type="datetime-local"> sends
	at, err := time.ParseInLocation(layout, f.At, loc)
	if err != nil {
		return nil, err
	}
	if at.Format(layout) != f.At {
		// time.Parse lets "9:00" through; a browser never sends it.
		return nil, fmt.Errorf("schedule %q is not in the form %s", f.At, layout)
	}
	return &at, nil
}

type broadcastRow struct {
	messaging.BroadcastView
	ConnName string
	Percent  int
}

func percent(sent, total int) int {
	if total <= 0 {
		return 0
	}
	return min(100, sent*100/total)
}

// composed is what the preview and the send-now check found: the
// message everyone gets and whether the admin must still confirm.
type composed struct {
	Lines   []string // the message as the recipients will read it
	Confirm string   // why the send waits for the admin's tick ("" when it does not)
}

func (s *Server) composeView(c *fiber.Ctx, status int, f broadcastForm, preview *messaging.BroadcastPreview, errMsg string) error {
	return s.composeViewWith(c, status, f, preview, composed{}, errMsg)
}

func (s *Server) composeViewWith(c *fiber.Ctx, status int, f broadcastForm, preview *messaging.BroadcastPreview, cm composed, errMsg string) error {
	ctx := c.UserContext()
	l := s.locale(c)
	conns, err := s.st.Connections(ctx)
	if err != nil {
		return err
	}
	names := map[int64]string{}
	for _, cn := range conns {
		names[cn.ID] = cn.Name
	}
	if f.ConnID == 0 && len(conns) == 1 {
		f.ConnID = conns[0].ID
	}
	tmpls, err := s.msg.Templates(ctx)
	if err != nil {
		return err
	}
	// The same list search as GET /api/v1/hubspot/lists.
	lists, lerr := s.msg.SearchLists(ctx, f.Q)
	var listErr *notice
	if lerr != nil {
		n := s.explain(c, lerr)
		listErr = &n
	}
	if f.ListID != "" {
		found := false
		for _, li := range lists {
			found = found || li.ID == f.ListID
		}
		if !found {
			lists = append([]hubspot.List{{ID: f.ListID, Name: f.ListName, Size: -1}}, lists...)
		}
	}
	past, err := s.msg.Broadcasts(ctx, 0)
	if err != nil {
		return err
	}
	rows := make([]broadcastRow, 0, len(past))
	for _, b := range past {
		rows = append(rows, broadcastRow{BroadcastView: b, ConnName: names[b.ConnectionID], Percent: percent(b.Progress.Sent, b.Recipients)})
	}
	var quotaMsg string
	if preview != nil && preview.WouldExceed {
		quotaMsg = l.T("broadcast.quota_exceeded", preview.QuotaLeft, preview.Recipients)
		if errMsg == "" {
			errMsg = quotaMsg
		}
	}
	return s.render(c, status, "broadcasts", &page{L: l, Title: "broadcast.title", Nav: "broadcasts", Error: errMsg, Data: fiber.Map{
		"Form": f, "Conns": conns, "Templates": tmpls, "Lists": lists, "ListErr": listErr,
		"Preview": preview, "QuotaMsg": quotaMsg, "Broadcasts": rows,
		"Lines": cm.Lines, "Confirm": cm.Confirm,
		"CanConfirm": preview != nil && !preview.WouldExceed && preview.Recipients > 0,
	}})
}

func (s *Server) broadcastsPage(c *fiber.Ctx) error {
	f := broadcastForm{Q: strings.TrimSpace(c.Query("q"))}
	f.ConnID, _ = strconv.ParseInt(c.Query("connection"), 10, 64)
	return s.composeView(c, 0, f, nil, "")
}

// broadcastSubmit serves the composer's three buttons: search lists,
// preview the recipients, send (now or at the scheduled time).
func (s *Server) broadcastSubmit(c *fiber.Ctx) error {
	ctx := c.UserContext()
	l := s.locale(c)
	f := readBroadcastForm(c)
	action := c.FormValue("action")
	if action != "preview" && action != "send" && action != "schedule" {
		return s.composeView(c, 0, f, nil, "")
	}
	fail := func(status int, msg string) error { return s.composeView(c, status, f, nil, msg) }
	if f.ListID == "" {
		return fail(fiber.StatusBadRequest, l.T("broadcast.pick_list"))
	}
	if f.ConnID == 0 {
		return fail(fiber.StatusBadRequest, l.T("broadcast.pick_connection"))
	}
	if strings.TrimSpace(f.Text) != "" && f.TemplateID != "" {
		return fail(fiber.StatusBadRequest, l.T("broadcast.text_or_template"))
	}
	hasMessage := strings.TrimSpace(f.Text) != "" || f.TemplateID != ""
	msgInput := messaging.MessageInput{Text: f.Text}
	if action == "preview" {
		p, err := s.msg.PreviewBroadcast(ctx, f.ConnID, f.ListID)
		if err != nil {
			status, _ := response.StatusOf(response.SendError(c, err))
			return fail(status, s.sendErrorText(c, err))
		}
		// The message is checked the way a send checks it, so that a
		// placeholder no broadcast can fill is reported now, not at Send.
		var cm composed
		if hasMessage {
			msgs, err := s.msg.BroadcastMessages(ctx, f.TemplateID, msgInput)
			if err != nil {
				status, _ := response.StatusOf(response.SendError(c, err))
				return s.composeView(c, status, f, &p, s.sendErrorText(c, err))
			}
			cm.Lines = messageSummary(msgs)
		}
		return s.composeViewWith(c, 0, f, &p, cm, "")
	}
	var at *time.Time
	if action == "schedule" {
		var err error
		if at, err = f.scheduledAt(s.zone()); err != nil || at == nil {
			return fail(fiber.StatusBadRequest, l.T("broadcast.bad_time"))
		}
		if !at.After(time.Now()) {
			return fail(fiber.StatusBadRequest, l.T("broadcast.past_time"))
		}
	}
	in := messaging.BroadcastInput{ConnectionID: f.ConnID, ListID: f.ListID, ListName: f.ListName, Template: f.TemplateID,
		Message: msgInput, ScheduledAt: at}
	if at == nil {
		msgs, err := s.msg.BroadcastMessages(ctx, f.TemplateID, msgInput)
		if err != nil {
			status, _ := response.StatusOf(response.SendError(c, err))
			return fail(status, s.sendErrorText(c, err))
		}
		// Sending now: count the recipients against LINE's quota first, so
		// a broadcast that cannot go out is refused here, with nothing stored.
		p, err := s.msg.CheckBroadcast(ctx, f.ConnID, f.ListID)
		if err != nil {
			status, _ := response.StatusOf(response.SendError(c, err))
			return fail(status, s.sendErrorText(c, err))
		}
		if p.WouldExceed {
			return s.composeView(c, fiber.StatusConflict, f, &p, "")
		}
		if p.Recipients == 0 {
			return s.composeView(c, fiber.StatusBadRequest, f, &p, l.T("broadcast.no_recipients"))
		}
		// Nothing goes out until the admin has ticked "this sends to N
		// people" for the number that is true now; a list that changed
		// since the tick asks again.
		n, _ := strconv.Atoi(c.FormValue("confirm_n"))
		if c.FormValue("confirm_send") != "yes" || n != p.Recipients {
			key := "broadcast.confirm_needed"
			if c.FormValue("confirm_send") == "yes" {
				key = "broadcast.confirm_changed"
			}
			return s.composeViewWith(c, fiber.StatusConflict, f, &p, composed{Lines: messageSummary(msgs), Confirm: l.T(key, p.Recipients)}, "")
		}
	}
	v, err := s.msg.CreateBroadcast(ctx, in)
	if err != nil {
		status, _ := response.StatusOf(response.SendError(c, err))
		return fail(status, s.sendErrorText(c, err))
	}
	s.log.Info("broadcast created in dashboard", "broadcast", v.ID, "connection", f.ConnID, "list", f.ListID, "scheduled", at != nil)
	flash := "broadcast.started"
	if at != nil {
		flash = "broadcast.scheduled"
	}
	return c.Redirect(fmt.Sprintf("/broadcasts/%d?ok=%s", v.ID, flash), fiber.StatusSeeOther)
}

func (s *Server) broadcastParam(c *fiber.Ctx) (messaging.BroadcastView, error) {
	id, err := request.PathID(c, "bid", "broadcast")
	if err != nil {
		return messaging.BroadcastView{}, err
	}
	return s.msg.GetBroadcast(c.UserContext(), id)
}

// broadcastFlash words the note after Send or Schedule by the broadcast's
// status now: the page reloads itself (same address) when the broadcast
// ends, and "Broadcast started" would then stand above a finished report.
func broadcastFlash(l *locale, ok, status string) string {
	if ok != "broadcast.started" && ok != "broadcast.scheduled" {
		return "" // render shows any other note as it is
	}
	switch status {
	case store.BroadcastScheduled:
		return l.T("broadcast.scheduled")
	case store.BroadcastPreparing, store.BroadcastSending:
		return l.T("broadcast.started")
	}
	if k := "broadcast.flash_" + status; l.Has(k) {
		return l.T(k)
	}
	return ""
}

func broadcastActive(status string) bool {
	return status == store.BroadcastScheduled || status == store.BroadcastPreparing || status == store.BroadcastSending
}

func (s *Server) broadcastPage(c *fiber.Ctx) error {
	v, err := s.broadcastParam(c)
	if err != nil {
		return err
	}
	return s.broadcastView(c, v, 0, "")
}

func (s *Server) broadcastView(c *fiber.Ctx, v messaging.BroadcastView, status int, errMsg string) error {
	connName := ""
	if cn, err := s.st.Connection(c.UserContext(), v.ConnectionID); err == nil {
		connName = cn.Name
	}
	return s.render(c, status, "broadcast", &page{Title: "broadcast.report", Nav: "broadcasts", Error: errMsg, Flash: broadcastFlash(s.locale(c), c.Query("ok"), v.Status), Data: fiber.Map{
		"B": v, "ConnName": connName, "Lines": messageSummary(v.Messages), "Percent": percent(v.Progress.Sent, v.Recipients),
		"Active":     broadcastActive(v.Status),
		"Cancelable": v.Status == store.BroadcastScheduled || v.Status == store.BroadcastPreparing,
	}})
}

// broadcastProgress is the page's poll (app.js): the same view as
// GET /api/v1/broadcasts/{id}, for the signed-in admin.
func (s *Server) broadcastProgress(c *fiber.Ctx) error {
	v, err := s.broadcastParam(c)
	if err != nil {
		return err
	}
	c.Set("Cache-Control", "no-store")
	return c.JSON(fiber.Map{
		"status":             v.Status,
		"status_label":       s.locale(c).T("broadcast.status_" + v.Status),
		"active":             broadcastActive(v.Status),
		"cancelable":         v.Status == store.BroadcastScheduled || v.Status == store.BroadcastPreparing,
		"members":            v.Members,
		"recipients":         v.Recipients,
		"skipped_no_line_id": v.SkippedNoID,
		"skipped_blocked":    v.SkippedBlock,
		"sent":               v.Progress.Sent,
		"failed":             v.Progress.Failed,
		"pending":            v.Progress.Pending,
		"percent":            percent(v.Progress.Sent, v.Recipients),
		"error":              v.Error,
	})
}

func (s *Server) cancelBroadcast(c *fiber.Ctx) error {
	id, err := request.PathID(c, "bid", "broadcast")
	if err != nil {
		return err
	}
	if err := s.msg.CancelBroadcast(c.UserContext(), id); err != nil {
		v, gerr := s.msg.GetBroadcast(c.UserContext(), id)
		if gerr != nil {
			return gerr
		}
		status, _ := response.StatusOf(err)
		return s.broadcastView(c, v, status, s.userError(c, err))
	}
	return c.Redirect(fmt.Sprintf("/broadcasts/%d?ok=broadcast.canceled", id), fiber.StatusSeeOther)
}
