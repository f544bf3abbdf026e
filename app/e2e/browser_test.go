package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// chromiumPath finds Debian's chromium; without it the browser test
// skips, except under CI where a missing browser is a broken setup.
func chromiumPath(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium not found: install the Debian package chromium")
	}
	t.Skip("chromium not found: install the Debian package chromium")
	return ""
}

// shooter saves a desktop and a 375-px-wide mobile screenshot of the
// current page: into docs/screenshots with LINEHUB_SCREENSHOTS=1, else into
// a temp dir (taking them still checks that every page renders on both).
type shooter struct {
	t      *testing.T
	dir    string
	prefix string // keeps each browser test's files apart, e.g. "broadcast-"
	n      int
}

func newShooter(t *testing.T, prefix string) *shooter {
	s := &shooter{t: t, dir: t.TempDir(), prefix: prefix}
	if os.Getenv("LINEHUB_SCREENSHOTS") == "1" {
		s.dir = filepath.Join("..", "..", "docs", "screenshots")
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *shooter) shot(name string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		s.n++
		for _, vp := range []struct {
			suffix        string
			width, height int64
			mobile        bool
		}{{"desktop", 1280, 860, false}, {"mobile", 375, 740, true}} {
			_, err := chromedp.EmulateViewport(vp.width, vp.height, func(p *emulation.SetDeviceMetricsOverrideParams, _ *emulation.SetTouchEmulationEnabledParams) {
				p.Mobile = vp.mobile
			})(ctx, t)
			var buf []byte
			if err == nil {
				buf, err = chromedp.FullScreenshot(80)(ctx, t)
			}
			if err != nil {
				return fmt.Errorf("screenshot %s: %w", name, err)
			}
			file := filepath.Join(s.dir, fmt.Sprintf("%s%02d-%s-%s.jpg", s.prefix, s.n, name, vp.suffix))
			if err := os.WriteFile(file, buf, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

func iconFile(t *testing.T) string {
	img := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for y := range 64 {
		for x := range 64 {
			img.Set(x, y, color.RGBA{6, uint8(120 + x), 85, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "icon.png")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// browser is one headless Chromium driven against one linehub env.
type browser struct {
	t   *testing.T
	e   *env
	ctx context.Context // carries a deadline for the test's steps
}

func newBrowser(t *testing.T, e *env, chromium string) *browser {
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	bctx, cancel := chromedp.NewContext(alloc)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	// The browser lives as long as bctx; only the steps get a deadline.
	ctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	t.Cleanup(func() { cancelT(); cancel(); cancelAlloc() })
	return &browser{t: t, e: e, ctx: ctx}
}

// run performs one named step; a failure shows the end of linehub's log.
func (b *browser) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v\nlinehub log:\n%s", step, err, b.e.logs.tail(40))
	}
}

// contains checks the text of the first element matching sel.
func (b *browser) contains(sel, want string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		text, err := chromedp.Text(chromedp.CSS(sel))(ctx, tg)
		if err != nil {
			return err
		}
		if !strings.Contains(text, want) {
			return fmt.Errorf("%s: %q does not contain %q", sel, text, want)
		}
		return nil
	})
}

// setUp claims the appliance through the printed link and finishes the
// wizard (public URL, HubSpot token, starter tier) without screenshots, for
// browser tests about later pages. It leaves the browser signed in.
func (b *browser) setUp(email, password string) {
	b.t.Helper()
	b.setUpWith(email, password, hubspotToken)
}

// setUpWith is setUp with another HubSpot token (the dev doubles' one).
func (b *browser) setUpWith(email, password, hsToken string) {
	b.t.Helper()
	link := setupLinkRE.FindString(b.e.logs.String())
	if link == "" {
		b.t.Fatalf("no setup link in the log:\n%s", b.e.logs.String())
	}
	b.run("claim and wizard",
		chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.SendKeys(chromedp.ID("password2"), password),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("public_url")),
		chromedp.SendKeys(chromedp.ID("public_url"), b.e.url("")),
		chromedp.Click(chromedp.ID("save-domain")),
		chromedp.WaitVisible(chromedp.ID("hubspot_token")),
		chromedp.SendKeys(chromedp.ID("hubspot_token"), hsToken),
		chromedp.Click(chromedp.ID("save-hubspot")),
		chromedp.WaitVisible(chromedp.ID("tier-starter")),
		chromedp.Click(chromedp.ID("tier-starter")),
		chromedp.Click(chromedp.ID("save-tier")),
		chromedp.WaitVisible(chromedp.ID("connect")),
	)
}

var setupLinkRE = regexp.MustCompile(`http://[^\s"]+/setup\?token=[A-Za-z0-9_-]+`)

// TestBrowserWizard drives the real binary in headless Chromium through
// the first-run claim, the wizard, two connections (the third refused on
// starter), verification and webhook registration against the LINE
// double, and the friends page after a signed follow webhook.
func TestBrowserWizard(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnv(t, envOptions{})
	shots := newShooter(t, "")
	link := setupLinkRE.FindString(e.logs.String())
	if link == "" {
		t.Fatalf("no setup link in the log:\n%s", e.logs.String())
	}

	b := newBrowser(t, e, chromium)
	ctx, run, contains := b.ctx, b.run, b.contains
	var text string

	// Without the link, every page says setup is pending.
	run("refusal", chromedp.Navigate(e.url("/settings")), chromedp.WaitVisible(chromedp.ID("pending")),
		contains("#pending", "setup pending"[1:]), shots.shot("setup-pending"))

	// First-run claim: the admin account.
	run("claim",
		chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "owner@example.com"),
		chromedp.SendKeys(chromedp.ID("password"), "Tr0ub4dor&3-horse"),
		chromedp.SendKeys(chromedp.ID("password2"), "Tr0ub4dor&3-horse"),
		shots.shot("setup-account"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("public_url")), shots.shot("wizard-domain"),
	)
	// The wizard: domain, HubSpot token (checked; portal id shown), tier.
	run("wizard",
		chromedp.SendKeys(chromedp.ID("public_url"), e.url("")),
		chromedp.Click(chromedp.ID("save-domain")),
		chromedp.WaitVisible(chromedp.ID("hubspot_token")), shots.shot("wizard-hubspot"),
		chromedp.SendKeys(chromedp.ID("hubspot_token"), hubspotToken),
		chromedp.Click(chromedp.ID("save-hubspot")),
		chromedp.WaitVisible(chromedp.ID("tier-starter")),
		contains("#portal", "4242"), shots.shot("wizard-tier"),
		chromedp.Click(chromedp.ID("tier-starter")),
		chromedp.Click(chromedp.ID("save-tier")),
		chromedp.WaitVisible(chromedp.ID("connect")), shots.shot("dashboard-empty"),
	)

	// Connect two LINE accounts.
	icon := iconFile(t)
	for i, name := range []string{"Shop Tokyo", "Shop Osaka"} {
		acts := []chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.ID("connect")),
			chromedp.WaitVisible(chromedp.ID("name")),
			chromedp.SendKeys(chromedp.ID("name"), name),
			chromedp.SendKeys(chromedp.ID("description"), "LINE account of "+name),
		}
		if i == 0 {
			acts = append(acts, chromedp.SetUploadFiles(chromedp.ID("icon"), []string{icon}), shots.shot("connect-new"))
		}
		acts = append(acts, chromedp.Click(chromedp.ID("create")), chromedp.WaitVisible(chromedp.ID("webhook-url")))
		if i == 0 {
			acts = append(acts, shots.shot("connection-settings"))
		}
		acts = append(acts, chromedp.Navigate(e.url("/")), chromedp.WaitVisible(chromedp.ID("connect")))
		run("connect "+name, acts...)
	}
	// Starter allows two: the button is disabled with the explanation.
	run("tier limit", chromedp.WaitVisible(chromedp.ID("limit")), contains("#limit", "2"), shots.shot("dashboard-limit"))
	disabled, err := chromedp.Run(ctx, chromedp.JavascriptAttribute[bool](chromedp.ID("connect"), "disabled"))
	if err != nil {
		t.Fatal(err)
	}
	if !disabled {
		t.Fatal("connect button enabled at the tier limit")
	}

	// Credentials, Verify and webhook registration for the first account.
	var list struct{ Connections []connection }
	if st := e.api("GET", "/connections", nil, &list); st != 200 || len(list.Connections) != 2 {
		t.Fatalf("connections: %d %d", st, len(list.Connections))
	}
	conns := list.Connections
	first := conns[0]
	if first.Name != "Shop Tokyo" {
		first = conns[1]
	}
	secret, token := "secret-browser-0123456789abcdef", "token-browser-0123456789abcdefghij"
	e.LINE.AddChannel(linetest.Channel{Secret: secret, Token: token, BotUserID: linetest.NewUserID(), DisplayName: "Shop Tokyo Bot", Verified: true})
	run("credentials",
		chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d", first.ID))), chromedp.WaitVisible(chromedp.ID("channel_secret")),
		chromedp.SendKeys(chromedp.ID("channel_secret"), secret),
		chromedp.SendKeys(chromedp.ID("channel_token"), token),
		chromedp.Click(chromedp.ID("save-credentials")),
		chromedp.WaitVisible(chromedp.ID("verify")),
		chromedp.Click(chromedp.ID("verify")),
		chromedp.WaitVisible(chromedp.ID("verified")), contains("#bot-name", "Shop Tokyo Bot"), shots.shot("verified"),
		chromedp.Click(chromedp.ID("register")),
		chromedp.WaitVisible(chromedp.ID("webhook-result")), contains("#webhook-result", "✓"), shots.shot("webhook-registered"),
	)
	if got := e.LINE.WebhookEndpoint(token); got != first.WebhookURL {
		t.Errorf("LINE's webhook endpoint %q, want %q", got, first.WebhookURL)
	}

	// A signed follow webhook → the friend shows on the friends page.
	friend := linetest.NewUserID()
	e.LINE.AddFriend(token, line.Profile{UserID: friend, DisplayName: "Yamada Taro"})
	if st, err := e.LINE.Deliver(context.Background(), first.WebhookURL, token, linetest.FollowEvent(friend, false, time.Now())); err != nil || st != 200 {
		t.Fatalf("deliver follow: %d %v", st, err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		run("friends", chromedp.Navigate(e.url(fmt.Sprintf("/connections/%d/friends", first.ID))), chromedp.WaitVisible(chromedp.ID("friends")))
		text, err = chromedp.Run(ctx, chromedp.Text(chromedp.ID("friends")))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(text, "Yamada Taro") && strings.Contains(text, "synced") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("friends page does not list the friend as synced: %q", text)
		}
		time.Sleep(100 * time.Millisecond)
	}
	run("friends shot", shots.shot("friends"),
		chromedp.Navigate(e.url("/")), chromedp.WaitVisible(chromedp.ID("connect")), shots.shot("dashboard"),
		chromedp.Navigate(e.url("/tokens")), chromedp.WaitVisible(chromedp.ID("token-name")),
		chromedp.SendKeys(chromedp.ID("token-name"), "reporting"), chromedp.Click(chromedp.ID("create-token")),
		chromedp.WaitVisible(chromedp.ID("new-token")), shots.shot("api-token-created"),
		chromedp.Navigate(e.url("/lang/ja?back=/settings")), chromedp.WaitVisible(chromedp.ID("password")),
		contains("h1", "設定"), shots.shot("settings-ja"),
	)
	logs := e.logs.String()
	for _, secret := range []string{hubspotToken, secret, token, "Tr0ub4dor&3-horse"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains a secret ending %q", secret[len(secret)-4:])
		}
	}
}
