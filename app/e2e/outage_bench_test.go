package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"linehub/app/line"
	"linehub/app/line/linetest"
)

// BenchmarkOutageRecovery measures how soon linehub catches up after a
// HubSpot outage: 2,000 follows arrive as HubSpot starts answering every
// request with 503; after LINEHUB_BENCH_OUTAGE (default 30 s) it answers
// again, failing 5 % of requests with 502. The clock runs from the moment
// HubSpot is back until all 2,000 contacts in the double are right.
// docs/benchmarks.md has the command and the results.
func BenchmarkOutageRecovery(b *testing.B) {
	const (
		friends    = 2000
		perRequest = 50
	)
	down := 30 * time.Second
	if v := os.Getenv("LINEHUB_BENCH_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("LINEHUB_BENCH_OUTAGE: %v", err)
		}
		down = d
	}
	e := newEnv(b, benchEnv())
	e.configureHubSpot("starter")
	c := e.connect("Outage Shop")
	loopbackOnly(b, c.WebhookURL)
	prop := func(key string) string { return fmt.Sprintf("%s_%d", key, c.Serial) }
	users := make([]string, friends)
	want := make(map[string]bool, friends)
	for i := range users {
		users[i] = linetest.NewUserID()
		want[users[i]] = true
		e.LINE.AddFriend(c.token, line.Profile{UserID: users[i], DisplayName: fmt.Sprintf("Friend %04d", i)})
	}
	base := time.Now().Add(-time.Minute)
	bodies := buildBodies(friends/perRequest, perRequest, e.LINE.BotUserID(c.token), c.secret, func(i int) json.RawMessage {
		return linetest.FollowEvent(users[i], false, base.Add(time.Duration(i)*time.Millisecond))
	})

	// Requests are counted by the fault, which sees every one: during the
	// outage, and after it (with the 502s among them).
	var (
		mu                     sync.Mutex
		upAt                   time.Time
		duringN, afterN, badGW int
		afterPaths             = map[string]int{}
		duringPaths            = map[string]int{}
		outageBody, badGWBody  = `{"status":"error","message":"Service Unavailable","category":"INTERNAL_ERROR"}`, `<html>502 Bad Gateway</html>`
	)
	e.HS.ResetCounters()
	upAt = time.Now().Add(down)
	e.HS.SetFault(func(r *http.Request) (int, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		key := r.Method + " " + r.URL.Path
		if time.Now().Before(upAt) {
			duringN++
			duringPaths[key]++
			return 503, outageBody, true
		}
		afterN++
		afterPaths[key]++
		if rand.Float64() < 0.05 {
			badGW++
			return 502, badGWBody, true
		}
		return 0, "", false
	})

	list := func(m map[string]int) string {
		var out []string
		for p, n := range m {
			out = append(out, fmt.Sprintf("%s=%d", p, n))
		}
		slices.Sort(out)
		return strings.Join(out, " ")
	}
	b.ResetTimer()
	if res := sendAll(c.WebhookURL, bodies, 4, 0); len(res.failures) > 0 {
		b.Fatalf("%d webhook requests not acknowledged, e.g. %v", len(res.failures), res.failures[:min(5, len(res.failures))])
	}
	// Correct: one contact per friend, following, with its name.
	correct := func() int {
		n := 0
		for _, ct := range e.HS.Contacts() {
			if want[ct.Properties[prop("line_user_id")]] && ct.Properties[prop("line_follow")] == "Yes" &&
				ct.Properties[prop("line_user_name")] != "" {
				n++
			}
		}
		return n
	}
	deadline := upAt.Add(5 * time.Minute)
	for correct() < friends {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d contacts right 5 minutes after HubSpot came back", correct(), friends)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovered := time.Since(upAt)
	b.StopTimer()
	// The figures at the moment all were right, not what came after.
	mu.Lock()
	during, after, after502 := duringN, afterN, badGW
	paths := fmt.Sprintf("during the outage %d (%s), after it %d (%s)", duringN, list(duringPaths), afterN, list(afterPaths))
	mu.Unlock()
	if n := len(e.HS.Contacts()); n != friends {
		b.Fatalf("%d contacts for %d friends", n, friends)
	}
	b.Logf("outage %s; all %d contacts right %.2fs after HubSpot was back; requests %s; 502s %d, 429s %d",
		down, friends, recovered.Seconds(), paths, after502, e.HS.RateLimited())
	b.ReportMetric(recovered.Seconds(), "recovery-s")
	b.ReportMetric(float64(during), "req-during")
	b.ReportMetric(float64(after), "req-after")
	b.ReportMetric(float64(during+after), "req-total")
	b.ReportMetric(float64(e.HS.RateLimited()), "hs-429s")
}
