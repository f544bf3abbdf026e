package jobs

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"linehub/app/config"
	"linehub/app/connections"
	"linehub/app/contactsync"
	"linehub/app/hubspot"
	"linehub/app/hubspot/hubspottest"
	"linehub/app/line/linetest"
	"linehub/app/messaging"
	"linehub/app/metrics"
	"linehub/app/store"
)

type fixture struct {
	st    *store.Store
	conns *connections.Registry
	sync  *contactsync.Sync
	msg   *messaging.Service
	ln    *linetest.Server
	cfg   *config.Config
}

func newFixture(t *testing.T, tune func(c *config.Config)) *fixture {
	t.Helper()
	const token = "pat-na1-jobs-test-0000"
	hs := hubspottest.New(hubspottest.Options{Token: token, RatePer10s: -1, SearchPerSec: -1})
	t.Cleanup(hs.Close)
	ln := linetest.New(linetest.Options{})
	t.Cleanup(ln.Close)
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(t.TempDir(), store.Options{Synchronous: "NORMAL", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.HubSpot.BaseURL, cfg.HubSpot.Token = hs.URL(), token
	cfg.LINE.APIBaseURL, cfg.LINE.DataAPIBaseURL = ln.URL(), ln.URL()
	cfg.Jobs.ImportCheck, cfg.Jobs.Reconcile, cfg.Jobs.DriftRepair, cfg.Jobs.PruneInbox, cfg.Jobs.DeadLetters = "off", "off", "off", "off", "off"
	if tune != nil {
		tune(cfg)
	}
	hsc := hubspot.New(hubspot.Config{BaseURL: hs.URL(), Token: token, Logger: log, MaxRetries: -1})
	conns, err := connections.New(connections.Options{Store: st, HubSpot: hsc, Config: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := contactsync.New(contactsync.Options{Connections: conns, Store: st, HubSpot: hsc, Config: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := messaging.New(messaging.Options{Connections: conns, Sync: pipe, Store: st, HubSpot: hsc, Config: cfg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, conns: conns, sync: pipe, msg: msg, ln: ln, cfg: cfg}
}

func (fx *fixture) scheduler(t *testing.T) *Scheduler {
	t.Helper()
	s, err := New(Options{Sync: fx.sync, Messaging: fx.msg, Store: fx.st, Config: fx.cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func waitRun(t *testing.T, st *store.Store, id int64) *store.JobRun {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r, err := st.JobRun(context.Background(), id)
		if err == nil && r.Status != store.RunRunning {
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("run %d did not finish", id)
	return nil
}

// TestScheduleWithSecondsInTimeZone: a six-field schedule runs every second
// and its run is stored; the next run is reported in the configured zone.
func TestScheduleWithSecondsInTimeZone(t *testing.T) {
	fx := newFixture(t, func(c *config.Config) {
		c.Jobs.TimeZone = "Asia/Tokyo"
		c.Jobs.DeadLetters = "* * * * * *"
	})
	okBefore := metrics.JobRuns.Value(DeadLetters, "ok")
	s := fx.scheduler(t)
	deadline := time.Now().Add(10 * time.Second)
	var runs []store.JobRun
	for time.Now().Before(deadline) {
		runs, _ = fx.st.JobRuns(context.Background(), DeadLetters, 0, 10)
		if len(runs) > 0 && runs[len(runs)-1].Status == store.RunOK {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(runs) == 0 || runs[len(runs)-1].Status != store.RunOK || runs[len(runs)-1].Trigger != TriggerSchedule {
		t.Fatalf("runs of a per-second schedule: %+v", runs)
	}
	// /metrics counts finished runs by result.
	if got := metrics.JobRuns.Value(DeadLetters, "ok"); got <= okBefore {
		t.Errorf("linehub_job_runs_total{job=%q,result=\"ok\"} = %d after a run, was %d", DeadLetters, got, okBefore)
	}
	infos, err := s.Jobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range infos {
		switch j.Name {
		case DeadLetters:
			if !j.Enabled || j.NextRun == nil || j.NextRun.Location().String() != "Asia/Tokyo" || j.LastRun == nil {
				t.Errorf("dead_letters info %+v", j)
			}
		case Reconcile:
			if j.Enabled || j.NextRun != nil {
				t.Errorf("reconcile is off but reported %+v", j)
			}
		}
	}
}

// TestReconcileNeverOverlapsItself: a second request while a reconcile of
// the same connection runs is refused with ErrRunning; after it ends, a new
// one starts. Stop cancels a running job, which stores its cursor.
func TestReconcileNeverOverlapsItself(t *testing.T) {
	fx := newFixture(t, nil)
	const token = "line-token-jobs-0123456789"
	fx.ln.AddChannel(linetest.Channel{Secret: "s-0123456789", Token: token})
	release := make(chan struct{})
	fx.ln.SetFault(func(r *http.Request) (int, string, bool) {
		if r.URL.Path == "/v2/bot/followers/ids" {
			<-release // LINE is slow today
		}
		return 0, "", false
	})
	conn, err := fx.conns.CreateConnection(context.Background(), connections.NewConnection{Name: "Shop", ChannelSecret: "s-0123456789", ChannelAccessToken: token})
	if err != nil {
		t.Fatal(err)
	}
	s := fx.scheduler(t)
	first, err := s.RunReconcile(conn.ID, TriggerAPI)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.RunReconcile(conn.ID, TriggerAPI)
	if !errors.Is(err, ErrRunning) || again.ID != first.ID {
		t.Fatalf("second reconcile while the first runs: %+v, %v; want ErrRunning naming run %d", again, err, first.ID)
	}
	close(release)
	if r := waitRun(t, fx.st, first.ID); r.Status != store.RunOK {
		t.Fatalf("first run %+v", r)
	}
	second, err := s.RunReconcile(conn.ID, TriggerAPI)
	if err != nil {
		t.Fatalf("reconcile after the first ended: %v", err)
	}
	if r := waitRun(t, fx.st, second.ID); r.Status != store.RunOK {
		t.Fatalf("second run %+v", r)
	}
}

// TestJobPanicFailsTheRunOnly: a panic inside a job is that run's failure,
// recorded like any error; the scheduler (and the process) go on and the
// next run of the same job starts.
func TestJobPanicFailsTheRunOnly(t *testing.T) {
	fx := newFixture(t, nil)
	s := fx.scheduler(t)
	run, err := s.start(Reconcile, 1, TriggerAPI, func(context.Context, *store.JobRun) error {
		panic("a bug met by one connection's data")
	})
	if err != nil {
		t.Fatal(err)
	}
	got := waitRun(t, fx.st, run.ID)
	if got.Status != store.RunFailed || !strings.Contains(got.Message, "internal error") {
		t.Fatalf("run after a panic: status %s, message %q", got.Status, got.Message)
	}
	next, err := s.start(Reconcile, 1, TriggerAPI, func(context.Context, *store.JobRun) error { return nil })
	if err != nil {
		t.Fatalf("the next run after a panic: %v", err)
	}
	if got := waitRun(t, fx.st, next.ID); got.Status != store.RunOK {
		t.Fatalf("the next run failed: %q", got.Message)
	}
}
