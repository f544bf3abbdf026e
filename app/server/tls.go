package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"github.com/valyala/fasthttp"

	"linehub/app/config"
	"linehub/app/metrics"
)

// CertDir is where certificates, keys and the ACME account live, inside
// the data directory.
const CertDir = "certmagic"

// serveTLS serves the app over HTTPS on https_listen with a certificate
// for the domain from the ACME CA, and runs http_listen for HTTP-01
// challenges and redirects. Both ports are bound before anything is
// requested from the CA, so a port problem is reported at once and
// certmagic never starts challenge servers of its own: it finds the ports
// taken (by us) and relies on these listeners, which answer HTTP-01 through
// the issuer's handler and TLS-ALPN-01 through GetCertificate.
func serveTLS(ctx context.Context, o Options) error {
	cfg, log := o.Config, o.Logger
	httpsLn, err := listen(cfg.HTTPSListen, "https_listen")
	if err != nil {
		return err
	}
	defer httpsLn.Close()
	httpLn, err := listen(cfg.HTTPListen, "http_listen")
	if err != nil {
		return err
	}
	defer httpLn.Close()

	magic, issuer, err := newCertManager(cfg, log)
	if err != nil {
		return err
	}
	defer magic.cache.Stop()
	metrics.Default.SetGaugeFunc("linehub_certificate_expiry_timestamp_seconds",
		"When the certificate served for the domain expires (Unix time); alert well before it, renewal starts about 30 days ahead.",
		func() []metrics.Sample {
			var out []metrics.Sample
			for _, c := range magic.cache.AllMatchingCertificates(cfg.Domain) {
				if c.Leaf != nil {
					out = append(out, metrics.Sample{Labels: []metrics.Label{{Name: "domain", Value: cfg.Domain}}, Value: float64(c.Leaf.NotAfter.Unix())})
				}
			}
			return out
		})

	tlsCfg := serverTLSConfig(magic.cfg)

	redirect := &http.Server{
		Handler:           issuer.HTTPChallengeHandler(redirectHandler(cfg.Domain, httpsLn.Addr())),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go func() {
		if err := redirect.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("HTTP listener stopped", "addr", httpLn.Addr().String(), "err", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = redirect.Shutdown(sctx)
	}()

	log.Info("listening", "addr", httpsLn.Addr().String(), "tls", true, "domain", cfg.Domain)
	log.Info("listening for ACME challenges and HTTPS redirects", "addr", httpLn.Addr().String())
	go func() {
		if r := CheckDNS(ctx, cfg.Domain); !r.OK() {
			log.Warn("domain check: the CA may not reach this server", "domain", cfg.Domain, "problem", r.Problem())
		}
	}()

	// A certificate in storage is loaded here (no CA contact); otherwise it
	// is obtained in the background with certmagic's retries, while the
	// listeners already run to answer the challenges.
	if err := magic.cfg.ManageAsync(ctx, []string{cfg.Domain}); err != nil {
		return fmt.Errorf("certificate for %s: %w", cfg.Domain, err)
	}
	// Browsers that saw the site over HTTPS keep using HTTPS: the :80
	// redirect is then never an opening for a downgrade.
	next := o.App.Server().Handler
	o.App.Server().Handler = func(c *fasthttp.RequestCtx) {
		next(c)
		c.Response.Header.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if o.Ready != nil {
		o.Ready([]net.Addr{httpsLn.Addr(), httpLn.Addr()})
	}
	return runFiber(ctx, o, tls.NewListener(httpsLn, tlsCfg))
}

// serverTLSConfig is the HTTPS listener's TLS configuration: certmagic's
// certificates, TLS 1.2 or newer, and for TLS 1.2 only AEAD cipher suites
// with forward secrecy (TLS 1.3 has nothing else): the CBC suites Go still
// accepts by default are open to padding-oracle and timing attacks.
func serverTLSConfig(magic *certmagic.Config) *tls.Config {
	c := magic.TLSConfig()
	// fasthttp speaks HTTP/1.1 only; acme-tls/1 is offered so that the CA's
	// TLS-ALPN-01 validation handshake gets the challenge certificate.
	c.NextProtos = []string{"http/1.1", acmez.ACMETLS1Protocol}
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	return c
}

type certManager struct {
	cfg   *certmagic.Config
	cache *certmagic.Cache
}

// newCertManager builds a certmagic config of its own (not the package
// default) storing everything under data_dir.
func newCertManager(cfg *config.Config, log *slog.Logger) (*certManager, *certmagic.ACMEIssuer, error) {
	zl := newZapLogger(log)
	m := &certManager{}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return m.cfg, nil },
		Logger:           zl,
	})
	m.cfg = certmagic.New(m.cache, certmagic.Config{
		Storage: &certmagic.FileStorage{Path: filepath.Join(cfg.DataDir, CertDir)},
		Logger:  zl,
		OnEvent: func(_ context.Context, event string, data map[string]any) error {
			certEvent(log, event, data)
			return nil
		},
	})

	tmpl := certmagic.ACMEIssuer{
		CA:     cfg.ACME.CA,
		Email:  cfg.ACME.Email,
		Agreed: true, // setting domain is the operator's request for a certificate
		Logger: zl,
	}
	if tmpl.CA == "" {
		tmpl.CA = certmagic.LetsEncryptProductionCA
	}
	if cfg.ACME.CARoot != "" {
		pool, err := loadRoots(cfg.ACME.CARoot)
		if err != nil {
			m.cache.Stop()
			return nil, nil, err
		}
		tmpl.TrustedRoots = pool
	}
	// certmagic would open its own challenge listeners on these ports if
	// they were free; pointing it at ours makes it find them taken and rely
	// on the handlers below.
	host, port, _ := net.SplitHostPort(cfg.HTTPListen)
	tmpl.ListenHost = host
	tmpl.AltHTTPPort, _ = strconv.Atoi(port)
	_, port, _ = net.SplitHostPort(cfg.HTTPSListen)
	tmpl.AltTLSALPNPort, _ = strconv.Atoi(port)

	issuer := certmagic.NewACMEIssuer(m.cfg, tmpl)
	m.cfg.Issuers = []certmagic.Issuer{issuer}
	return m, issuer, nil
}

// loadRoots reads acme.ca_root: the roots trusted for the ACME server's
// own HTTPS, in addition to the system pool.
func loadRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("acme.ca_root: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("acme.ca_root: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// redirectHandler sends browsers to the HTTPS site. The target host is the
// configured domain, never the request's Host header, so this cannot be
// used as an open redirect.
func redirectHandler(domain string, httpsAddr net.Addr) http.Handler {
	base := "https://" + domain
	if tcp, ok := httpsAddr.(*net.TCPAddr); ok && tcp.Port != 443 {
		base += ":" + strconv.Itoa(tcp.Port)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusPermanentRedirect
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			status = http.StatusMovedPermanently
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, base+r.URL.RequestURI(), status)
	})
}
