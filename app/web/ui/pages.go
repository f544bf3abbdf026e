package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"image"
	_ "image/gif" // icon uploads
	"image/jpeg"
	"image/png"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspotproject"
	"linehub/app/line"
	"linehub/app/store"
	"linehub/app/web/request"
	"linehub/app/web/response"
)

const (
	maxIconBytes  = 512 << 10
	maxIconPixels = 2048
	// maxStoredIconBytes bounds an icon after re-encoding, which can be
	// larger than the upload.
	maxStoredIconBytes = 4 * maxIconBytes
	friendsPerPage     = 50
	// maxDescriptionChars bounds a connection's description, in
	// characters as the form says (not bytes).
	maxDescriptionChars = 500
	settingPublicURL    = "web.public_url"
)

// checkIcon accepts a PNG, JPEG or GIF of sane size and returns it
// re-encoded from its pixels (JPEG as JPEG, the others as PNG), so that
// what is stored and served is only an image: whatever else the upload
// carried (text after the image's end, comments, a second format's
// header) is gone. The dimensions are read from the header first, so an
// image that would decode to gigabytes is refused before any is allocated.
func checkIcon(data []byte) (string, []byte, error) {
	bad := &connections.InputError{Msg: "icon"}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || (format != "png" && format != "jpeg" && format != "gif") {
		return "", nil, &connections.InputError{Msg: "icon: not a PNG, JPEG or GIF image", Code: iconNotImage}
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > maxIconPixels || cfg.Height > maxIconPixels {
		return "", nil, bad
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return "", nil, bad
	}
	var out bytes.Buffer
	ct := "image/png"
	if format == "jpeg" {
		ct = "image/jpeg"
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: 90})
	} else {
		err = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&out, img)
	}
	if err != nil || out.Len() > maxStoredIconBytes {
		return "", nil, bad
	}
	return ct, out.Bytes(), nil
}

// iconNotImage marks an upload that is no image at all (a text file, a
// PDF): the admin picked the wrong file, and the size limits would only
// mislead.
const iconNotImage = "icon_not_image"

// iconError words a refused icon upload.
func iconError(l *locale, ie *connections.InputError) string {
	if ie.Code == iconNotImage {
		return l.T("err.icon_not_image")
	}
	return l.T("err.icon", maxIconBytes>>10)
}

type card struct {
	Conn    store.Connection
	Stats   store.FriendStats
	HasIcon bool
	Badges  cardBadges
	// NotSetUp: a channel secret or access token is missing, so LINE's
	// events cannot arrive or be checked yet.
	NotSetUp bool
}

func (s *Server) dashboard(c *fiber.Ctx) error {
	ctx := c.UserContext()
	conns, err := s.st.Connections(ctx)
	if err != nil {
		return err
	}
	cards := make([]card, 0, len(conns))
	for _, cn := range conns {
		st, err := s.st.FriendStats(ctx, cn.ID)
		if err != nil {
			return err
		}
		if cn.LastEventAt == nil {
			if cn.LastEventAt, err = s.st.LastEventAt(ctx, cn.ID); err != nil {
				return err
			}
		}
		_, ierr := s.st.ConnectionIcon(ctx, cn.ID)
		badges, err := s.cardBadges(ctx, cn.ID)
		if err != nil {
			return err
		}
		cards = append(cards, card{Conn: cn, Stats: st, HasIcon: ierr == nil, Badges: badges,
			NotSetUp: cn.SecretLast4 == "" || cn.TokenLast4 == ""})
	}
	loc := s.zone()
	now := time.Now().In(loc)
	since := time.Date(now.Year(), now.Month(), now.Day()-29, 0, 0, 0, 0, loc)
	days, err := s.st.EventsPerDayIn(ctx, 0, since, loc)
	if err != nil {
		return err
	}
	notes, err := s.st.NoteStats(ctx)
	if err != nil {
		return err
	}
	l := s.locale(c)
	hs := s.conns.HubSpotInfo(ctx)
	return s.render(c, 0, "dashboard", &page{L: l, Title: "dash.title", Nav: "dash", Data: fiber.Map{
		"Health":  healthNotices(l, s.whenText, s.sync.Status(), conns, notes),
		"Cards":   cards,
		"AtLimit": len(conns) >= hs.MaxConnections,
		"HubSpot": hs,
		"Charts": []template.HTML{
			chart(l, l.T("chart.follows"), "follow", "#06833a", days, since),
			chart(l, l.T("chart.unfollows"), "unfollow", "#d1242f", days, since),
			chart(l, l.T("chart.messages"), "message", "#0969da", days, since),
		},
	}})
}

// chartDays is how many days a dashboard chart shows, today last.
const chartDays = 30

// chart draws one 30-day bar chart as inline SVG with a y scale, dates
// under the bars, and the numbers as a table for touch screens and
// screen readers; without events it says so instead. since is the first
// day's midnight in the zone the days are counted in.
func chart(l *locale, title, typ, color string, days []store.DayCount, since time.Time) template.HTML {
	counts := make([]int, chartDays)
	for _, d := range days {
		if d.Type != typ {
			continue
		}
		t, err := time.ParseInLocation("2006-01-02", d.Day, since.Location())
		if err != nil {
			continue
		}
		// Dates, not durations: a day across a DST change is not 24 h.
		for i := range counts {
			if day := since.AddDate(0, 0, i); day.Year() == t.Year() && day.YearDay() == t.YearDay() {
				counts[i] += d.Count
				break
			}
		}
	}
	peak, total := 0, 0
	for _, n := range counts {
		total += n
		peak = max(peak, n)
	}
	esc := template.HTMLEscapeString
	label := func(i int) string { return since.AddDate(0, 0, i).Format("1/2") }
	var b strings.Builder
	fmt.Fprintf(&b, `<figure class="chart" data-chart="%s"><figcaption>%s <b>%d</b></figcaption>`, typ, esc(title), total)
	if total == 0 {
		fmt.Fprintf(&b, `<p class="chart-empty">%s</p></figure>`, esc(l.T("chart.empty")))
		return template.HTML(b.String())
	}
	// A scale of at least 5 keeps one event from looking like a flood.
	top := max(5, peak)
	if top > 5 {
		step := 5
		for top > step*5 {
			step *= 2
		}
		top = (top + step - 1) / step * step
	}
	const x0, x1, y0, y1 = 28.0, 316.0, 6.0, 96.0 // plot area in the viewBox
	bw := (x1 - x0) / chartDays
	fmt.Fprintf(&b, `<svg viewBox="0 0 320 118" role="img" aria-label="%s">`, esc(fmt.Sprintf("%s: %d (%s %s–%s)", title, total, l.T("chart.days"), label(0), label(chartDays-1))))
	for _, v := range []int{0, top / 2, top} {
		y := y1 - float64(v)/float64(top)*(y1-y0)
		stroke := "#eaeef2" // grid line
		if v == 0 {
			stroke = "#8c959f" // the axis
		}
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="%s"/><text class="axis" x="%.0f" y="%.1f" text-anchor="end">%d</text>`,
			x0, y+.5, x1, y+.5, stroke, x0-4, y+3, v)
	}
	for i, n := range counts {
		if n == 0 {
			continue
		}
		h := float64(n) / float64(top) * (y1 - y0)
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d</title></rect>`,
			x0+float64(i)*bw+1, y1-h, bw-2, h, color, label(i), n)
	}
	for _, i := range []int{0, 7, 14, 21, chartDays - 1} {
		x, anchor := x0+(float64(i)+.5)*bw, "middle"
		if i == chartDays-1 {
			x, anchor = x1, "end" // inside the picture
		}
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="114" text-anchor="%s">%s</text>`, x, anchor, label(i))
	}
	fmt.Fprintf(&b, `</svg><details><summary>%s</summary><table><thead><tr><th>%s</th><th>%s</th></tr></thead><tbody>`,
		esc(l.T("chart.values")), esc(l.T("chart.day")), esc(l.T("chart.count")))
	for i, n := range counts {
		if n > 0 {
			fmt.Fprintf(&b, `<tr><td>%s</td><td>%d</td></tr>`, since.AddDate(0, 0, i).Format("2006-01-02"), n)
		}
	}
	b.WriteString(`</tbody></table></details></figure>`)
	return template.HTML(b.String())
}

var wizardSteps = []string{"domain", "hubspot", "tier"}

func (s *Server) settingsData(c *fiber.Ctx) fiber.Map {
	ctx := c.UserContext()
	publicURL, _ := s.st.Setting(ctx, settingPublicURL)
	hubspotApp, _ := s.conns.HubSpotApp(ctx) // a failed read shows "not set up"; saving says what failed
	// Without an https public URL the download would only answer an
	// error: the section says why in its place.
	_, notHTTPS := hubspotproject.PublicBase(s.cfg.WebhookBaseURL())
	return fiber.Map{
		"AppNeedsHTTPS": notHTTPS != nil,
		"HubSpot":       s.conns.HubSpotInfo(ctx),
		"HubSpotApp":    hubspotApp,
		"PublicURL":     publicURL,
		"ConfigURL":     s.cfg.PublicURL,
		"Domain":        s.cfg.Domain,
		"EffectiveURL":  s.cfg.WebhookBaseURL(),
		"Tiers":         []string{config.TierStarter, "professional", "enterprise"},
		"Scopes":        hubspotproject.Scopes,
	}
}

func (s *Server) settingsWith(c *fiber.Ctx, status int, step, errMsg string) error {
	data := s.settingsData(c)
	data["Step"] = step
	for i, st := range wizardSteps {
		if st == step {
			data["StepNo"] = i + 2 // step 1 was the account
			if i > 0 {
				data["Prev"] = "/wizard/" + wizardSteps[i-1]
			}
		}
	}
	title := "settings.title"
	if step != "" {
		title = "wizard.title"
	}
	return s.render(c, status, "settings", &page{Title: title, Nav: "settings", Error: errMsg, Data: data, Wizard: step != ""})
}

func (s *Server) settingsPage(c *fiber.Ctx) error { return s.settingsWith(c, 0, "", "") }

func (s *Server) wizardPage(c *fiber.Ctx) error {
	step := c.Params("step")
	for _, st := range wizardSteps {
		if st == step {
			return s.settingsWith(c, 0, step, "")
		}
	}
	return fiber.NewError(fiber.StatusNotFound, "no such step")
}

// afterSave continues the wizard or returns to Settings.
func afterSave(c *fiber.Ctx, flash string) error {
	step := c.FormValue("step")
	for i, st := range wizardSteps {
		if st == step {
			if i+1 < len(wizardSteps) {
				return c.Redirect("/wizard/"+wizardSteps[i+1]+"?ok="+flash, fiber.StatusSeeOther)
			}
			return c.Redirect("/?ok=flash.wizard_done", fiber.StatusSeeOther)
		}
	}
	return c.Redirect("/settings?ok="+flash, fiber.StatusSeeOther)
}

func (s *Server) saveDomain(c *fiber.Ctx) error {
	raw := strings.TrimRight(strings.TrimSpace(c.FormValue("public_url")), "/")
	if raw == "" && s.cfg.PublicURL == "" && s.cfg.Domain == "" {
		// Nothing else gives LINE an address: webhook URLs would point
		// at localhost, where LINE cannot deliver.
		return s.settingsWith(c, fiber.StatusBadRequest, c.FormValue("step"), s.locale(c).T("err.public_url_empty"))
	}
	if raw != "" {
		if !strings.Contains(raw, "://") {
			raw = "https://" + raw
		}
		if !validBaseURL(raw) {
			return s.settingsWith(c, fiber.StatusBadRequest, c.FormValue("step"), s.locale(c).T("err.public_url"))
		}
	}
	if err := s.st.SetSetting(c.UserContext(), settingPublicURL, raw); err != nil {
		return err
	}
	s.cfg.SetWizardPublicURL(raw) // webhook URLs shown from now on use it
	return afterSave(c, "flash.domain")
}

func validBaseURL(raw string) bool {
	req, err := http.NewRequest(http.MethodGet, raw, nil)
	if err != nil {
		return false
	}
	u := req.URL
	return (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil && (u.Path == "" || u.Path == "/") && u.RawQuery == "" && len(raw) < 200
}

func (s *Server) saveHubSpot(c *fiber.Ctx) error {
	tier := s.conns.HubSpotInfo(c.UserContext()).Tier
	if _, err := s.conns.ConfigureHubSpot(c.UserContext(), c.FormValue("token"), tier); err != nil {
		return s.settingsWith(c, fiber.StatusBadRequest, c.FormValue("step"), s.userError(c, err))
	}
	return afterSave(c, "flash.hubspot")
}

func (s *Server) saveHubSpotApp(c *fiber.Ctx) error {
	if _, err := s.conns.ConfigureHubSpotApp(c.UserContext(), c.FormValue("app_id"), c.FormValue("client_secret")); err != nil {
		return s.settingsWith(c, fiber.StatusBadRequest, "", s.userError(c, err))
	}
	return c.Redirect("/settings?ok=flash.hubspot_app#hubspot-app", fiber.StatusSeeOther)
}

func (s *Server) removeHubSpotApp(c *fiber.Ctx) error {
	if err := s.conns.RemoveHubSpotApp(c.UserContext()); err != nil {
		return err
	}
	return c.Redirect("/settings?ok=flash.hubspot_app_removed#hubspot-app", fiber.StatusSeeOther)
}

func (s *Server) saveTier(c *fiber.Ctx) error {
	ctx := c.UserContext()
	tier := c.FormValue("tier")
	tok, err := s.st.SecretSetting(ctx, "hubspot.token")
	if err != nil {
		return err
	}
	if tok == "" {
		tok = s.cfg.HubSpot.Token
	}
	if tok == "" {
		return s.settingsWith(c, fiber.StatusBadRequest, c.FormValue("step"), s.locale(c).T("err.hubspot_first"))
	}
	if _, err := s.conns.ConfigureHubSpot(ctx, tok, tier); err != nil {
		return s.settingsWith(c, fiber.StatusBadRequest, c.FormValue("step"), s.userError(c, err))
	}
	return afterSave(c, "flash.tier")
}

// newConnectionForm shows the form, unless the tier's connections are all
// in use: then the form could only end in a refusal after the admin
// filled it in, so the dashboard's note on the limit is shown instead.
func (s *Server) newConnectionForm(c *fiber.Ctx) error {
	conns, err := s.st.Connections(c.UserContext())
	if err != nil {
		return fmt.Errorf("count connections: %w", err)
	}
	if len(conns) >= s.conns.MaxConnections() {
		return c.Redirect("/#limit", fiber.StatusSeeOther)
	}
	return s.render(c, 0, "connection_new", &page{Title: "conn.new_title", Nav: "dash", Data: fiber.Map{"Name": "", "Description": ""}})
}

func (s *Server) createConnection(c *fiber.Ctx) error {
	ctx := c.UserContext()
	l := s.locale(c)
	name, desc := c.FormValue("name"), strings.TrimSpace(c.FormValue("description"))
	fail := func(status int, msg string) error {
		return s.render(c, status, "connection_new", &page{L: l, Title: "conn.new_title", Nav: "dash", Error: msg, Data: fiber.Map{"Name": name, "Description": desc}})
	}
	if utf8.RuneCountInString(desc) > maxDescriptionChars {
		return fail(fiber.StatusBadRequest, l.T("err.description"))
	}
	ct, icon, err := readIcon(c)
	if err != nil && !errors.Is(err, errNoIcon) {
		var ie *connections.InputError
		if errors.As(err, &ie) {
			return fail(fiber.StatusBadRequest, iconError(l, ie))
		}
		return err
	}
	conn, err := s.conns.CreateConnection(ctx, connections.NewConnection{Name: name, Description: desc})
	if err != nil {
		status, _ := response.StatusOf(err)
		if errors.Is(err, store.ErrLimit) {
			return fail(status, l.T("dash.limit", s.conns.MaxConnections()))
		}
		return fail(status, s.userError(c, err))
	}
	if icon != nil {
		if err := s.st.SetConnectionIcon(ctx, conn.ID, ct, icon); err != nil {
			return err
		}
	}
	return c.Redirect(fmt.Sprintf("/connections/%d?ok=flash.created", conn.ID), fiber.StatusSeeOther)
}

type propLabel struct{ Label, Name string }

func (s *Server) connView(c *fiber.Ctx, conn *store.Connection, status int, errMsg string, extra fiber.Map) error {
	ctx := c.UserContext()
	var props []propLabel
	for _, p := range contactsync.Properties(conn.Serial) {
		props = append(props, propLabel{p.Label, p.Name})
	}
	_, ierr := s.st.ConnectionIcon(ctx, conn.ID)
	st, err := s.st.FriendStats(ctx, conn.ID)
	if err != nil {
		return err
	}
	webhookURL := s.conns.WebhookURL(conn)
	check, err := s.checkLINE(ctx, conn, webhookURL)
	if err != nil {
		return err
	}
	data := fiber.Map{
		"Conn": conn, "Props": props, "WebhookURL": webhookURL, "HasIcon": ierr == nil, "Stats": st,
		"HasToken": conn.TokenLast4 != "", "HasSecret": conn.SecretLast4 != "",
		"URLProblem": webhookURLProblem(webhookURL), "Check": check,
	}
	if data["Jobs"], err = s.connJobsData(c, conn); err != nil {
		return err
	}
	if data["Login"], err = s.lineLoginData(ctx, conn); err != nil {
		return err
	}
	for k, v := range extra {
		data[k] = v
	}
	return s.render(c, status, "connection", &page{Title: "conn.title", Nav: "dash", Error: errMsg, Data: data})
}

func (s *Server) connectionPage(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	var extra fiber.Map
	if r, ok := s.results.take(s.resultKey(c, conn.ID), time.Now()); ok {
		extra = fiber.Map{"Result": r}
		if r.WebhookTest != nil {
			extra["WebhookAdvice"] = webhookAdvice(s.locale(c), conn.ID, *r.WebhookTest)
		}
	}
	return s.connView(c, conn, 0, "", extra)
}

func (s *Server) connectionIcon(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	icon, err := s.st.ConnectionIcon(c.UserContext(), conn.ID)
	if err != nil {
		return err
	}
	c.Set("Content-Type", icon.ContentType)
	c.Set("Cache-Control", "private, max-age=60")
	return c.Send(icon.Data)
}

func (s *Server) editConnection(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	l := s.locale(c)
	name, desc := c.FormValue("name"), strings.TrimSpace(c.FormValue("description"))
	// A refused edit shows the form with what was typed, not the saved values.
	typed := fiber.Map{"Edit": fiber.Map{"Name": name, "Description": desc}}
	if utf8.RuneCountInString(desc) > maxDescriptionChars {
		return s.connView(c, conn, fiber.StatusBadRequest, l.T("err.description"), typed)
	}
	ct, icon, err := readIcon(c)
	if err != nil && !errors.Is(err, errNoIcon) {
		var ie *connections.InputError
		if errors.As(err, &ie) {
			return s.connView(c, conn, fiber.StatusBadRequest, iconError(l, ie), typed)
		}
		return err
	}
	if _, err := s.conns.UpdateConnection(c.UserContext(), conn.ID, connections.ConnectionPatch{Name: &name, Description: &desc}); err != nil {
		status, _ := response.StatusOf(err)
		return s.connView(c, conn, status, s.userError(c, err), typed)
	}
	if icon != nil {
		if err := s.st.SetConnectionIcon(c.UserContext(), conn.ID, ct, icon); err != nil {
			return err
		}
	}
	return c.Redirect(fmt.Sprintf("/connections/%d?ok=flash.saved", conn.ID), fiber.StatusSeeOther)
}

func (s *Server) saveCredentials(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	var p connections.ConnectionPatch
	if v := strings.TrimSpace(c.FormValue("channel_secret")); v != "" {
		p.ChannelSecret = &v
	}
	if v := strings.TrimSpace(c.FormValue("channel_access_token")); v != "" {
		p.ChannelAccessToken = &v
	}
	if p.ChannelSecret == nil && p.ChannelAccessToken == nil {
		return s.connView(c, conn, fiber.StatusBadRequest, s.locale(c).T("err.nothing"), nil)
	}
	if _, err := s.conns.UpdateConnection(c.UserContext(), conn.ID, p); err != nil {
		status, _ := response.StatusOf(err)
		return s.connView(c, conn, status, s.userError(c, err), nil)
	}
	return c.Redirect(fmt.Sprintf("/connections/%d?ok=flash.credentials", conn.ID), fiber.StatusSeeOther)
}

// verifyConnection re-checks the saved token with LINE's bot info, which
// also refreshes the bot name and picture shown on the page. Like the
// webhook registration it answers with a redirect to the page, which shows
// the outcome at the top.
func (s *Server) verifyConnection(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	_, token, err := s.st.ConnectionSecrets(conn)
	if err != nil {
		return err
	}
	if token == "" {
		return s.finishConnAction(c, conn.ID, connResult{Error: s.locale(c).T("err.no_token")})
	}
	s.checks.forget(conn.ID)
	if _, err := s.conns.UpdateConnection(c.UserContext(), conn.ID, connections.ConnectionPatch{ChannelAccessToken: &token}); err != nil {
		return s.finishConnAction(c, conn.ID, connResult{Error: s.userError(c, err)})
	}
	return s.finishConnAction(c, conn.ID, connResult{Verified: true})
}

func (s *Server) registerWebhook(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	l := s.locale(c)
	_, token, err := s.st.ConnectionSecrets(conn)
	if err != nil {
		return err
	}
	if token == "" {
		return s.finishConnAction(c, conn.ID, connResult{Error: l.T("err.no_token")})
	}
	cl, err := line.NewClient(line.Options{Token: token, APIBaseURL: s.cfg.LINE.APIBaseURL, DataAPIBaseURL: s.cfg.LINE.DataAPIBaseURL})
	if err != nil {
		return fmt.Errorf("LINE client: %w", err)
	}
	s.checks.forget(conn.ID)
	endpoint := s.conns.WebhookURL(conn)
	if err := cl.SetWebhookEndpoint(c.UserContext(), endpoint); err != nil {
		return s.finishConnAction(c, conn.ID, connResult{Error: l.T("conn.webhook_set_failed") + ": " + s.userError(c, err)})
	}
	res, err := cl.TestWebhookEndpoint(c.UserContext(), endpoint)
	if err != nil {
		return s.finishConnAction(c, conn.ID, connResult{Error: l.T("conn.webhook_test_failed") + ": " + s.userError(c, err)})
	}
	s.log.Info("webhook URL registered with LINE", "connection", conn.ID, "test_success", res.Success, "test_status", res.StatusCode)
	return s.finishConnAction(c, conn.ID, connResult{WebhookTest: &res})
}

// webhookAdvice says what a failed webhook test means and where to fix
// it; LINE's own words ("401 ERROR_STATUS_CODE 401") stay as the detail.
func webhookAdvice(l *locale, connID int64, res line.WebhookTest) *notice {
	if res.Success {
		return nil
	}
	n := &notice{L: l, Detail: strings.TrimSpace(fmt.Sprintf("%d %s %s", res.StatusCode, res.Reason, res.Detail))}
	credentials := fmt.Sprintf("/connections/%d#credentials", connID)
	switch {
	case res.StatusCode == fiber.StatusUnauthorized:
		n.Text, n.Link, n.LinkText = l.T("conn.webhook_bad_secret"), credentials, l.T("fix.credentials")
	case res.StatusCode == fiber.StatusServiceUnavailable && strings.Contains(res.Detail, "secret"):
		n.Text, n.Link, n.LinkText = l.T("conn.webhook_no_secret"), credentials, l.T("fix.credentials")
	case res.StatusCode == fiber.StatusNotFound:
		n.Text, n.Link, n.LinkText = l.T("conn.webhook_not_found"), "/settings", l.T("fix.public_url")
	case res.StatusCode <= 0:
		n.Text, n.Link, n.LinkText = l.T("conn.webhook_unreachable"), "/settings", l.T("fix.public_url")
	default:
		n.Text = l.T("conn.webhook_other")
	}
	return n
}

func (s *Server) retryProperties(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	if err := s.sync.EnsureProperties(c.UserContext(), conn.ID); err != nil {
		conn, _ = s.st.Connection(c.UserContext(), conn.ID)
		return s.connView(c, conn, fiber.StatusBadGateway, s.userError(c, err), nil)
	}
	return c.Redirect(fmt.Sprintf("/connections/%d?ok=flash.properties", conn.ID), fiber.StatusSeeOther)
}

func (s *Server) deleteConnection(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		return s.connView(c, conn, fiber.StatusBadRequest, s.locale(c).T("conn.delete_confirm_needed"), nil)
	}
	if err := s.conns.DeleteConnection(c.UserContext(), conn.ID); err != nil {
		return err
	}
	return c.Redirect("/?ok=flash.deleted", fiber.StatusSeeOther)
}

func (s *Server) friendsPage(c *fiber.Ctx) error {
	conn, err := s.connParam(c)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(c.Query("q"))
	pg, _ := strconv.Atoi(c.Query("page"))
	if pg < 1 {
		pg = 1
	}
	friends, more, err := s.st.SearchFriends(c.UserContext(), conn.ID, q, (pg-1)*friendsPerPage, friendsPerPage)
	if err != nil {
		return err
	}
	ids := make([]int64, len(friends))
	for i, f := range friends {
		ids[i] = f.ID
	}
	// LINE properties a person changed in HubSpot (the app's webhooks):
	// the owner sees why linehub leaves those values alone.
	edits, err := s.st.ContactEdits(c.UserContext(), ids)
	if err != nil {
		return err
	}
	hs := s.conns.HubSpotInfo(c.UserContext())
	return s.render(c, 0, "friends", &page{Title: "friends.title", Nav: "dash", Data: fiber.Map{
		"Conn": conn, "Friends": friends, "Q": q, "Page": pg, "More": more, "Portal": hs.PortalID, "Edits": edits,
	}})
}

func (s *Server) tokensPage(c *fiber.Ctx) error { return s.tokensView(c, 0, "", "") }

func (s *Server) tokensView(c *fiber.Ctx, status int, created, errMsg string) error {
	toks, err := s.st.APITokens(c.UserContext())
	if err != nil {
		return err
	}
	return s.render(c, status, "tokens", &page{Title: "tokens.title", Nav: "tokens", Error: errMsg, Data: fiber.Map{"Tokens": toks, "Created": created}})
}

func (s *Server) createToken(c *fiber.Ctx) error {
	name := strings.TrimSpace(c.FormValue("name"))
	if n := utf8.RuneCountInString(name); n == 0 || n > connections.MaxNameChars {
		return s.tokensView(c, fiber.StatusBadRequest, "", s.locale(c).T("err.token_name"))
	}
	plain, tok, err := s.st.CreateAPIToken(c.UserContext(), name)
	if err != nil {
		return err
	}
	s.log.Info("API token created in dashboard", "id", tok.ID, "name", name)
	// Shown once, in this response only; it is never stored in plain.
	return s.tokensView(c, fiber.StatusOK, plain, "")
}

func (s *Server) revokeToken(c *fiber.Ctx) error {
	id, err := request.PathID(c, "id", "token")
	if err != nil {
		return err
	}
	if err := s.st.RevokeAPIToken(c.UserContext(), id); err != nil {
		return err
	}
	return c.Redirect("/tokens?ok=flash.revoked", fiber.StatusSeeOther)
}

// ApplySavedPublicURL hands the public URL saved in the wizard to the
// configuration, where it applies unless the config file or environment
// sets public_url or domain (those are explicit and win). Called at
// start-up, also when nothing is saved, so that later saves are safe.
func (s *Server) ApplySavedPublicURL() {
	v, _ := s.st.Setting(context.Background(), settingPublicURL)
	s.cfg.SetWizardPublicURL(v)
}

// healthNotices words the data path's problems for the admin: what is
// wrong, since when (at formats a time as the page shows times), what
// linehub does meanwhile and, where the admin can fix it, a link there.
// The raw words of LINE, HubSpot or the database help support, not the
// admin: they are folded away as the notice's detail. Each notice lasts
// only while the problem does.
func healthNotices(l *locale, at func(*time.Time) string, st contactsync.Status, conns []store.Connection, notes store.NoteStats) []notice {
	var out []notice
	add := func(text, detail string) { out = append(out, notice{L: l, Text: text, Detail: detail}) }
	if st.StorageError != "" {
		add(l.T("health.storage", at(st.StorageErrorAt)), "")
	}
	if until, err := time.Parse(time.RFC3339, st.HubSpotPaused); err == nil {
		add(l.T("health.daily", at(&until)), "")
	} else if st.SyncFailing() && st.SyncErrorCode != "" && l.Has("bridge."+st.SyncErrorCode) {
		n := notice{L: l, Text: l.T("health.sync_coded", at(st.LastErrorAt), l.T("bridge."+st.SyncErrorCode)), Detail: st.LastSyncError}
		n.Link, n.LinkText = fixLink(l, st.SyncErrorCode, "")
		out = append(out, n)
	} else if st.SyncFailing() {
		add(l.T("health.sync", at(st.LastErrorAt)), st.LastSyncError)
	}
	if st.LastApplyError != "" {
		add(l.T("health.apply"), st.LastApplyError)
	}
	for _, e := range st.LINEErrors {
		name := fmt.Sprintf("#%d", e.ConnectionID)
		for _, c := range conns {
			if c.ID == e.ConnectionID {
				name = c.Name
			}
		}
		since := e.Since
		out = append(out, notice{L: l, Text: l.T("health.line", name, at(&since)), Detail: e.Error,
			Link: fmt.Sprintf("/connections/%d#credentials", e.ConnectionID), LinkText: l.T("fix.credentials")})
	}
	if notes.GivenUp > 0 {
		add(l.T("health.notes", notes.GivenUp), notes.LastRefusal)
	}
	return out
}
