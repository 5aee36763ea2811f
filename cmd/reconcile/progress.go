package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// progressView follows calls as they complete: started once, told of every
// event (from many goroutines), stopped when the calls are over. apply
// chooses one from -json; reads always show the live one.
type progressView interface {
	start()
	event(ev engine.Event)
	stop()
}

// liveProgress shows, per service with calls to make, done/total, rate and
// ETA on stderr: a line redrawn on a terminal, a line every few seconds
// otherwise.
type liveProgress struct {
	c      *cli
	tty    bool
	mu     sync.Mutex
	began  time.Time
	totals map[string]int
	done   map[string]int
	fails  map[string]int
	quit   chan struct{}
	wg     sync.WaitGroup
}

// Intervals of the progress display.
const (
	progressTTY   = 250 * time.Millisecond
	progressLines = 5 * time.Second
)

// newLiveProgress shows the progress of totals[provider] calls per provider.
func newLiveProgress(c *cli, totals map[string]int) *liveProgress {
	return &liveProgress{c: c, tty: isTerminal(c.stderr), totals: totals, done: map[string]int{}, fails: map[string]int{}, quit: make(chan struct{})}
}

func (pg *liveProgress) start() {
	pg.began = time.Now()
	every := progressLines
	if pg.tty {
		every = progressTTY
	}
	pg.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-pg.quit:
				return
			case <-t.C:
				pg.print(false)
			}
		}
	})
}

func (pg *liveProgress) stop() {
	close(pg.quit)
	pg.wg.Wait()
	pg.print(true)
}

func (pg *liveProgress) event(ev engine.Event) {
	pg.c.logEvent(ev)
	pg.mu.Lock()
	defer pg.mu.Unlock()
	switch ev.Kind {
	case engine.EventCall:
		pg.done[ev.Provider]++
	case engine.EventChange:
		if ev.Item.Status == engine.StatusFailed {
			pg.fails[ev.Provider]++
		}
	}
}

// print writes the progress of every provider with calls to make.
func (pg *liveProgress) print(final bool) {
	if final && !pg.tty {
		return
	}
	pg.mu.Lock()
	elapsed := time.Since(pg.began)
	var parts []string
	for _, name := range pg.c.reg.Names() {
		total := pg.totals[name]
		if total == 0 {
			continue
		}
		done := pg.done[name]
		rate := float64(done) / max(elapsed.Seconds(), 1e-3)
		eta := "—"
		if done >= total {
			eta = "done"
		} else if rate > 0 {
			eta = "ETA " + humanDuration(time.Duration(float64(total-done)/rate*float64(time.Second)))
		}
		s := fmt.Sprintf("%s %d/%d calls (%.1f/s, %s)", name, done, total, rate, eta)
		if f := pg.fails[name]; f > 0 {
			s += fmt.Sprintf(", %d failed", f)
		}
		parts = append(parts, s)
	}
	pg.mu.Unlock()
	line := strings.Join(parts, " | ")
	w := pg.c.stderr
	if pg.tty {
		fmt.Fprintf(w, "\r\x1b[2K%s", line)
		if final {
			fmt.Fprintln(w)
		}
		return
	}
	fmt.Fprintf(w, "[%s] %s\n", humanDuration(elapsed), line)
}

// jsonProgress writes one JSON event per line on stdout (apply -json).
type jsonProgress struct {
	c   *cli
	mu  sync.Mutex
	enc *json.Encoder
}

func newJSONProgress(c *cli) *jsonProgress {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	return &jsonProgress{c: c, enc: enc}
}

func (pg *jsonProgress) start() {}
func (pg *jsonProgress) stop()  {}

// eventDoc is one -json event line.
type eventDoc struct {
	Type       string  `json:"type"`
	Time       string  `json:"time"`
	Provider   string  `json:"provider,omitempty"`
	Address    string  `json:"address,omitempty"`
	Op         string  `json:"op,omitempty"`
	Attempt    int     `json:"attempt,omitempty"`
	WaitSecs   float64 `json:"wait_seconds,omitempty"`
	Status     string  `json:"status,omitempty"`
	HTTPStatus int     `json:"http_status,omitempty"`
	Message    string  `json:"message,omitempty"`
	Source     string  `json:"source,omitempty"`
}

func (pg *jsonProgress) event(ev engine.Event) {
	pg.c.logEvent(ev)
	doc := eventDoc{Type: string(ev.Kind), Time: ev.Time.UTC().Format(time.RFC3339Nano), Provider: ev.Provider, Address: ev.Address, Op: ev.Op, Attempt: ev.Attempt, WaitSecs: ev.Wait.Seconds()}
	if ev.Err != nil {
		doc.Message = pg.c.redact(ev.Err.Error())
	}
	if it := ev.Item; it != nil {
		doc.Status, doc.HTTPStatus, doc.Source = string(it.Status), it.HTTPStatus, it.Change.Source
		if it.Message != "" {
			doc.Message = pg.c.redact(it.Message)
		}
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	_ = pg.enc.Encode(doc)
}

// logEvent writes ev to the structured log.
func (c *cli) logEvent(ev engine.Event) {
	l := c.log
	switch ev.Kind {
	case engine.EventCall:
		l.Debug("call done", "provider", ev.Provider, "address", ev.Address, "op", ev.Op)
	case engine.EventRetry:
		l.Info("call retried", "provider", ev.Provider, "address", ev.Address, "op", ev.Op, "attempt", ev.Attempt, "wait", ev.Wait.String(), "error", c.redact(ev.Err.Error()))
	case engine.EventChange:
		it := ev.Item
		lv := slog.LevelDebug
		if it.Status == engine.StatusFailed {
			lv = slog.LevelWarn
		}
		l.Log(context.Background(), lv, "change done", "provider", ev.Provider, "address", ev.Address, "action", string(it.Change.Action), "status", string(it.Status), "http_status", it.HTTPStatus, "message", c.redact(it.Message), "calls", it.CallsDone)
	}
}
