package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"linehub/app/contactsync"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

// The dev doubles' fixed credentials: the README's quick start and the
// printed next steps name them, so they must not change between runs.
const (
	devHubSpotToken = "dev-hubspot-token"
	devPortalID     = 12345
)

// devChannel is one seeded LINE Official Account of the demo.
type devChannel struct {
	Name   string
	Key    string // stable seed of its friends' user IDs
	Secret string
	Token  string
}

var devChannels = []devChannel{
	{Name: "渋谷店 / Shibuya", Key: "shibuya", Secret: "dev-shibuya-channel-secret", Token: "dev-shibuya-channel-token"},
	{Name: "大阪店 / Osaka", Key: "osaka", Secret: "dev-osaka-channel-secret", Token: "dev-osaka-channel-token"},
}

// The LINE Login channel of the demo, in the same provider as 渋谷店 /
// Shibuya and linked to it, so its friends can link themselves to HubSpot
// contacts (a channel ID is a number, a secret 32 hex digits).
const (
	devLoginChannelID = "2000000001"
	devLoginSecret    = "5b1e7a0c3d9f4e2a8c6b0d1f2e3a4b5c"
)

// devLoginUsers are the people who can log in on the LINE Login double's
// page: two of Shibuya's friends (the second shares its email with a
// seeded contact, for the website link) and a newcomer who is not a friend
// yet and whose email no contact has.
func devLoginUsers() []linetest.LoginUser {
	a, b := devFriend(devChannels[0], 0), devFriend(devChannels[0], 1)
	sum := sha256.Sum256([]byte("login/newcomer"))
	return []linetest.LoginUser{
		{UserID: a.UserID, Name: a.DisplayName},
		{UserID: b.UserID, Name: b.DisplayName, Email: devContacts[1].email},
		{UserID: "U" + hex.EncodeToString(sum[:16]), Name: "新井 ゆい / Yui (new)", Email: "yui.arai@example.net"},
	}
}

// devFriendsPerChannel friends follow each seeded account.
const devFriendsPerChannel = 150

var (
	devFamilyNames = []string{"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田", "佐々木", "山口", "松本", "井上", "木村"}
	devGivenNames  = []string{"陽翔", "蓮", "湊", "結菜", "陽葵", "凛", "葵", "芽依", "大和", "美咲", "翔太", "花子", "太郎", "さくら", "健", "愛"}
	devMessages    = []string{"こんにちは！", "予約の変更はできますか？", "営業時間を教えてください", "ありがとうございました", "クーポンはまだ使えますか？", "Hello, is the shop open today?"}
)

// devFriend is the n-th friend of a channel: the same ID and name on every
// run, so a restarted demo matches what linehub already imported.
func devFriend(ch devChannel, n int) line.Profile {
	sum := sha256.Sum256([]byte(ch.Key + "/" + strconv.Itoa(n)))
	name := devFamilyNames[n%len(devFamilyNames)] + " " + devGivenNames[(n/len(devFamilyNames)+n)%len(devGivenNames)]
	return line.Profile{UserID: "U" + hex.EncodeToString(sum[:16]), DisplayName: name, Language: "ja"}
}

// devContacts are HubSpot contacts that exist before linehub connects, as
// in a portal already in use; none has a LINE ID yet.
var devContacts = []struct{ first, last, email string }{
	{"太郎", "山田", "taro.yamada@example.com"},
	{"花子", "佐藤", "hanako.sato@example.com"},
	{"健", "鈴木", "ken.suzuki@example.com"},
	{"美咲", "高橋", "misaki.takahashi@example.com"},
	{"翔太", "田中", "shota.tanaka@example.com"},
	{"Emily", "Clark", "emily.clark@example.com"},
}

// devDemo is the running doubles with their seed and the control page.
type devDemo struct {
	hs   *hubspottest.Server
	ln   *linetest.Server
	log  *slog.Logger
	page *template.Template
	// linehub is the public URL linehub runs at; LINE Login sends people
	// back to its /link/callback.
	linehub string

	mu      sync.Mutex
	friends [][]line.Profile // per channel, in follow order
	blocked []map[string]bool
	next    int // picks the next "random" friend and message, deterministically
}

// seedDevDemo fills the doubles with the demo accounts, friends, contacts
// and lists; with empty, only the accounts (linehub needs one to connect).
// Either way Shibuya has a LINE Login channel whose callback URL is
// linehub's (at public URL linehub) and its test users.
func seedDevDemo(hs *hubspottest.Server, ln *linetest.Server, empty bool, linehub string, log *slog.Logger) (*devDemo, error) {
	linehub = strings.TrimRight(linehub, "/")
	d := &devDemo{hs: hs, ln: ln, log: log, linehub: linehub, page: template.Must(template.New("dev").Parse(devPage))}
	ln.AddLoginChannel(linetest.LoginChannel{ID: devLoginChannelID, Secret: devLoginSecret,
		CallbackURLs: []string{linehub + "/link/callback"}, EmailPermission: true, LinkedBotToken: devChannels[0].Token})
	for _, u := range devLoginUsers() {
		ln.AddLoginUser(u)
	}
	for i, ch := range devChannels {
		sum := sha256.Sum256([]byte("bot/" + ch.Key))
		ln.AddChannel(linetest.Channel{Secret: ch.Secret, Token: ch.Token, BotUserID: "U" + hex.EncodeToString(sum[:16]),
			BasicID: "@dev" + ch.Key, DisplayName: ch.Name, Verified: true})
		d.friends = append(d.friends, nil)
		d.blocked = append(d.blocked, map[string]bool{})
		if empty {
			continue
		}
		for n := 0; n < devFriendsPerChannel; n++ {
			p := devFriend(ch, n)
			ln.AddFriend(ch.Token, p)
			d.friends[i] = append(d.friends[i], p)
		}
	}
	if empty {
		return d, nil
	}
	var ids []string
	for _, c := range devContacts {
		id, err := hs.AddContact(map[string]string{"firstname": c.first, "lastname": c.last, "email": c.email})
		if err != nil {
			return nil, fmt.Errorf("seed HubSpot contact %s: %w", c.email, err)
		}
		ids = append(ids, id)
	}
	hs.AddList("ニュースレター / Newsletter", ids)
	hs.AddList("VIP", ids[:2])
	return d, nil
}

// Handler serves the control page. It refuses cross-site form posts: the
// page listens on loopback, but a web page in the same browser could still
// post to it.
func (d *devDemo) Handler() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", d.index)
	m.HandleFunc("POST /channels/{ch}/follow", d.action(d.follow))
	m.HandleFunc("POST /channels/{ch}/message", d.action(d.message))
	m.HandleFunc("POST /channels/{ch}/block", d.action(d.block))
	m.HandleFunc("POST /channels/{ch}/unblock", d.action(d.unblock))
	m.HandleFunc("POST /lists", d.action(d.makeList))
	return m
}

type devAction func(ctx context.Context, r *http.Request) (string, error)

// action runs a form post and redirects back to the page with its outcome,
// so that reloading the page does not post again.
func (d *devDemo) action(f devAction) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			http.Error(w, "cross-site request refused", http.StatusForbidden)
			return
		}
		q := url.Values{}
		msg, err := f(r.Context(), r)
		status := http.StatusOK
		if err != nil {
			d.log.Warn("dev doubles: action failed", "path", r.URL.Path, "err", err)
			q.Set("error", err.Error())
			msg, status = "error: "+err.Error(), http.StatusBadRequest
		} else {
			d.log.Info("dev doubles: " + msg)
			q.Set("done", msg)
		}
		// curl and scripts get the outcome as text; a browser goes back to
		// the page.
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			fmt.Fprintln(w, msg)
			return
		}
		http.Redirect(w, r, "/?"+q.Encode(), http.StatusSeeOther)
	}
}

func (d *devDemo) channel(r *http.Request) (int, devChannel, error) {
	i, err := strconv.Atoi(r.PathValue("ch"))
	if err != nil || i < 0 || i >= len(devChannels) {
		return 0, devChannel{}, fmt.Errorf("no channel %q", r.PathValue("ch"))
	}
	return i, devChannels[i], nil
}

// deliver posts events to the webhook URL linehub registered, signed with
// the channel secret, as LINE would.
func (d *devDemo) deliver(ctx context.Context, ch devChannel, events ...json.RawMessage) error {
	hook := d.ln.WebhookEndpoint(ch.Token)
	if hook == "" {
		return fmt.Errorf("%s has no webhook URL yet: connect it in linehub and press \"Register webhook URL with LINE\"", ch.Name)
	}
	st, err := d.ln.Deliver(ctx, hook, ch.Token, events...)
	if err != nil {
		return fmt.Errorf("deliver webhook to %s: %w", hook, err)
	}
	if st != http.StatusOK {
		return fmt.Errorf("linehub answered the webhook to %s with HTTP %d", hook, st)
	}
	return nil
}

func (d *devDemo) follow(ctx context.Context, r *http.Request) (string, error) {
	i, ch, err := d.channel(r)
	if err != nil {
		return "", err
	}
	d.mu.Lock()
	p := devFriend(ch, len(d.friends[i]))
	d.mu.Unlock()
	// The profile exists before the follow event, as on LINE, so linehub
	// can read the new friend's name.
	d.ln.AddFriend(ch.Token, p)
	if err := d.deliver(ctx, ch, linetest.FollowEvent(p.UserID, false, time.Now())); err != nil {
		return "", err
	}
	d.mu.Lock()
	d.friends[i] = append(d.friends[i], p)
	d.mu.Unlock()
	return fmt.Sprintf("%s: %s (%s) added the account as a friend", ch.Name, p.DisplayName, p.UserID), nil
}

// pick returns the friend chosen in the form, or the next one in turn.
func (d *devDemo) pick(i int, userID string) (line.Profile, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if userID != "" {
		for _, p := range d.friends[i] {
			if p.UserID == userID {
				return p, nil
			}
		}
		return line.Profile{}, fmt.Errorf("%s is not a friend of %s", userID, devChannels[i].Name)
	}
	if len(d.friends[i]) == 0 {
		return line.Profile{}, fmt.Errorf("%s has no friends yet: add one first", devChannels[i].Name)
	}
	d.next++
	return d.friends[i][(d.next*37)%len(d.friends[i])], nil
}

func (d *devDemo) message(ctx context.Context, r *http.Request) (string, error) {
	i, ch, err := d.channel(r)
	if err != nil {
		return "", err
	}
	p, err := d.pick(i, strings.TrimSpace(r.FormValue("user")))
	if err != nil {
		return "", err
	}
	text := strings.TrimSpace(r.FormValue("text"))
	if text == "" {
		d.mu.Lock()
		text = devMessages[d.next%len(devMessages)]
		d.mu.Unlock()
	}
	if n := len([]rune(text)); n > 5000 {
		return "", fmt.Errorf("a LINE text message has at most 5000 characters, this one has %d", n)
	}
	if err := d.deliver(ctx, ch, linetest.TextMessageEvent(p.UserID, text, time.Now())); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %s sent %q", ch.Name, p.DisplayName, text), nil
}

func (d *devDemo) block(ctx context.Context, r *http.Request) (string, error) {
	i, ch, err := d.channel(r)
	if err != nil {
		return "", err
	}
	p, err := d.pick(i, strings.TrimSpace(r.FormValue("user")))
	if err != nil {
		return "", err
	}
	d.ln.Block(ch.Token, p.UserID)
	if err := d.deliver(ctx, ch, linetest.UnfollowEvent(p.UserID, time.Now())); err != nil {
		return "", err
	}
	d.mu.Lock()
	d.blocked[i][p.UserID] = true
	d.mu.Unlock()
	return fmt.Sprintf("%s: %s blocked the account", ch.Name, p.DisplayName), nil
}

func (d *devDemo) unblock(ctx context.Context, r *http.Request) (string, error) {
	i, ch, err := d.channel(r)
	if err != nil {
		return "", err
	}
	userID := strings.TrimSpace(r.FormValue("user"))
	if userID == "" {
		d.mu.Lock()
		for id := range d.blocked[i] {
			userID = id
			break
		}
		d.mu.Unlock()
		if userID == "" {
			return "", fmt.Errorf("nobody has blocked %s", ch.Name)
		}
	}
	p, err := d.pick(i, userID)
	if err != nil {
		return "", err
	}
	d.ln.Unblock(ch.Token, p.UserID)
	if err := d.deliver(ctx, ch, linetest.FollowEvent(p.UserID, true, time.Now())); err != nil {
		return "", err
	}
	d.mu.Lock()
	delete(d.blocked[i], p.UserID)
	d.mu.Unlock()
	return fmt.Sprintf("%s: %s unblocked the account", ch.Name, p.DisplayName), nil
}

// makeList makes a HubSpot list of the contacts that have a LINE user ID
// of the connection with this serial number, so a broadcast has members.
func (d *devDemo) makeList(_ context.Context, r *http.Request) (string, error) {
	serial, err := strconv.Atoi(strings.TrimSpace(r.FormValue("serial")))
	if err != nil || serial < 1 {
		return "", errors.New("the connection number must be a whole number from 1 (linehub shows it as # on the connection page)")
	}
	prop := contactsync.PropertyName("line_user_id", serial)
	var ids []string
	for _, c := range d.hs.Contacts() {
		if c.Properties[prop] != "" {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 {
		return "", fmt.Errorf("no HubSpot contact has %s yet: connect the account in linehub and wait for its friends to be imported", prop)
	}
	name := strings.TrimSpace(r.FormValue("name"))
	if name == "" {
		name = fmt.Sprintf("LINE friends of connection %d", serial)
	}
	id := d.hs.AddList(name, ids)
	return fmt.Sprintf("HubSpot list %q (id %s) made with %d contacts", name, id, len(ids)), nil
}

// devPageLogin is the control page's linking section.
type devPageLogin struct {
	ChannelID, Secret, Callback string
	Users                       []linetest.LoginUser
	Links                       []devLink
}

// devLink is a contact's link URL as linehub wrote it to HubSpot: what a
// marketing email would carry.
type devLink struct{ Name, Email, URL string }

func (d *devDemo) loginData() devPageLogin {
	l := devPageLogin{ChannelID: devLoginChannelID, Secret: devLoginSecret, Callback: d.linehub + "/link/callback", Users: devLoginUsers()}
	for _, c := range d.hs.Contacts() {
		for k, v := range c.Properties {
			if strings.HasPrefix(k, contactsync.PropLinkURL+"_") && v != "" && len(l.Links) < 50 {
				l.Links = append(l.Links, devLink{Name: strings.TrimSpace(c.Properties["lastname"] + " " + c.Properties["firstname"]), Email: c.Properties["email"], URL: v})
			}
		}
	}
	return l
}

type devPageChannel struct {
	Index          int
	Name           string
	Secret, Token  string
	Webhook        string
	Friends        int
	Blocked        int
	SomeFriends    []line.Profile
	BlockedFriends []line.Profile
}

func (d *devDemo) index(w http.ResponseWriter, r *http.Request) {
	data := struct {
		Done, Error string
		Channels    []devPageChannel
		Contacts    int
		Login       devPageLogin
	}{Done: r.URL.Query().Get("done"), Error: r.URL.Query().Get("error"), Contacts: len(d.hs.Contacts()),
		Login: d.loginData()}
	d.mu.Lock()
	for i, ch := range devChannels {
		pc := devPageChannel{Index: i, Name: ch.Name, Secret: ch.Secret, Token: ch.Token, Friends: len(d.friends[i]) - len(d.blocked[i]), Blocked: len(d.blocked[i])}
		for _, p := range d.friends[i] {
			if d.blocked[i][p.UserID] {
				pc.BlockedFriends = append(pc.BlockedFriends, p)
			} else if len(pc.SomeFriends) < 30 {
				pc.SomeFriends = append(pc.SomeFriends, p)
			}
		}
		data.Channels = append(data.Channels, pc)
	}
	d.mu.Unlock()
	for i := range data.Channels {
		data.Channels[i].Webhook = d.ln.WebhookEndpoint(devChannels[i].Token)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := d.page.Execute(w, data); err != nil {
		d.log.Error("dev doubles: render control page", "err", err)
	}
}

// listenLoopback listens on addr only if it is a loopback address: the
// control page changes the doubles without asking who is calling.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("control page address %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("control page address %q: only loopback (127.0.0.1, ::1, localhost) is allowed for this dev tool", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the control page on %s: %w", addr, err)
	}
	return l, nil
}

func printDevNextSteps(w io.Writer, hsURL, lineURL, controlURL, linehub string, empty bool) {
	fmt.Fprintf(w, `linehub dev doubles are running (Ctrl-C stops them).
  HubSpot double: %s   token %s
  LINE double:    %s
  Control page:   %s   (add friends, send messages as a friend, make HubSpot lists)

Next, in a second terminal in this directory, start linehub against the doubles:

  LINEHUB_HUBSPOT_BASE_URL=%s LINEHUB_LINE_API_BASE_URL=%s LINEHUB_LINE_DATA_API_BASE_URL=%s LINEHUB_LINE_LOGIN_BASE_URL=%s LINEHUB_LINE_LOGIN_API_BASE_URL=%s go run .

Open the setup link it prints and enter in the wizard:
  public URL:     %s
  HubSpot token:  %s
  tier:           Starter / free (two LINE accounts, as many as the demo has)

Then connect each LINE account ("Connect a new LINE account" on the dashboard) with:
`, hsURL, devHubSpotToken, lineURL, controlURL, hsURL, lineURL, lineURL, lineURL, lineURL, linehub, devHubSpotToken)
	for _, ch := range devChannels {
		fmt.Fprintf(w, "  %-18s channel secret %s   channel access token %s\n", ch.Name, ch.Secret, ch.Token)
	}
	friends := fmt.Sprintf("its %d friends are imported within a minute (or press \"Import friends\")", devFriendsPerChannel)
	if empty {
		friends = "it has no friends yet (--empty)"
	}
	fmt.Fprintf(w, `and press "Register webhook URL with LINE" on its page; %s.
Then use the control page to send messages as friends and to make a HubSpot list for a broadcast.

To try linking (LINE Login), on %s's connection page set up LINE Login with
  channel ID %s   channel secret %s   and "Ask for the email address"
(the double's channel already has the callback URL %s/link/callback and is linked to %s).
Then "Link LINE friends to HubSpot contacts": turn linking on and write link URLs to the list "ニュースレター / Newsletter".
The control page lists the link URLs; open one, log in on the LINE double's page as one of its test users, and see the contact in HubSpot.
`, friends, devChannels[0].Name, devLoginChannelID, devLoginSecret, linehub, devChannels[0].Name)
}

const devPage = `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>linehub dev doubles</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem;line-height:1.5}
section{border:1px solid #ccc;border-radius:6px;padding:0 1rem 1rem;margin:1rem 0}form{margin:.5rem 0}
code{word-break:break-all}.done{background:#e6f4ea;padding:.5rem}.error{background:#fce8e6;padding:.5rem}
input[type=text]{max-width:100%}</style></head><body>
<h1>linehub dev doubles / 開発用ダブル</h1>
{{with .Done}}<p class="done" role="status">{{.}}</p>{{end}}
{{with .Error}}<p class="error" role="alert">{{.}}</p>{{end}}
<p>Each button sends LINE's signed webhook to the URL linehub registered. / 各ボタンは署名付き Webhook を linehub に送ります。</p>
{{range .Channels}}<section><h2>{{.Name}}</h2>
<p>Channel secret / チャネルシークレット: <code>{{.Secret}}</code><br>
Channel access token / チャネルアクセストークン: <code>{{.Token}}</code><br>
Webhook URL: {{if .Webhook}}<code>{{.Webhook}}</code>{{else}}<strong>not registered yet / 未登録</strong>: press "Register webhook URL with LINE" on the connection's page in linehub.{{end}}<br>
Friends / 友だち: {{.Friends}}{{if .Blocked}}, blocked / ブロック: {{.Blocked}}{{end}}</p>
<form method="post" action="/channels/{{.Index}}/follow"><button>Add a new friend / 友だち追加</button></form>
<form method="post" action="/channels/{{.Index}}/message">
<label>Friend / 友だち <select name="user"><option value="">random / ランダム</option>{{range .SomeFriends}}<option value="{{.UserID}}">{{.DisplayName}}</option>{{end}}</select></label>
<label>Message / メッセージ <input type="text" name="text" maxlength="5000" placeholder="こんにちは！"></label>
<button>Send as friend / 友だちとして送信</button></form>
<form method="post" action="/channels/{{.Index}}/block">
<label>Friend / 友だち <select name="user"><option value="">random / ランダム</option>{{range .SomeFriends}}<option value="{{.UserID}}">{{.DisplayName}}</option>{{end}}</select></label>
<button>Block / ブロック</button></form>
{{if .BlockedFriends}}<form method="post" action="/channels/{{.Index}}/unblock">
<label>Blocked friend / ブロック中 <select name="user">{{range .BlockedFriends}}<option value="{{.UserID}}">{{.DisplayName}}</option>{{end}}</select></label>
<button>Unblock / ブロック解除</button></form>{{end}}
</section>{{end}}
<section><h2>HubSpot</h2><p>Contacts / コンタクト: {{.Contacts}}</p>
<form method="post" action="/lists">
<label>Connection number / 接続番号 <input type="text" name="serial" value="1" inputmode="numeric" size="3"></label>
<label>List name / リスト名 <input type="text" name="name" placeholder="LINE friends of connection 1"></label>
<button>Make a list of its LINE friends / LINE 友だちのリストを作成</button></form>
<p>The list holds the contacts with a LINE user ID of that connection, so a broadcast to it has recipients. / その接続の LINE ユーザー ID を持つコンタクトのリストです。</p>
</section>
<section id="linking"><h2>LINE Login / LINE ログイン (linking / 連携)</h2>
<p>On the connection page of the first account in linehub / linehub の最初のアカウントの接続ページで:
channel ID / チャネル ID <code>{{.Login.ChannelID}}</code>, channel secret / チャネルシークレット <code>{{.Login.Secret}}</code>.
Callback URL (registered) / コールバック URL（登録済み）: <code>{{.Login.Callback}}</code></p>
<p>Who can log in / ログインできる人:</p><ul>{{range .Login.Users}}<li>{{.Name}} <code>{{.UserID}}</code>{{with .Email}} — {{.}}{{end}}</li>{{end}}</ul>
<p>Link URLs linehub wrote to HubSpot (as in a marketing email) / linehub が HubSpot に書いた連携リンク:</p>
{{if .Login.Links}}<ul id="link-urls">{{range .Login.Links}}<li>{{.Name}} ({{.Email}}): <a href="{{.URL}}">{{.URL}}</a></li>{{end}}</ul>
{{else}}<p>None yet: turn linking on in linehub and write link URLs to a list. / まだありません。</p>{{end}}
</section></body></html>
`
