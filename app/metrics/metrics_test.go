package metrics

import (
	"strings"
	"testing"
)

func TestExposition(t *testing.T) {
	r := &Registry{}
	c := r.Counter("x_requests_total", "Requests by path.\nSecond line \\ here.", "path", "status")
	c.Inc("/b", "200")
	c.Add(2, "/a", "500")
	c.Inc("/a", "500")
	c.Inc(`we"ird`+"\n", "1")
	r.Counter("y_total", "Unused.")
	r.SetGaugeFunc("g_old", "Replaced.", func() []Sample { return nil })
	r.SetGaugeFunc("g_old", "Read at scrape.", func() []Sample { return []Sample{{Value: 7}} })

	var b strings.Builder
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if err := WriteGauge(&b, "z_depth", "Depth.", Sample{Value: 1.5}, Sample{Labels: []Label{{"k", "v"}}, Value: 2}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP x_requests_total Requests by path.\nSecond line \\ here.
# TYPE x_requests_total counter
x_requests_total{path="/a",status="500"} 3
x_requests_total{path="/b",status="200"} 1
x_requests_total{path="we\"ird\n",status="1"} 1
# HELP y_total Unused.
# TYPE y_total counter
# HELP g_old Read at scrape.
# TYPE g_old gauge
g_old 7
# HELP z_depth Depth.
# TYPE z_depth gauge
z_depth 1.5
z_depth{k="v"} 2
`
	if got := b.String(); got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
	if got := c.Value("/a", "500"); got != 3 {
		t.Errorf("Value = %d", got)
	}
}

func TestDuplicateCounterPanics(t *testing.T) {
	r := &Registry{}
	r.Counter("a_total", "A.")
	defer func() {
		if recover() == nil {
			t.Error("second registration of a_total did not panic")
		}
	}()
	r.Counter("a_total", "A again.")
}

func TestLabelValues(t *testing.T) {
	for in, want := range map[string]string{"follow": "follow", "memberJoined": "memberJoined", "x-evil": "other", "": "other"} {
		if got := EventType(in); got != want {
			t.Errorf("EventType(%q) = %q, want %q", in, got, want)
		}
	}
	if Status(0) != "error" || Status(429) != "429" {
		t.Errorf("Status: %q %q", Status(0), Status(429))
	}
}
