package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// The benchmarks below are load tests of the real binary against the
// doubles; docs/benchmarks.md has the commands and the results. They never
// run in plain `go test` (only with -bench) and assert no timings: they
// report numbers with b.ReportMetric and fail only on wrong outcomes.

// benchEnv is the configuration the benchmarks run linehub with: the
// shipped defaults (info logging, sync interval 1 s, synchronous=FULL)
// rather than the harness's debug logging and 50 ms interval.
func benchEnv(extra ...string) envOptions {
	return envOptions{Env: append([]string{"LINEHUB_LOG_LEVEL=info", "LINEHUB_SYNC_INTERVAL=1s"}, extra...)}
}

// signedBody is one webhook request ready to send.
type signedBody struct {
	body []byte
	sig  string
}

// loopbackOnly refuses to load anything but this machine.
func loopbackOnly(b *testing.B, webhookURL string) {
	b.Helper()
	u, err := url.Parse(webhookURL)
	if err != nil || u.Hostname() != "127.0.0.1" {
		b.Fatalf("refusing to load %q: benchmarks only target 127.0.0.1", webhookURL)
	}
}

// sendResult is what a burst of webhook requests came to.
type sendResult struct {
	elapsed   time.Duration
	latencies []time.Duration // of every request answered 200
	failures  []string
}

// sendAll posts every body to webhookURL from `senders` goroutines, each on
// its own keep-alive connection, and times every request.
//
// With every = 0 the load is closed-loop: each sender posts its next request
// as soon as the last one is answered, which measures capacity (and makes
// latency about senders / throughput). With every > 0 the load is open-loop:
// request i is due at start + i·every whoever sends it, and its latency is
// counted from when it was due, so a stall that makes the senders fall
// behind shows up in the numbers instead of being hidden by it.
func sendAll(webhookURL string, bodies []signedBody, senders int, every time.Duration) sendResult {
	tr := &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders, DisableCompression: true}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	var next atomic.Int64
	lat := make([][]time.Duration, senders)
	fails := make([][]string, senders)
	var wg sync.WaitGroup
	start := time.Now()
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) {
					return
				}
				req, _ := http.NewRequest("POST", webhookURL, bytes.NewReader(bodies[i].body))
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				req.Header.Set("X-Line-Signature", bodies[i].sig)
				t0 := time.Now()
				if every > 0 {
					t0 = start.Add(time.Duration(i) * every)
					time.Sleep(time.Until(t0))
				}
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				switch {
				case err != nil:
					fails[s] = append(fails[s], fmt.Sprintf("request %d: %v", i, err))
				case resp.StatusCode != 200:
					fails[s] = append(fails[s], fmt.Sprintf("request %d: status %d", i, resp.StatusCode))
				default:
					lat[s] = append(lat[s], d)
				}
			}
		}()
	}
	wg.Wait()
	res := sendResult{elapsed: time.Since(start)}
	for s := range senders {
		res.latencies = append(res.latencies, lat[s]...)
		res.failures = append(res.failures, fails[s]...)
	}
	slices.Sort(res.latencies)
	return res
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// buildBodies makes n request bodies of per events each, signed, using up
// to GOMAXPROCS goroutines. event(i) builds the i-th event overall.
func buildBodies(n, per int, dest, secret string, event func(i int) json.RawMessage) []signedBody {
	out := make([]signedBody, n)
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := w; r < n; r += workers {
				evs := make([]json.RawMessage, per)
				for j := range evs {
					evs[j] = event(r*per + j)
				}
				body := linetest.Body(dest, evs...)
				out[r] = signedBody{body: body, sig: line.Sign(secret, body)}
			}
		}()
	}
	wg.Wait()
	return out
}

// BenchmarkWebhookIngest measures how fast the real binary acknowledges
// webhook events durably, with 8 senders posting 50-event requests. One op
// is one request (50 events); use -benchtime=Nx for a fixed number of
// requests. Bodies are built and signed before the timer starts, so the
// load generator spends its CPU on HTTP only.
//
//   - closed: every sender posts its next request as soon as the last is
//     answered: the capacity of the machine (latency ≈ 8 / requests per s).
//   - rate=5000: 5,000 events/s offered (a request every 10 ms, spread over
//     the 8 senders) whatever the answers do: the ack latency at the target
//     load, counted from when each request was due.
//
// The events are text messages from a pool of 5,000 friends of the LINE
// double, so the applier and the sync worker run during the burst as they
// would in production, on the same two cores.
func BenchmarkWebhookIngest(b *testing.B) {
	b.Run("closed", func(b *testing.B) { benchIngest(b, 0) })
	b.Run("rate=5000", func(b *testing.B) { benchIngest(b, 5000) })
}

func benchIngest(b *testing.B, rate int) {
	const (
		senders    = 8
		perRequest = 50
		friends    = 5000
	)
	e := newEnv(b, benchEnv())
	e.configureHubSpot("starter")
	c := e.connect("Bench Shop")
	loopbackOnly(b, c.WebhookURL)
	users := make([]string, friends)
	for i := range users {
		users[i] = linetest.NewUserID()
		e.LINE.AddFriend(c.token, line.Profile{UserID: users[i], DisplayName: fmt.Sprintf("Friend %d", i)})
	}
	base := time.Now()
	bodies := buildBodies(b.N, perRequest, e.LINE.BotUserID(c.token), c.secret, func(i int) json.RawMessage {
		return linetest.TextMessageEvent(users[i%friends], "message "+strconv.Itoa(i), base.Add(time.Duration(i)*time.Microsecond))
	})
	var every time.Duration
	if rate > 0 {
		every = time.Duration(float64(time.Second) * perRequest / float64(rate))
	}

	cpu := startCPUMeter(b, e.cmd.Process.Pid)
	b.ResetTimer()
	res := sendAll(c.WebhookURL, bodies, senders, every)
	b.StopTimer()
	use := cpu.stop()

	if len(res.failures) > 0 {
		b.Fatalf("%d of %d requests not acknowledged, e.g. %v", len(res.failures), b.N, res.failures[:min(5, len(res.failures))])
	}
	events := b.N * perRequest
	b.ReportMetric(float64(events)/res.elapsed.Seconds(), "events/s")
	b.ReportMetric(ms(percentile(res.latencies, 0.50)), "p50-ms")
	b.ReportMetric(ms(percentile(res.latencies, 0.99)), "p99-ms")
	b.ReportMetric(ms(res.latencies[len(res.latencies)-1]), "max-ms")
	use.report(b)
	var conn struct {
		Inbox struct{ Total, Pending int64 }
	}
	e.api("GET", fmt.Sprintf("/connections/%d", c.ID), nil, &conn)
	if conn.Inbox.Total != int64(events) {
		b.Fatalf("inbox holds %d events after %d were acknowledged", conn.Inbox.Total, events)
	}
	b.ReportMetric(float64(conn.Inbox.Pending), "unapplied-at-end")

	// How long the applier then takes to catch up (not part of the ack
	// numbers above): the price of letting webhooks go first.
	drainStart := time.Now()
	for conn.Inbox.Pending > 0 {
		if time.Since(drainStart) > 5*time.Minute {
			b.Fatalf("%d events still unapplied 5 minutes after the burst", conn.Inbox.Pending)
		}
		time.Sleep(100 * time.Millisecond)
		e.api("GET", fmt.Sprintf("/connections/%d", c.ID), nil, &conn)
	}
	b.ReportMetric(time.Since(drainStart).Seconds(), "drain-s")
}

// BenchmarkSync10kFriends measures the HubSpot side of a burst of 10,000
// new friends under the starter limit the double enforces (100 requests per
// rolling 10 s): HubSpot requests used, seconds from the end of the burst
// until every contact exists with its properties, 429 answers, and the
// peak RSS of the linehub process. The workload is fixed; b.N is ignored
// beyond running it once per invocation (use -benchtime=1x -count=3).
func BenchmarkSync10kFriends(b *testing.B) {
	const (
		friends    = 10000
		senders    = 8
		perRequest = 50
	)
	extra := []string{}
	if v := os.Getenv("LINEHUB_BENCH_SYNC_INTERVAL"); v != "" {
		extra = append(extra, "LINEHUB_SYNC_INTERVAL="+v)
	}
	e := newEnv(b, benchEnv(extra...))
	e.configureHubSpot("starter")
	c := e.connect("Bench Shop")
	loopbackOnly(b, c.WebhookURL)
	prop := func(key string) string { return fmt.Sprintf("%s_%d", key, c.Serial) }
	users := make([]string, friends)
	for i := range users {
		users[i] = linetest.NewUserID()
		e.LINE.AddFriend(c.token, line.Profile{UserID: users[i], DisplayName: fmt.Sprintf("Friend %05d", i),
			PictureURL: "https://profile.line-scdn.net/" + users[i]})
	}
	base := time.Now().Add(-time.Minute)
	bodies := buildBodies(friends/perRequest, perRequest, e.LINE.BotUserID(c.token), c.secret, func(i int) json.RawMessage {
		return linetest.FollowEvent(users[i], false, base.Add(time.Duration(i)*time.Millisecond))
	})
	setupRequests := e.HS.Requests()
	e.HS.ResetCounters()

	cpu := startCPUMeter(b, e.cmd.Process.Pid)
	b.ResetTimer()
	res := sendAll(c.WebhookURL, bodies, senders, 0)
	burstEnd := time.Now()
	if len(res.failures) > 0 {
		b.Fatalf("%d webhook requests not acknowledged, e.g. %v", len(res.failures), res.failures[:min(5, len(res.failures))])
	}
	// Settled: everything applied and every friend's changes written, by
	// linehub's own account (checked against the double below).
	var st struct {
		Inbox   struct{ Pending int64 }
		Friends struct {
			Total      int64
			Backlog    int64 `json:"sync_backlog"`
			SyncErrors int64 `json:"sync_errors"`
		}
	}
	deadline := burstEnd.Add(5 * time.Minute)
	for {
		e.api("GET", "/status", nil, &st)
		if st.Inbox.Pending == 0 && st.Friends.Total == friends && st.Friends.Backlog == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("not settled 5 minutes after the burst: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	settle := time.Since(burstEnd)
	b.StopTimer()
	use := cpu.stop()
	peakRSS := vmHWM(b, e.cmd.Process.Pid)

	// Every friend is a contact with its properties, once.
	contacts := e.HS.Contacts()
	byUser := map[string]int{}
	problems := 0
	for _, ct := range contacts {
		u := ct.Properties[prop("line_user_id")]
		byUser[u]++
		if ct.Properties[prop("line_follow")] != "Yes" || ct.Properties[prop("line_user_name")] == "" ||
			ct.Properties[prop("line_user_picture")] == "" || ct.Properties[prop("line_id_sync_date")] == "" ||
			ct.Properties["firstname"] != ct.Properties[prop("line_user_name")] {
			if problems++; problems <= 5 {
				b.Errorf("contact %s lacks properties: %v", ct.ID, ct.Properties)
			}
		}
	}
	for _, u := range users {
		if byUser[u] != 1 {
			if problems++; problems <= 10 {
				b.Errorf("user %s has %d contacts", u, byUser[u])
			}
		}
	}
	if len(contacts) != friends || problems > 0 {
		b.Fatalf("%d contacts for %d friends, %d problems", len(contacts), friends, problems)
	}

	byPath := e.HS.RequestsByPath()
	var paths []string
	for p, n := range byPath {
		paths = append(paths, fmt.Sprintf("%s=%d", p, n))
	}
	slices.Sort(paths)
	b.Logf("burst %.2fs (%.0f events/s, ack p99 %.1f ms); settled %.2fs after it; HubSpot requests during the run: %s; setup used %d; sync errors %d",
		res.elapsed.Seconds(), friends/res.elapsed.Seconds(), ms(percentile(res.latencies, 0.99)), settle.Seconds(),
		strings.Join(paths, " "), setupRequests, st.Friends.SyncErrors)
	b.ReportMetric(float64(e.HS.Requests()), "hs-requests")
	b.ReportMetric(float64(e.HS.RateLimited()), "hs-429s")
	b.ReportMetric(settle.Seconds(), "settle-s")
	b.ReportMetric(res.elapsed.Seconds(), "burst-s")
	b.ReportMetric(float64(peakRSS)/(1<<20), "peak-rss-MiB")
	use.report(b)
}

// vmHWM reads a process's peak resident set size (bytes) from /proc.
func vmHWM(b testing.TB, pid int) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("read peak RSS: %v", err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatalf("parse VmHWM %q: %v", v, err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

// cpuMeter accounts for where the machine's CPU went during a run: the
// linehub process, this process (load generator and doubles) and anything
// else on the machine, which the numbers cannot control for.
type cpuMeter struct {
	b               *testing.B
	pid             int
	busy0, total0   int64
	self0, linehub0 int64
	startedAt       time.Time
	numCPUs         float64
}

type cpuUse struct{ linehub, self, other float64 } // % of one CPU

func startCPUMeter(b *testing.B, pid int) *cpuMeter {
	m := &cpuMeter{b: b, pid: pid, numCPUs: float64(runtime.NumCPU())}
	m.busy0, m.total0 = machineTicks(b)
	m.self0 = processTicks(b, os.Getpid())
	m.linehub0 = processTicks(b, pid)
	m.startedAt = time.Now()
	return m
}

func (m *cpuMeter) stop() cpuUse {
	busy, total := machineTicks(m.b)
	self := processTicks(m.b, os.Getpid()) - m.self0
	lh := processTicks(m.b, m.pid) - m.linehub0
	// /proc/stat counts every CPU: total ticks are elapsed ticks × CPUs.
	perCPU := float64(total-m.total0) / m.numCPUs
	if perCPU <= 0 {
		return cpuUse{}
	}
	pct := func(t int64) float64 { return 100 * float64(t) / perCPU }
	return cpuUse{linehub: pct(lh), self: pct(self), other: max(0, pct(busy-m.busy0-self-lh))}
}

func (u cpuUse) report(b *testing.B) {
	b.ReportMetric(u.linehub, "linehub-cpu-%")
	b.ReportMetric(u.self, "loadgen+doubles-cpu-%")
	b.ReportMetric(u.other, "other-cpu-%")
}

// machineTicks sums /proc/stat's first line: busy (all but idle and
// iowait) and total clock ticks of all CPUs.
func machineTicks(b *testing.B) (busy, total int64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatalf("read /proc/stat: %v", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest time is already counted in user time
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// processTicks is a process's user+system CPU time in clock ticks.
func processTicks(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("read CPU time of %d: %v", pid, err)
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// After the command name: state is field 3, utime 14, stime 15.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}
