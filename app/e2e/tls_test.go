package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// pebble is an in-process Pebble ACME server whose validation authority
// really connects to linehub's ports: names resolve through a DNS server
// on loopback that answers 127.0.0.1 for everything.
type pebble struct {
	DirURL string
	// RootFile holds the certificate of the ACME server's own HTTPS (what
	// acme.ca_root is for).
	RootFile string
	// Issuing trusts the certificates Pebble issues.
	Issuing *x509.CertPool
	orders  atomic.Int64
	logs    *syncBuffer
}

func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	// Pebble reads these at construction: no random sleep before
	// validating, no deliberately rejected nonces.
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")

	p := &pebble{logs: &syncBuffer{}}
	logger := log.New(p.logs, "pebble ", log.LstdFlags)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, startDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	handler := front.Handler()

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/order-plz" {
			p.orders.Add(1)
		}
		handler.ServeHTTP(w, r)
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	p.DirURL = srv.URL + wfe.DirectoryPath

	p.RootFile = filepath.Join(t.TempDir(), "acme-server-root.pem")
	if err := os.WriteFile(p.RootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Issuing = x509.NewCertPool()
	if !p.Issuing.AppendCertsFromPEM(authority.GetRootCert(0).PEM()) {
		t.Fatal("pebble root is not PEM")
	}
	return p
}

// startDNS answers every A query with 127.0.0.1 and every AAAA query with
// nothing, over TCP (Pebble's VA resolver uses TCP).
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	n, _ := strconv.Atoi(port)
	return n
}

// TestAutomaticHTTPS runs the real binary with a domain against Pebble: the
// certificate is obtained through a real challenge on linehub's own ports,
// HTTPS works with Pebble's chain, plain HTTP redirects, and a restart
// reuses the stored certificate without a new order.
//
// Pebble offers both challenges and certmagic picks one at random; each
// case points Pebble's VA at a closed port for the other challenge, so the
// certificate can only come through the one named (certmagic retries with
// the other type when its first pick fails).
func TestAutomaticHTTPS(t *testing.T) {
	t.Run("http-01", func(t *testing.T) { testAutomaticHTTPS(t, "http-01") })
	t.Run("tls-alpn-01", func(t *testing.T) { testAutomaticHTTPS(t, "tls-alpn-01") })
}

func testAutomaticHTTPS(t *testing.T, want string) {
	const domain = "shop.linehub.test"
	httpPort, httpsPort := freePort(t), freePort(t)
	vaHTTPPort, vaTLSPort := httpPort, httpsPort
	if want == "tls-alpn-01" {
		vaHTTPPort = freePort(t)
	} else {
		vaTLSPort = freePort(t)
	}
	peb := startPebble(t, vaHTTPPort, vaTLSPort)
	dataDir := t.TempDir()

	run := func() (stop func() string) {
		cmd := exec.Command(binary(t), "serve")
		cmd.Env = append(os.Environ(),
			"LINEHUB_DOMAIN="+domain,
			"LINEHUB_HTTPS_LISTEN="+net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort)),
			"LINEHUB_HTTP_LISTEN="+net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort)),
			"LINEHUB_ACME_CA="+peb.DirURL,
			"LINEHUB_ACME_CA_ROOT="+peb.RootFile,
			"LINEHUB_ACME_EMAIL=ops@example.com",
			"LINEHUB_DATA_DIR="+dataDir,
			"LINEHUB_LOG_LEVEL=debug",
		)
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stopped := false
		stop = func() string {
			if !stopped {
				stopped = true
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(20 * time.Second):
					_ = cmd.Process.Kill()
					<-exited
				}
			}
			return logs.String()
		}
		t.Cleanup(func() {
			out := stop()
			if t.Failed() {
				t.Logf("linehub log:\n%s\npebble log:\n%s", out, peb.logs.String())
			}
		})
		return stop
	}

	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: peb.Issuing, ServerName: domain},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(httpsPort)))
			},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	httpsURL := fmt.Sprintf("https://%s:%d", domain, httpsPort)
	// getHealthz waits for HTTPS with a certificate that verifies against
	// Pebble's root (the transport checks chain and name) and returns the
	// leaf served.
	getHealthz := func() *x509.Certificate {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		var lastErr error
		for time.Now().Before(deadline) {
			resp, err := client.Get(httpsURL + "/healthz")
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !bytes.Contains(body, []byte("ok")) {
					t.Fatalf("GET /healthz over HTTPS: %d %s", resp.StatusCode, body)
				}
				if resp.TLS.NegotiatedProtocol != "http/1.1" && resp.TLS.NegotiatedProtocol != "" {
					t.Errorf("negotiated %q", resp.TLS.NegotiatedProtocol)
				}
				if h := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(h, "max-age=") {
					t.Errorf("no HSTS header over HTTPS: %q", h)
				}
				if resp.TLS.Version < tls.VersionTLS12 {
					t.Errorf("TLS version %x", resp.TLS.Version)
				}
				return resp.TLS.PeerCertificates[0]
			}
			lastErr = err
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("no verified HTTPS answer within 90s: %v", lastErr)
		return nil
	}

	stop := run()
	t0 := time.Now()
	leaf := getHealthz()
	t.Logf("certificate issued and served %.1fs after start; issuer %q", time.Since(t0).Seconds(), leaf.Issuer.CommonName)
	orders := peb.orders.Load()
	t.Logf("%d order(s) until the %s challenge succeeded", orders, want)

	// Plain HTTP redirects to HTTPS on the configured domain, whatever the
	// Host header says.
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/setup?x=1", httpPort), nil)
	req.Host = "evil.example.com"
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if want := httpsURL + "/setup?x=1"; resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != want {
		t.Errorf("HTTP answer %d Location %q, want 301 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// The expiry of the served certificate is a metric, for alerting.
	mresp, err := client.Get(httpsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	mbody, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	if want := fmt.Sprintf("linehub_certificate_expiry_timestamp_seconds{domain=%q} %d\n", domain, leaf.NotAfter.Unix()); !strings.Contains(string(mbody), want) {
		t.Errorf("/metrics lacks %q:\n%s", want, mbody)
	}
	// Old protocol versions are refused.
	old, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{
		RootCAs: peb.Issuing, ServerName: domain, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
	})
	if err == nil {
		old.Close()
		t.Error("TLS 1.1 handshake accepted")
	}
	// TLS 1.2 with CBC suites only is refused too: AEAD suites only.
	cbc, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{
		RootCAs: peb.Issuing, ServerName: domain, MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA},
	})
	if err == nil {
		cbc.Close()
		t.Error("TLS 1.2 handshake with only CBC suites accepted")
	}
	// The certificate is stored under the data directory.
	if _, err := os.Stat(filepath.Join(dataDir, "certmagic")); err != nil {
		t.Errorf("no certificate storage in data_dir: %v", err)
	}

	logs := stop()
	if !strings.Contains(logs, `msg="authorization finalized" component=certmagic.acme_client authz_status=valid`) {
		t.Errorf("no valid authorization in the log")
	}
	// The test domain resolves nowhere outside Pebble's DNS: a warning,
	// not a refusal.
	if !strings.Contains(logs, `level=WARN msg="domain check: the CA may not reach this server" domain=shop.linehub.test`) {
		t.Errorf("no DNS warning for the test domain in the log")
	}
	if want == "http-01" && !strings.Contains(logs, "served key authentication") {
		t.Errorf("no HTTP-01 key authentication served")
	}
	if want == "tls-alpn-01" && !strings.Contains(logs, "challenge=tls-alpn-01") {
		t.Errorf("no TLS-ALPN-01 certificate served")
	}

	// Restart: the stored certificate is loaded, no new order.
	stop = run()
	again := getHealthz()
	if !again.Equal(leaf) {
		t.Errorf("restart serves a different certificate (serial %s, was %s)", again.SerialNumber, leaf.SerialNumber)
	}
	if got := peb.orders.Load(); got != orders {
		t.Errorf("after restart Pebble received %d orders in all, want %d (stored certificate not reused)", got, orders)
	}
	if want != "http-01" {
		return // once is enough for what follows
	}

	// Backup, then restore onto a new server (an empty data directory):
	// the certificate and ACME account travel in the backup, so the new
	// server serves the same certificate at once, without a new order.
	stop()
	file := filepath.Join(t.TempDir(), "linehub.backup")
	linehub := func(dir string, args ...string) string {
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), "LINEHUB_DATA_DIR="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("linehub %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if out := linehub(dataDir, "backup", file); !regexp.MustCompile(`, [1-9]\d* certificate files,`).MatchString(out) {
		t.Fatalf("backup did not take the certificates: %s", out)
	}
	dataDir = t.TempDir()
	linehub(dataDir, "restore", file)
	run()
	moved := getHealthz()
	if !moved.Equal(leaf) {
		t.Errorf("restored server serves a different certificate (serial %s, was %s)", moved.SerialNumber, leaf.SerialNumber)
	}
	if got := peb.orders.Load(); got != orders {
		t.Errorf("after restore Pebble received %d orders in all, want %d", got, orders)
	}
}

// TestListenErrors: a port that cannot be bound stops linehub at start with
// a message naming the config key.
func TestListenErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"listen", []string{"LINEHUB_LISTEN=" + busy.Addr().String()}, "config key listen"},
		{"https_listen", []string{"LINEHUB_DOMAIN=shop.linehub.test", "LINEHUB_HTTPS_LISTEN=" + busy.Addr().String(), "LINEHUB_HTTP_LISTEN=127.0.0.1:0"}, "config key https_listen"},
		{"http_listen", []string{"LINEHUB_DOMAIN=shop.linehub.test", "LINEHUB_HTTPS_LISTEN=127.0.0.1:0", "LINEHUB_HTTP_LISTEN=" + busy.Addr().String()}, "config key http_listen"},
	} {
		cmd := exec.Command(binary(t), "serve")
		cmd.Env = append(append(os.Environ(), "LINEHUB_DATA_DIR="+t.TempDir()), tc.env...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "already uses this port") {
			t.Errorf("%s on a busy port: %v\n%s", tc.name, err, out)
		}
	}
}
