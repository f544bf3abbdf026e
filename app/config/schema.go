package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// envPrefix starts every variable that maps to a key.
const envPrefix = "LINEHUB_"

// envNotKeys are LINEHUB_* variables with a meaning of their own.
var envNotKeys = []string{"LINEHUB_CONFIG"}

type fieldKind int

const (
	kindSection fieldKind = iota
	kindString
	kindInt
	kindBool
	kindDuration
)

// field is one node of the key tree derived from Config's yaml tags. The
// YAML decoder and the environment both set values through it, so the two
// sources accept exactly the same keys and spellings.
type field struct {
	key      string // dotted YAML key, e.g. "hubspot.tier"; "" for the root
	name     string // last element of key
	env      string // e.g. "LINEHUB_HUBSPOT_TIER"; leaves only
	index    []int  // reflect field index from Config
	kind     fieldKind
	children []*field // sections only, in declaration order
}

var durationType = reflect.TypeFor[time.Duration]()

// schema is built once; a Config field of an unsupported type panics here,
// which every test run hits, rather than being silently unconfigurable.
var schema = sync.OnceValue(func() *field {
	return buildSection(reflect.TypeFor[Config](), &field{})
})

func buildSection(t reflect.Type, sec *field) *field {
	sec.kind = kindSection
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag, ok := sf.Tag.Lookup("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if !ok || name == "" {
			panic(fmt.Sprintf("config: field %s.%s has no yaml key", t.Name(), sf.Name))
		}
		f := &field{
			key:   joinKey(sec.key, name),
			name:  name,
			index: append(slices.Clone(sec.index), i),
		}
		switch {
		case sf.Type == durationType:
			f.kind = kindDuration
		case sf.Type.Kind() == reflect.Struct:
			buildSection(sf.Type, f)
		case sf.Type.Kind() == reflect.String:
			f.kind = kindString
		case sf.Type.Kind() == reflect.Bool:
			f.kind = kindBool
		case sf.Type.Kind() >= reflect.Int && sf.Type.Kind() <= reflect.Int64:
			f.kind = kindInt
		default:
			panic(fmt.Sprintf("config: field %s.%s has unsupported type %s", t.Name(), sf.Name, sf.Type))
		}
		if f.kind != kindSection {
			f.env = envPrefix + strings.ToUpper(strings.ReplaceAll(f.key, ".", "_"))
		}
		sec.children = append(sec.children, f)
	}
	return sec
}

func joinKey(section, name string) string {
	if section == "" {
		return name
	}
	return section + "." + name
}

func (f *field) child(name string) *field {
	for _, c := range f.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

// leaves lists every settable key in declaration order.
func (f *field) leaves() []*field {
	if f.kind != kindSection {
		return []*field{f}
	}
	var out []*field
	for _, c := range f.children {
		out = append(out, c.leaves()...)
	}
	return out
}

// set parses raw for f's type and stores it in c. Surrounding blanks are
// dropped because no value means anything with them, and a token pasted
// with a trailing newline would otherwise fail authentication obscurely.
func (f *field) set(c *Config, raw string) error {
	s := strings.TrimSpace(raw)
	v := reflect.ValueOf(c).Elem().FieldByIndex(f.index)
	switch f.kind {
	case kindString:
		v.SetString(s)
	case kindInt:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%s is not a whole number in range", show(raw))
		}
		v.SetInt(n)
	case kindBool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%s is not true or false", show(raw))
		}
		v.SetBool(b)
	case kindDuration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s is not a duration such as 500ms, 1s, 5m or 24h", show(raw))
		}
		v.SetInt(int64(d))
	default:
		return errors.New("is a section, not a single value")
	}
	return nil
}

// origin records where a key's effective value came from, so errors can
// point at the line or variable to fix.
type origin struct {
	file      string
	line      int    // set from the file at this line
	fileValue string // what the file said, kept when env overrides: a secret in the file leaks either way
	env       string // overridden by this variable
}

func (o origin) errorf(key, msg string) error {
	switch {
	case o.env != "":
		return fmt.Errorf("%s: %s (from %s)", key, msg, o.env)
	case o.line > 0:
		return fmt.Errorf("%s:%d: %s: %s", o.file, o.line, key, msg)
	}
	return fmt.Errorf("%s: %s", key, msg)
}

// decodeYAML applies the file's values to c. It walks yaml.Node itself
// instead of using Decoder.KnownFields so every problem names the dotted
// key and its line, including values yaml.v3 would reject with only a Go
// type name, and so all of them are reported in one pass. The returned
// error is for unparseable YAML, where no per-key report is possible.
func decodeYAML(name string, data []byte, c *Config, origins map[string]origin) ([]error, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty or comments only
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return nil, fmt.Errorf("%s:%d: only one YAML document is allowed", name, extra.Line)
	}
	d := &yamlDecoder{file: name, cfg: c, origins: origins}
	if len(doc.Content) > 0 {
		d.section(schema(), doc.Content[0])
	}
	return d.errs, nil
}

type yamlDecoder struct {
	file    string
	cfg     *Config
	origins map[string]origin
	errs    []error
}

func (d *yamlDecoder) fail(line int, format string, args ...any) {
	d.errs = append(d.errs, fmt.Errorf("%s:%d: %s", d.file, line, fmt.Sprintf(format, args...)))
}

// resolve follows aliases; the bound is a guard, yaml.v3 already rejects
// self-containing anchors.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// isNull is "key:" with no value, or null/~: the key keeps its default,
// which is how a commented-out value in a template reads.
func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	}
	return "an unresolved alias"
}

func (d *yamlDecoder) section(sec *field, n *yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		what := sec.key
		if what == "" {
			what = "the top level"
		}
		d.fail(n.Line, "%s must be a mapping of keys, not %s", what, describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			d.fail(n.Content[i].Line, "keys must be plain names, not %s", describe(n.Content[i]))
			continue
		}
		key := joinKey(sec.key, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.fail(k.Line, "%s is set twice (first on line %d)", show(key), first)
			continue
		}
		seen[k.Value] = k.Line
		f := sec.child(k.Value)
		if f == nil {
			d.fail(k.Line, "unknown key %s%s", show(key), suggestKey(sec, k.Value))
			continue
		}
		if f.kind == kindSection {
			d.section(f, v)
		} else {
			d.leaf(f, v)
		}
	}
}

func (d *yamlDecoder) leaf(f *field, n *yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, "%s: must be a single value, not %s", f.key, describe(n))
		return
	}
	if err := f.set(d.cfg, n.Value); err != nil {
		d.fail(n.Line, "%s: %v", f.key, err)
		return
	}
	d.origins[f.key] = origin{file: d.file, line: n.Line, fileValue: strings.TrimSpace(n.Value)}
}

// applyEnv applies LINEHUB_<SECTION>_<KEY> variables. Empty values count as
// unset (as most shells' ${VAR:-default} and Viper do), so an
// EnvironmentFile template with blank entries leaves the file's values alone.
// Unknown LINEHUB_* names become warnings: a typo must not vanish silently.
func applyEnv(c *Config, environ []string, origins map[string]origin) (errs []error, warnings []string) {
	byEnv := map[string]*field{}
	for _, f := range schema().leaves() {
		byEnv[f.env] = f
	}
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || slices.Contains(envNotKeys, name) {
			continue
		}
		f := byEnv[name]
		if f == nil {
			warnings = append(warnings, fmt.Sprintf("environment variable %s is not a linehub setting and was ignored%s", show(name), suggestEnv(name)))
			continue
		}
		if value == "" {
			continue
		}
		o := origins[f.key]
		o.env = name
		if err := f.set(c, value); err != nil {
			errs = append(errs, o.errorf(f.key, err.Error()))
			continue
		}
		origins[f.key] = o
	}
	return errs, warnings
}

// suggestKey offers the closest sibling key, or the same name in another
// section (a top-level "token:" most likely meant hubspot.token).
func suggestKey(sec *field, name string) string {
	var siblings []string
	for _, c := range sec.children {
		siblings = append(siblings, c.name)
	}
	if s := closest(name, siblings); s != "" {
		return fmt.Sprintf(" (did you mean %s?)", show(joinKey(sec.key, s)))
	}
	for _, f := range schema().leaves() {
		if f.name == name {
			return fmt.Sprintf(" (did you mean %s?)", show(f.key))
		}
	}
	return ""
}

func suggestEnv(name string) string {
	var names []string
	for _, f := range schema().leaves() {
		names = append(names, f.env)
	}
	names = append(names, envNotKeys...)
	if s := closest(name, names); s != "" {
		return " (did you mean " + s + "?)"
	}
	return ""
}

// closest returns the candidate within a small edit distance of s, or "".
func closest(s string, candidates []string) string {
	if len(s) > 64 {
		return "" // not a typo of any key; spare the quadratic distance
	}
	best, bestDist := "", 3 // up to two edits
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance over bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// show quotes a user-supplied value for a message, shortened so that a
// secret pasted into the wrong key, or a huge value, does not fill the log.
func show(s string) string {
	const limit = 40
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "…"
	}
	return strconv.Quote(s)
}
