package ui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"linehub/app/bridge"
	"linehub/app/hubspot"
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
	At         string // datetime-local value; "" sends now
	TZ         int    // the browser's offset east of UTC in minutes (app.js); 0 without JS
}

func readBroadcastForm(c *fiber.Ctx) broadcastForm {
	f := broadcastForm{Q: strings.TrimSpace(c.FormValue("q")), TemplateID: c.FormValue("template"),
		Text: c.FormValue("text"), At: strings.TrimSpace(c.FormValue("scheduled_at"))}
	f.ListID, f.ListName, _ = strings.Cut(c.FormValue("list"), "|")
	f.ConnID, _ = strconv.ParseInt(c.FormValue("connection"), 10, 64)
	f.TZ, _ = strconv.Atoi(c.FormValue("tz_offset"))
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

// scheduledAt reads the schedule field in the browser's time zone.
func (f broadcastForm) scheduledAt() (*time.Time, error) {
	if f.At == "" {
		return nil, nil
	}
	if f.TZ < -14*60 || f.TZ > 14*60 {
		f.TZ = 0
	}
	const layout = "2006-01-02T15:04" // what <input type="datetime-local"> sends
	at, err := time.ParseInLocation(layout, f.At, time.FixedZone("", f.TZ*60))
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
	bridge.BroadcastView
	ConnName string
	Percent  int
}

func percent(sent, total int) int {
	if total <= 0 {
		return 0
	}
	return min(100, sent*100/total)
}

func (s *Server) composeView(c *fiber.Ctx, status int, f broadcastForm, preview *bridge.BroadcastPreview, errMsg string) error {
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
	tmpls, err := s.b.Templates(ctx)
	if err != nil {
		return err
	}
	// The same list search as GET /api/v1/hubspot/lists.
	lists, lerr := s.b.SearchLists(ctx, f.Q)
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
	past, err := s.b.Broadcasts(ctx, 0)
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
	if action == "preview" {
		p, err := s.b.PreviewBroadcast(ctx, f.ConnID, f.ListID)
		if err != nil {
			status, _ := response.StatusOf(response.SendError(c, err))
			return fail(status, s.sendErrorText(c, err))
		}
		return s.composeView(c, 0, f, &p, "")
	}
	if strings.TrimSpace(f.Text) != "" && f.TemplateID != "" {
		return fail(fiber.StatusBadRequest, l.T("broadcast.text_or_template"))
	}
	var at *time.Time
	if action == "schedule" {
		var err error
		if at, err = f.scheduledAt(); err != nil || at == nil {
			return fail(fiber.StatusBadRequest, l.T("broadcast.bad_time"))
		}
		if !at.After(time.Now()) {
			return fail(fiber.StatusBadRequest, l.T("broadcast.past_time"))
		}
	}
	in := bridge.BroadcastInput{ConnectionID: f.ConnID, ListID: f.ListID, ListName: f.ListName, Template: f.TemplateID,
		Message: bridge.MessageInput{Text: f.Text}, ScheduledAt: at}
	if at == nil {
		// Sending now: count the recipients against LINE's quota first, so
		// a broadcast that cannot go out is refused here, with nothing stored.
		p, err := s.b.CheckBroadcast(ctx, f.ConnID, f.ListID)
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
	}
	v, err := s.b.CreateBroadcast(ctx, in)
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

func (s *Server) broadcastParam(c *fiber.Ctx) (bridge.BroadcastView, error) {
	id, err := request.PathID(c, "bid", "broadcast")
	if err != nil {
		return bridge.BroadcastView{}, err
	}
	return s.b.GetBroadcast(c.UserContext(), id)
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

func (s *Server) broadcastView(c *fiber.Ctx, v bridge.BroadcastView, status int, errMsg string) error {
	connName := ""
	if cn, err := s.st.Connection(c.UserContext(), v.ConnectionID); err == nil {
		connName = cn.Name
	}
	return s.render(c, status, "broadcast", &page{Title: "broadcast.report", Nav: "broadcasts", Error: errMsg, Data: fiber.Map{
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
	if err := s.b.CancelBroadcast(c.UserContext(), id); err != nil {
		v, gerr := s.b.GetBroadcast(c.UserContext(), id)
		if gerr != nil {
			return gerr
		}
		status, _ := response.StatusOf(err)
		return s.broadcastView(c, v, status, s.userError(c, err))
	}
	return c.Redirect(fmt.Sprintf("/broadcasts/%d?ok=broadcast.canceled", id), fiber.StatusSeeOther)
}
