package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/hubspot/hubspottest"
	"linehub/app/line"
	"linehub/app/line/linetest"
)

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// soakConn is one connection's simulated day: its friends and the events
// it receives, in order.
type soakConn struct {
	c        connection
	users    []string
	events   []json.RawMessage
	last     map[string]string // user → last message text
	unfollow map[string]bool
}

// BenchmarkSoak runs a day of traffic for 50 connections and 100,000
// friends, compressed into a few minutes (LINEHUB_SOAK_FRIENDS and
// LINEHUB_SOAK_MINUTES change both), against the real binary on the
// enterprise budget (190 requests per 10 s). Each friend follows once;
// there are 1.5 messages per friend and an unfollow for one friend in 50.
// It reports the HubSpot requests used against the least possible (one
// batch create per 100 contacts), peak RSS and the inbox depth over time,
// and fails only if a contact ends up wrong or missing. docs/benchmarks.md
// has the command and the results.
func BenchmarkSoak(b *testing.B) {
	const conns = 50
	friends := envInt(b, "LINEHUB_SOAK_FRIENDS", 100000)
	minutes := envInt(b, "LINEHUB_SOAK_MINUTES", 3)
	perConn := friends / conns
	const perBody = 20

	e := newEnv(b, envOptions{
		HubSpot: hubspottest.Options{RatePer10s: 190},
		Env: []string{"LINEHUB_LOG_LEVEL=warn", "LINEHUB_SYNC_INTERVAL=1s", "LINEHUB_LIMITS_MAX_CONNECTIONS=50",
			"LINEHUB_JOBS_IMPORT_CHECK=off", "LINEHUB_JOBS_RECONCILE=off", "LINEHUB_JOBS_DRIFT_REPAIR=off"},
	})
	e.configureHubSpot("enterprise")
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Now().Add(-24 * time.Hour)
	var scs []*soakConn
	messages := 0 // each becomes a timeline note on the friend's contact
	for ci := range conns {
		sc := &soakConn{last: map[string]string{}, unfollow: map[string]bool{}}
		sc.c = e.connect(fmt.Sprintf("Soak %02d", ci))
		loopbackOnly(b, sc.c.WebhookURL)
		ts := base
		tick := func() time.Time { ts = ts.Add(time.Millisecond); return ts }
		for j := range perConn {
			uid := linetest.NewUserID()
			e.LINE.AddFriend(sc.c.token, line.Profile{UserID: uid, DisplayName: fmt.Sprintf("C%02d F%05d", ci, j), PictureURL: "https://profile.line-scdn.net/" + uid})
			sc.users = append(sc.users, uid)
			sc.events = append(sc.events, linetest.FollowEvent(uid, false, tick()))
			// 1.5 messages per friend, from friends who follow by now.
			for m := 0; m < 1+j%2; m++ {
				from := sc.users[rng.IntN(len(sc.users))]
				if sc.unfollow[from] {
					continue
				}
				text := fmt.Sprintf("message %d from %s", len(sc.events), from[:9])
				sc.last[from] = text
				messages++
				sc.events = append(sc.events, linetest.TextMessageEvent(from, text, tick()))
			}
			if j%50 == 49 {
				gone := sc.users[rng.IntN(len(sc.users))]
				if !sc.unfollow[gone] {
					sc.unfollow[gone] = true
					e.LINE.Block(sc.c.token, gone)
					sc.events = append(sc.events, linetest.UnfollowEvent(gone, tick()))
				}
			}
		}
		scs = append(scs, sc)
	}
	// Bodies round-robin over the connections, each connection's events in
	// order, as LINE would deliver a day of them.
	type req struct {
		url  string
		body signedBody
	}
	var reqs []req
	totalEvents := 0
	for k := 0; ; k++ {
		any := false
		for _, sc := range scs {
			lo := k * perBody
			if lo >= len(sc.events) {
				continue
			}
			any = true
			evs := sc.events[lo:min(lo+perBody, len(sc.events))]
			totalEvents += len(evs)
			body := linetest.Body(e.LINE.BotUserID(sc.c.token), evs...)
			reqs = append(reqs, req{sc.c.WebhookURL, signedBody{body, line.Sign(sc.c.secret, body)}})
		}
		if !any {
			break
		}
	}
	setup := e.HS.Requests()
	e.HS.ResetCounters()

	// Inbox depth and sync backlog, sampled while the day runs.
	type sample struct {
		at                     time.Duration
		pending, backlg, notes int64
	}
	var samples []sample
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	start := time.Now()
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		every := time.Duration(minutes) * time.Minute / 12
		for {
			var st struct {
				Inbox   struct{ Pending int64 }
				Friends struct {
					Backlog int64 `json:"sync_backlog"`
				}
				Notes struct{ Pending int64 }
			}
			e.api("GET", "/status", nil, &st)
			samples = append(samples, sample{time.Since(start), st.Inbox.Pending, st.Friends.Backlog, st.Notes.Pending})
			select {
			case <-stopSampling:
				return
			case <-time.After(every):
			}
		}
	}()

	cpu := startCPUMeter(b, e.cmd.Process.Pid)
	b.ResetTimer()
	every := time.Duration(minutes) * time.Minute / time.Duration(len(reqs))
	// Eight senders on keep-alive connections post the requests open-loop:
	// request i is due at start + i·every, and its latency counts from then.
	var failures []string
	var latencies []time.Duration
	{
		tr := &http.Transport{MaxIdleConnsPerHost: 8, MaxConnsPerHost: 8, DisableCompression: true}
		client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		defer tr.CloseIdleConnections()
		var mu sync.Mutex
		var wg sync.WaitGroup
		next := make(chan int)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					due := start.Add(time.Duration(i) * every)
					time.Sleep(time.Until(due))
					r, _ := http.NewRequest("POST", reqs[i].url, bytes.NewReader(reqs[i].body.body))
					r.Header.Set("Content-Type", "application/json; charset=utf-8")
					r.Header.Set("X-Line-Signature", reqs[i].body.sig)
					resp, err := client.Do(r)
					if err == nil {
						_, err = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
					mu.Lock()
					switch {
					case err != nil:
						failures = append(failures, fmt.Sprintf("request %d: %v", i, err))
					case resp.StatusCode != 200:
						failures = append(failures, fmt.Sprintf("request %d: status %d", i, resp.StatusCode))
					default:
						latencies = append(latencies, time.Since(due))
					}
					mu.Unlock()
				}
			}()
		}
		for i := range reqs {
			next <- i
		}
		close(next)
		wg.Wait()
	}
	dayEnd := time.Since(start)
	if len(failures) > 0 {
		b.Fatalf("%d webhook requests not acknowledged, e.g. %v", len(failures), failures[:min(5, len(failures))])
	}
	deadline := time.Now().Add(15 * time.Minute)
	for {
		var st struct {
			Inbox   struct{ Pending int64 }
			Friends struct {
				Total   int64
				Backlog int64 `json:"sync_backlog"`
			}
		}
		e.api("GET", "/status", nil, &st)
		if st.Inbox.Pending == 0 && st.Friends.Backlog == 0 && st.Friends.Total == int64(conns*perConn) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not settled 15 minutes after the day: %+v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	settled := time.Since(start)
	// The timeline notes (one per message) share HubSpot's budget and
	// trail the contacts.
	e.notesLogged(time.Until(deadline))
	notesDone := time.Since(start)
	b.StopTimer()
	close(stopSampling)
	sampling.Wait()
	use := cpu.stop()
	peak := vmHWM(b, e.cmd.Process.Pid)

	// Every friend is one contact with the right Follow and Last Response.
	byUser := map[string]hubspottest.Contact{}
	for _, ct := range e.HS.Contacts() {
		for k, v := range ct.Properties {
			if strings.HasPrefix(k, "line_user_id_") {
				byUser[v] = ct
			}
		}
	}
	problems := 0
	for _, sc := range scs {
		p := func(key string) string { return fmt.Sprintf("%s_%d", key, sc.c.Serial) }
		for _, u := range sc.users {
			ct, ok := byUser[u]
			want := "Yes"
			if sc.unfollow[u] {
				want = "No"
			}
			switch {
			case !ok:
				problems++
			case ct.Properties[p("line_follow")] != want, ct.Properties[p("line_last_response")] != sc.last[u]:
				if problems++; problems <= 5 {
					b.Errorf("contact of %s: follow %q (want %s), last response %q (want %q)", u, ct.Properties[p("line_follow")], want,
						ct.Properties[p("line_last_response")], sc.last[u])
				}
			}
		}
	}
	if problems > 0 {
		b.Fatalf("%d of %d friends wrong or missing in HubSpot", problems, conns*perConn)
	}
	if n := len(e.HS.AllNotes()); n != messages {
		b.Fatalf("%d timeline notes in HubSpot, want one per message: %d", n, messages)
	}
	used := e.HS.Requests()
	minContacts, minNotes := (conns*perConn+99)/100, (messages+99)/100
	minimum := minContacts + minNotes
	var depth []string
	for _, s := range samples {
		depth = append(depth, fmt.Sprintf("%.0fs %d/%d/%d", s.at.Seconds(), s.pending, s.backlg, s.notes))
	}
	lat := slices.Clone(latencies)
	slices.Sort(lat)
	b.Logf("day: %d events (%d messages) in %d requests over %.0fs (%.0f events/s), ack p50 %.1f ms p99 %.1f ms; contacts settled %.0fs after start, notes done %.0fs",
		totalEvents, messages, len(reqs), dayEnd.Seconds(), float64(totalEvents)/dayEnd.Seconds(), ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), settled.Seconds(), notesDone.Seconds())
	b.Logf("HubSpot: %d requests (setup %d) vs minimum %d (one create per 100 contacts: %d, one per 100 notes: %d) = %.2fx; 429s %d; by path: %v",
		used, setup, minimum, minContacts, minNotes, float64(used)/float64(minimum), e.HS.RateLimited(), e.HS.RequestsByPath())
	// One line: the benchmark log keeps only the first lines of a message.
	b.Logf("inbox depth/sync backlog/notes pending over time: %s", strings.Join(depth, "; "))
	b.ReportMetric(float64(used), "hs-requests")
	b.ReportMetric(float64(minimum), "hs-min-requests")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(settled.Seconds(), "settled-s")
	b.ReportMetric(notesDone.Seconds(), "notes-done-s")
	b.ReportMetric(float64(totalEvents), "events")
	use.report(b)
}
