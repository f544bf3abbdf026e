package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"go.uber.org/zap"

	"linehub/app/config"
)

func TestListenErrorsNameTheKey(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = listen(busy.Addr().String(), "https_listen")
	if err == nil || !strings.Contains(err.Error(), "config key https_listen") || !strings.Contains(err.Error(), "already uses this port") {
		t.Fatalf("busy port: %v", err)
	}
}

func TestRedirectUsesConfiguredDomain(t *testing.T) {
	for _, tc := range []struct {
		port         int
		method, path string
		status       int
		location     string
	}{
		{443, "GET", "/setup?token=x", 301, "https://line.example.com/setup?token=x"},
		{8443, "GET", "/", 301, "https://line.example.com:8443/"},
		{443, "POST", "/webhook/abc", 308, "https://line.example.com/webhook/abc"},
	} {
		h := redirectHandler("line.example.com", &net.TCPAddr{IP: net.IPv4zero, Port: tc.port})
		req := httptest.NewRequest(tc.method, "http://evil.example.net"+tc.path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status || rec.Header().Get("Location") != tc.location {
			t.Errorf("%s %s on port %d: %d %q, want %d %q", tc.method, tc.path, tc.port, rec.Code, rec.Header().Get("Location"), tc.status, tc.location)
		}
	}
}

// TestServeStopsGracefully: a request in flight when the context ends is
// answered, and Serve returns without error.
func TestServeStopsGracefully(t *testing.T) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	entered := make(chan struct{})
	release := make(chan struct{})
	app.Get("/slow", func(c *fiber.Ctx) error {
		close(entered)
		<-release
		return c.SendString("done")
	})
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- Serve(ctx, Options{App: app, Config: cfg, Logger: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)),
			Ready: func(a []net.Addr) { addrc <- a[0].String() }})
	}()
	addr := <-addrc
	type result struct {
		body string
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			resc <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		resc <- result{body: b.String()}
	}()
	<-entered
	cancel()
	// The listener closes while the request is still running.
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		c.Close()
		if i > 200 {
			t.Fatal("listener still accepting after stop")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if r := <-resc; r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: %q %v", r.body, r.err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestZapLogsReachSlog(t *testing.T) {
	var buf bytes.Buffer
	zl := newZapLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	zl.Named("obtain").With().Debug("hidden")
	zl.Named("obtain").Info("certificate obtained successfully")
	zl.Error("could not get certificate", zap.String("identifier", "line.example.com"))
	got := buf.String()
	for _, want := range []string{`msg="certificate obtained successfully" component=certmagic.obtain`, `level=ERROR msg="could not get certificate" component=certmagic identifier=line.example.com`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Error("debug line logged at info level")
	}
}

func TestDNSReport(t *testing.T) {
	ip := net.ParseIP
	for _, tc := range []struct {
		name string
		r    DNSReport
		ok   bool
		want string
	}{
		{"points here", DNSReport{Domain: "a.example.com", Addrs: []net.IP{ip("203.0.113.7")}, Local: []net.IP{ip("127.0.0.1"), ip("203.0.113.7")}}, true, "resolves to 203.0.113.7 (this host)"},
		{"points elsewhere", DNSReport{Domain: "a.example.com", Addrs: []net.IP{ip("198.51.100.1")}, Local: []net.IP{ip("203.0.113.7")}}, false, "not an address of this host"},
		{"no records", DNSReport{Domain: "a.example.com", Local: []net.IP{ip("203.0.113.7")}}, false, "no A or AAAA record"},
		{"lookup fails", DNSReport{Domain: "a.example.com", Err: errors.New("no such host")}, false, "does not resolve (no such host)"},
		{"own addresses unknown", DNSReport{Domain: "a.example.com", Addrs: []net.IP{ip("198.51.100.1")}, LocalErr: errors.New("address family not supported by protocol")}, true, "not compared with this host's addresses"},
		{"own addresses unknown, no records", DNSReport{Domain: "a.example.com", LocalErr: errors.New("address family not supported by protocol")}, false, "no A or AAAA record"},
	} {
		if tc.r.OK() != tc.ok || !strings.Contains(tc.r.String(), tc.want) {
			t.Errorf("%s: OK %v, %q; want %v, %q", tc.name, tc.r.OK(), tc.r.String(), tc.ok, tc.want)
		}
	}
}
