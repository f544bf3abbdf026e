// Package metrics keeps linehub's counters and writes them in the
// Prometheus text exposition format (version 0.0.4). It is hand-written
// rather than client_golang: linehub needs a few labelled counters and
// gauges read at scrape time, which is a page of code, not a dependency
// tree.
package metrics

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ContentType is the media type of WriteTo's output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Registry holds counter families in registration order, then gauges
// that are read when scraped.
type Registry struct {
	mu       sync.Mutex
	counters []*CounterVec
	gauges   []*gaugeFunc
}

type gaugeFunc struct {
	name, help string
	read       func() []Sample
}

// SetGaugeFunc registers (or replaces, when the name is taken) a gauge
// family whose samples read returns at each scrape; read may return none.
func (r *Registry) SetGaugeFunc(name, help string, read func() []Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.gauges {
		if g.name == name {
			g.help, g.read = help, read
			return
		}
	}
	r.gauges = append(r.gauges, &gaugeFunc{name: name, help: help, read: read})
}

// CounterVec is a counter family with fixed label names.
type CounterVec struct {
	name, help string
	labels     []string

	mu     sync.RWMutex
	values map[string]*counter // by label values joined with \xff
}

type counter struct {
	labels []string
	n      atomic.Uint64
}

// Counter registers a counter family. Names must be unique; a duplicate
// is a programming error and panics at start-up.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.counters {
		if c.name == name {
			panic("metrics: duplicate counter " + name)
		}
	}
	c := &CounterVec{name: name, help: help, labels: labels, values: map[string]*counter{}}
	r.counters = append(r.counters, c)
	return c
}

// Inc adds one to the series with these label values (one per label name;
// missing ones are empty).
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

// Add adds n to the series with these label values.
func (c *CounterVec) Add(n uint64, values ...string) {
	key := strings.Join(values, "\xff")
	c.mu.RLock()
	v := c.values[key]
	c.mu.RUnlock()
	if v == nil {
		c.mu.Lock()
		if v = c.values[key]; v == nil {
			lv := make([]string, len(c.labels))
			copy(lv, values)
			v = &counter{labels: lv}
			c.values[key] = v
		}
		c.mu.Unlock()
	}
	v.n.Add(n)
}

// Value returns the current count of one series (for tests and status).
func (c *CounterVec) Value(values ...string) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v := c.values[strings.Join(values, "\xff")]; v != nil {
		return v.n.Load()
	}
	return 0
}

// WriteTo writes every family, series sorted by label values so that the
// output is stable.
func (r *Registry) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	cs := slices.Clone(r.counters)
	gs := make([]gaugeFunc, len(r.gauges))
	for i, g := range r.gauges {
		gs[i] = *g
	}
	r.mu.Unlock()
	var b strings.Builder
	for _, c := range cs {
		c.mu.RLock()
		series := make([]Sample, 0, len(c.values))
		for _, v := range c.values {
			series = append(series, Sample{Labels: pairs(c.labels, v.labels), Value: float64(v.n.Load())})
		}
		c.mu.RUnlock()
		slices.SortFunc(series, func(a, b Sample) int { return strings.Compare(labelString(a.Labels), labelString(b.Labels)) })
		writeFamily(&b, c.name, c.help, "counter", series)
	}
	for _, g := range gs {
		writeFamily(&b, g.name, g.help, "gauge", g.read())
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// Label is one name="value" pair.
type Label struct{ Name, Value string }

// Sample is one series of a family.
type Sample struct {
	Labels []Label
	Value  float64
}

func pairs(names, values []string) []Label {
	ls := make([]Label, len(names))
	for i := range names {
		ls[i] = Label{names[i], values[i]}
	}
	return ls
}

// WriteGauge writes a gauge family whose values were read just now (inbox
// depth, backlog): these live in the database, not in a counter.
func WriteGauge(w io.Writer, name, help string, samples ...Sample) error {
	var b strings.Builder
	writeFamily(&b, name, help, "gauge", samples)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFamily(b *strings.Builder, name, help, typ string, samples []Sample) {
	fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
	for _, s := range samples {
		b.WriteString(name)
		b.WriteString(labelString(s.Labels))
		b.WriteByte(' ')
		b.WriteString(formatValue(s.Value))
		b.WriteByte('\n')
	}
}

func labelString(ls []Label) string {
	if len(ls) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l.Name)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(l.Value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	// Plain digits for counts and Unix times: easier to read than 1.8e+09.
	if math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
