package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds linehub once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "linehub-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "linehub")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

const hubspotToken = "pat-na1-e2e-token-0000"

// env is one linehub process with its own data directory and doubles.
type env struct {
	t       testing.TB
	HS      *hubspottest.Server
	LINE    *linetest.Server
	bin     string
	dataDir string
	addr    string
	token   string
	extra   []string
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
}

type envOptions struct {
	HubSpot hubspottest.Options
	// Env adds LINEHUB_* variables.
	Env []string
	// DataDir replaces the test's temporary data directory.
	DataDir string
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.HubSpot.Token == "" {
		o.HubSpot.Token = hubspotToken
	}
	if o.HubSpot.PortalID == 0 {
		o.HubSpot.PortalID = 4242
	}
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	e := &env{t: t, bin: binary(t), dataDir: o.DataDir, extra: o.Env}
	e.HS = hubspottest.New(o.HubSpot)
	t.Cleanup(e.HS.Close)
	e.LINE = linetest.New(linetest.Options{})
	t.Cleanup(e.LINE.Close)
	e.addr = freeAddr(t)
	out, err := e.command("token", "create", "--name", "e2e").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	e.token = strings.TrimSpace(string(out))
	e.start()
	t.Cleanup(e.stop)
	return e
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(e.bin, args...)
	cmd.Env = append(os.Environ(),
		"LINEHUB_LISTEN="+e.addr,
		"LINEHUB_PUBLIC_URL=http://"+e.addr,
		"LINEHUB_DATA_DIR="+e.dataDir,
		"LINEHUB_HUBSPOT_BASE_URL="+e.HS.URL(),
		"LINEHUB_HUBSPOT_DUMMY_EMAIL_DOMAIN=line.example.com",
		"LINEHUB_LINE_API_BASE_URL="+e.LINE.URL(),
		"LINEHUB_LINE_DATA_API_BASE_URL="+e.LINE.URL(),
		// LINE Login's pages and API are the LINE double too; the browser
		// follows the redirect to its authorization page.
		"LINEHUB_LINE_LOGIN_BASE_URL="+e.LINE.URL(),
		"LINEHUB_LINE_LOGIN_API_BASE_URL="+e.LINE.URL(),
		"LINEHUB_SYNC_INTERVAL=50ms",
		"LINEHUB_LOG_LEVEL=debug",
		// Scheduled jobs would act on the doubles' friends in the middle of
		// a test; tests that want them turn them on (jobs_test.go).
		"LINEHUB_JOBS_IMPORT_CHECK=off", "LINEHUB_JOBS_RECONCILE=off", "LINEHUB_JOBS_DRIFT_REPAIR=off",
	)
	cmd.Env = append(cmd.Env, e.extra...)
	return cmd
}

// start runs the binary and waits until it answers.
func (e *env) start() {
	e.t.Helper()
	e.logs = &syncBuffer{}
	e.cmd = e.command("serve")
	e.cmd.Stdout, e.cmd.Stderr = e.logs, e.logs
	if err := e.cmd.Start(); err != nil {
		e.t.Fatalf("start linehub: %v", err)
	}
	e.exited = make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(e.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.exited:
			e.t.Fatalf("linehub exited at start:\n%s", e.logs.String())
		default:
		}
		resp, err := http.Get(e.url("/healthz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("linehub did not become healthy:\n%s", e.logs.String())
}

// stop ends the process with SIGTERM (a graceful stop).
func (e *env) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
	if e.t.Failed() {
		e.t.Logf("linehub log:\n%s", e.logs.tail(200))
	}
	e.cmd = nil
}

// kill ends the process with SIGKILL, as a crash would.
func (e *env) kill() {
	_ = e.cmd.Process.Kill()
	<-e.exited
	e.cmd = nil
}

func (e *env) url(path string) string { return "http://" + e.addr + path }

// api calls the admin API and decodes the JSON answer into out (if not nil).
func (e *env) api(method, path string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url("/api/v1"+path), rd)
	req.Header.Set("Authorization", "Bearer "+e.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode
}

type connection struct {
	ID              int64    `json:"id"`
	Serial          int      `json:"serial"`
	Name            string   `json:"name"`
	WebhookURL      string   `json:"webhook_url"`
	Properties      []string `json:"properties"`
	PropertiesReady bool     `json:"properties_ready"`
	ChannelSecret   string   `json:"channel_secret"`
	ChannelToken    string   `json:"channel_access_token"`
	Error           string   `json:"error"`

	secret, token string
}

// configureHubSpot saves the HubSpot token through the API.
func (e *env) configureHubSpot(tier string) {
	e.t.Helper()
	var out map[string]any
	if st := e.api("PUT", "/hubspot", map[string]string{"token": hubspotToken, "tier": tier}, &out); st != 200 {
		e.t.Fatalf("PUT /hubspot: %d %v", st, out)
	}
}

// connect registers a LINE channel in the double and connects it.
func (e *env) connect(name string) connection {
	e.t.Helper()
	secret, token := "secret-"+name+"-0123456789abcdef", "token-"+name+"-0123456789abcdef"
	e.LINE.AddChannel(linetest.Channel{Secret: secret, Token: token, BotUserID: linetest.NewUserID(), DisplayName: name, Verified: true})
	var c connection
	st := e.api("POST", "/connections", map[string]string{"name": name, "channel_secret": secret, "channel_access_token": token}, &c)
	if st != 201 {
		e.t.Fatalf("create connection %s: %d %+v", name, st, c)
	}
	c.secret, c.token = secret, token
	return c
}

func (e *env) deliver(c connection, events ...json.RawMessage) int {
	e.t.Helper()
	st, err := e.LINE.Deliver(context.Background(), c.WebhookURL, c.token, events...)
	if err != nil {
		e.t.Fatalf("deliver: %v", err)
	}
	return st
}

// postRaw sends a body with the given signature header (empty = none).
func (e *env) postRaw(url string, body []byte, signature string) int {
	e.t.Helper()
	req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if signature != "" {
		req.Header.Set("X-Line-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func sign(secret string, body []byte) string { return line.Sign(secret, body) }

// eventually polls cond until it holds or the deadline passes.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s", what)
}

// settled waits until linehub has applied and synced everything it holds.
func (e *env) settled() {
	e.t.Helper()
	e.eventually("inbox applied and friends synced", func() bool {
		var st struct {
			Inbox   struct{ Pending int64 }
			Friends struct {
				Backlog int64 `json:"sync_backlog"`
			}
		}
		e.api("GET", "/status", nil, &st)
		return st.Inbox.Pending == 0 && st.Friends.Backlog == 0
	})
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) tail(n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
