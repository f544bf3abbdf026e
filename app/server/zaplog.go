package server

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"linehub/app/metrics"
)

// newZapLogger routes certmagic's zap logs into linehub's slog logger, so
// certificate problems show up in the same log, level and format as
// everything else.
func newZapLogger(log *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{log: log})
}

type slogCore struct {
	log    *slog.Logger
	fields []zapcore.Field
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	}
	return slog.LevelError
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.log.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fs []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, fields: append(slices.Clone(c.fields), fs...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fs {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	name := "certmagic"
	if e.LoggerName != "" {
		name += "." + strings.TrimPrefix(e.LoggerName, ".")
	}
	attrs := make([]any, 0, 2+2*len(keys))
	attrs = append(attrs, "component", name)
	for _, k := range keys {
		attrs = append(attrs, k, enc.Fields[k])
	}
	c.log.Log(context.Background(), slogLevel(e.Level), e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// certEvent counts certmagic's events; the details are already in its log.
func certEvent(log *slog.Logger, event string, data map[string]any) {
	switch event {
	case "cert_obtained", "cert_failed", "cert_obtaining", "cert_ocsp_revoked":
		metrics.CertificateEvents.Inc(event)
	}
	if event == "cert_obtained" {
		log.Info("certificate obtained", "identifier", data["identifier"], "renewal", data["renewal"])
	}
}
