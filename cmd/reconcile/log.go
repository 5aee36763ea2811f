package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// setupLog builds the logger RECONCILE_LOG asks for: structured JSON lines
// on stderr, or appended to RECONCILE_LOG_PATH. Unset, nothing is logged.
// Log lines carry addresses, operations, statuses and errors; never a
// credential or an Authorization header (the providers never put those in
// errors, and nothing else logs request headers).
func (c *cli) setupLog() (*slog.Logger, func(), error) {
	level := strings.ToLower(strings.TrimSpace(c.getenv("RECONCILE_LOG")))
	if level == "" || level == "off" {
		return slog.New(slog.DiscardHandler), func() {}, nil
	}
	var lv slog.Level
	switch level {
	case "debug", "trace":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, nil, fmt.Errorf("RECONCILE_LOG=%q: want debug, info, warn or error", level)
	}
	var w io.Writer = c.stderr
	closeFn := func() {}
	if path := c.getenv("RECONCILE_LOG_PATH"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return nil, nil, fmt.Errorf("RECONCILE_LOG_PATH: %w", err)
		}
		w = f
		closeFn = func() { f.Close() }
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), closeFn, nil
}
