package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/jobs"
	"linehub/app/linking"
	"linehub/app/messaging"
	"linehub/app/server"
	"linehub/app/store"
	"linehub/app/web"
)

// serve runs the appliance until SIGINT or SIGTERM: config → store →
// HubSpot client → connections, contact sync and messaging workers → jobs
// → web app on the listeners.
func serve(args []string, stderr io.Writer, version string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("config", "", "config file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := loadConfig(args)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	slog.SetDefault(log)
	for _, w := range cfg.Warnings {
		log.Warn("configuration", "warning", w)
	}

	unlock, err := store.LockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := store.Open(cfg.DataDir, store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer st.Close()
	hs := hubspot.New(hubspot.Config{BaseURL: cfg.HubSpot.BaseURL, Token: cfg.HubSpot.Token, Tier: cfg.HubSpot.Tier, Logger: log})
	conns, err := connections.New(connections.Options{Store: st, HubSpot: hs, Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	pipe, err := contactsync.New(contactsync.Options{Connections: conns, Store: st, HubSpot: hs, Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	msg, err := messaging.New(messaging.Options{Connections: conns, Sync: pipe, Store: st, HubSpot: hs, Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	sched, err := jobs.New(jobs.Options{Sync: pipe, Messaging: msg, Store: st, Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	// Before the pipeline runs: it asks linking which contacts friends
	// were unlinked from.
	link := linking.New(linking.Options{Store: st, HubSpot: hs, Sync: pipe, Config: cfg, Logger: log})
	app := web.New(web.Options{Connections: conns, Sync: pipe, Messaging: msg, Store: st, Config: cfg, Logger: log, Version: version, Jobs: sched, Linking: link, SetupURL: func(link string) {
		fmt.Fprintf(stderr, "\nlinehub: no admin account yet. Open this one-time link within 30 minutes to set up:\n\n    %s\n\n", link)
	}})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	workCtx, stopWork := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); conns.Run(workCtx) }()
	go func() { defer wg.Done(); link.Run(workCtx) }()
	go func() { defer wg.Done(); pipe.Run(workCtx) }()
	go func() { defer wg.Done(); msg.Run(workCtx) }()
	if err := sched.Start(ctx); err != nil {
		stopWork()
		wg.Wait()
		return err
	}

	log.Info("linehub started", "version", version, "data_dir", cfg.DataDir, "webhook_base", cfg.WebhookBaseURL(),
		"hubspot_configured", hs.HasToken())
	if toks, _ := st.APITokens(ctx); len(toks) == 0 {
		log.Info("no API token yet: create one with `linehub token create --name admin` to use the admin API")
	}
	err = server.Serve(ctx, server.Options{App: app, Config: cfg, Logger: log})
	// Jobs stop first: they store their cursors and resume after a restart.
	jobsCtx, cancelJobs := context.WithTimeout(context.Background(), 10*time.Second)
	if jerr := sched.Stop(jobsCtx); jerr != nil {
		log.Warn("stopping jobs", "err", jerr)
	}
	cancelJobs()
	// The listener is closed and in-flight webhooks are answered: stop the
	// workers (the round in flight finishes, up to contactsync.DrainTimeout),
	// then close the store.
	stopWork()
	wg.Wait()
	log.Info("stopped")
	return err
}
