package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/engine"
)

// progressView follows calls as they complete: started once, told of every
// event (from many goroutines), stopped when the calls are over. apply
// chooses one from -json; reads show the live one (or, for apply -json,
// the JSON stream).
type progressView interface {
	start()
	event(ev engine.Event)
	stop()
	// say prints a message (an interruption) without breaking the display.
	say(msg string)
}

// liveProgress shows, per service with calls to make, done/total, the
// current rate, the ETA, failures, retries and back-off waits, on stderr:
// on a terminal, one line per service redrawn in place and never wider than
// the terminal; elsewhere (a file, a pipe, TERM=dumb) one line every few
// seconds. When the calls are over it prints one summary line per service.
type liveProgress struct {
	c    *cli
	w    io.Writer
	term termInfo
	// noun is what is counted: "calls" or "reads".
	noun string
	// now is the clock (tests set their own).
	now   func() time.Time
	every time.Duration

	mu    sync.Mutex
	began time.Time
	names []string // the services with something to do, in registry order
	svcs  map[string]*svcProgress
	drawn int // lines of the live block on the terminal
	quit  chan struct{}
	wg    sync.WaitGroup
}

// svcProgress is one service's progress.
type svcProgress struct {
	total, done, failed int
	// retries counts the retried requests, by reason ("429", "500",
	// "timeout", "connection").
	retries  int
	byReason map[string]int
	reasons  []string // in the order first seen
	// waited sums the back-off waits; waitUntil is when the longest wait
	// now running ends, for the reason waitReason.
	waited     time.Duration
	waitUntil  time.Time
	waitReason string
	// asked is set when the service asked for a longer wait (Retry-After)
	// than reconcile waits (engine.MaxRetryAfter): what it asked.
	asked time.Duration
	// last is when the last call completed.
	last time.Time
	// samples are (time, done) taken at each redraw, for the current rate.
	samples []sample
}

type sample struct {
	at   time.Time
	done int
}

// Intervals of the progress display, and the window of the current rate.
const (
	progressTTY   = 250 * time.Millisecond
	progressLines = 5 * time.Second
	rateWindow    = 5 * time.Second
)

// newLiveProgress shows the progress of totals[provider] calls (or reads)
// per provider on stderr.
func newLiveProgress(c *cli, totals map[string]int, noun string) *liveProgress {
	pg := &liveProgress{c: c, w: c.stderr, term: c.terminalOf(c.stderr), noun: noun, now: time.Now, svcs: map[string]*svcProgress{}, quit: make(chan struct{})}
	for _, name := range c.reg.Names() {
		if totals[name] > 0 {
			pg.names = append(pg.names, name)
			pg.svcs[name] = &svcProgress{total: totals[name], byReason: map[string]int{}}
		}
	}
	pg.every = progressLines
	if pg.term.live() {
		pg.every = progressTTY
	}
	return pg
}

func (pg *liveProgress) start() {
	pg.began = pg.now()
	if len(pg.names) == 0 {
		return
	}
	pg.wg.Go(func() {
		t := time.NewTicker(pg.every)
		defer t.Stop()
		for {
			select {
			case <-pg.quit:
				return
			case <-t.C:
				pg.tick()
			}
		}
	})
}

func (pg *liveProgress) stop() {
	close(pg.quit)
	pg.wg.Wait()
	if len(pg.names) == 0 {
		return
	}
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.clear()
	width := 0
	if pg.term.live() {
		width = pg.term.width()
	}
	var b strings.Builder
	for _, name := range pg.names {
		for _, l := range wrapSegments(pg.summary(name), width) {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	io.WriteString(pg.w, b.String())
}

func (pg *liveProgress) say(msg string) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	pg.clear()
	fmt.Fprintln(pg.w, msg)
	if pg.term.live() {
		pg.draw(pg.now())
	}
}

func (pg *liveProgress) event(ev engine.Event) {
	pg.c.logEvent(ev)
	pg.mu.Lock()
	defer pg.mu.Unlock()
	s := pg.svcs[ev.Provider]
	if s == nil {
		return
	}
	switch ev.Kind {
	case engine.EventCall:
		s.done++
		s.last = ev.Time
	case engine.EventRetry:
		s.retries++
		reason := retryReason(ev.Err)
		if s.byReason[reason] == 0 {
			s.reasons = append(s.reasons, reason)
		}
		s.byReason[reason]++
		s.waited += ev.Wait
		if end := ev.Time.Add(ev.Wait); end.After(s.waitUntil) {
			s.waitUntil, s.waitReason = end, reason
			s.asked = 0
			if ev.RetryAfter > ev.Wait {
				s.asked = ev.RetryAfter
			}
		}
	case engine.EventChange:
		if ev.Item.Status == engine.StatusFailed {
			s.failed++
		}
	}
}

// retryReason names why a request is retried: its HTTP status, or
// "timeout" or "connection" when no answer came.
func retryReason(err error) string {
	var ce *engine.CallError
	if errors.As(err, &ce) {
		if ce.Status != 0 {
			return strconv.Itoa(ce.Status)
		}
		if errors.Is(ce, context.DeadlineExceeded) {
			return "timeout"
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "connection"
}

// tick redraws the live block, or writes a line when not on a terminal.
func (pg *liveProgress) tick() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	now := pg.now()
	if pg.term.live() {
		pg.draw(now)
		return
	}
	var parts []string
	for _, name := range pg.names {
		parts = append(parts, name+" "+fitSegments(pg.segments(name, now), 0))
	}
	fmt.Fprintf(pg.w, "[%s] %s\n", humanDuration(now.Sub(pg.began)), strings.Join(parts, " | "))
}

// draw replaces the live block with one line per service, each fitted to
// the terminal's width (one column short of it, so that no line wraps).
func (pg *liveProgress) draw(now time.Time) {
	lines := pg.lines(now, pg.term.width())
	var b strings.Builder
	pg.clearTo(&b)
	b.WriteString(strings.Join(lines, "\n"))
	pg.drawn = len(lines)
	io.WriteString(pg.w, b.String())
}

// lines renders the live block for a terminal of width columns.
func (pg *liveProgress) lines(now time.Time, width int) []string {
	pad := 0
	for _, name := range pg.names {
		pad = max(pad, len(name))
	}
	out := make([]string, 0, len(pg.names))
	for _, name := range pg.names {
		segs := pg.segments(name, now)
		segs[0] = []string{fmt.Sprintf("%-*s %s", pad, name, segs[0][0])}
		out = append(out, fitSegments(segs, width-1))
	}
	return out
}

// clear erases the live block, leaving the cursor where it began.
func (pg *liveProgress) clear() {
	if pg.drawn == 0 {
		return
	}
	var b strings.Builder
	pg.clearTo(&b)
	pg.drawn = 0
	io.WriteString(pg.w, b.String())
}

// clearTo writes to b what moves the cursor to the start of the live block
// and erases it and everything below.
func (pg *liveProgress) clearTo(b *strings.Builder) {
	if pg.drawn == 0 {
		return
	}
	b.WriteByte('\r')
	if pg.drawn > 1 {
		fmt.Fprintf(b, "\x1b[%dA", pg.drawn-1)
	}
	b.WriteString("\x1b[J")
}

// segments renders a service's live progress, most important first (the
// first is "done/total calls" without the service's name), each segment as
// its variants from the longest to the shortest: what a narrow terminal
// keeps (fitSegments).
func (pg *liveProgress) segments(name string, now time.Time) [][]string {
	s := pg.svcs[name]
	segs := [][]string{{fmt.Sprintf("%d/%d %s", s.done, s.total, pg.noun)}}
	if s.failed > 0 {
		segs = append(segs, []string{fmt.Sprintf("%d failed", s.failed)})
	}
	if s.done >= s.total {
		return append(segs, []string{"done in " + humanDuration(s.last.Sub(pg.began))})
	}
	if wait := s.waitUntil.Sub(now); wait > 0 {
		w := "waiting " + shortDuration(wait) + " after " + reasonText(s.waitReason)
		if s.asked > 0 {
			// The service asked for longer than reconcile waits.
			segs = append(segs, []string{
				fmt.Sprintf("%s (the service asked for %s; capped at %s)", w, shortDuration(s.asked), shortDuration(engine.MaxRetryAfter)),
				fmt.Sprintf("%s (asked %s, capped at %s)", w, shortDuration(s.asked), shortDuration(engine.MaxRetryAfter)),
				w,
			})
		} else {
			segs = append(segs, []string{w})
		}
	}
	rate := s.rate(now, pg.began)
	segs = append(segs, []string{fmt.Sprintf("%.1f/s", rate)})
	if s.retries > 0 {
		segs = append(segs, []string{s.retryText(), plural(s.retries, "retry", "retries")})
	}
	if rate > 0 {
		segs = append(segs, []string{"ETA " + humanDuration(time.Duration(float64(s.total-s.done)/rate*float64(time.Second)))})
	}
	return segs
}

// rate is the service's current rate: the calls completed over the last
// rateWindow (or since the start). It takes a sample.
func (s *svcProgress) rate(now, began time.Time) float64 {
	s.samples = append(s.samples, sample{now, s.done})
	// Keep the newest sample at least rateWindow old, and the ones after it.
	i := 0
	for i+1 < len(s.samples) && now.Sub(s.samples[i+1].at) >= rateWindow {
		i++
	}
	s.samples = s.samples[i:]
	from := sample{began, 0}
	if old := s.samples[0]; now.Sub(old.at) >= rateWindow {
		from = old
	}
	d := now.Sub(from.at).Seconds()
	if d < 0.5 {
		return 0
	}
	return float64(s.done-from.done) / d
}

// retryText says how many requests were retried and why: "3 retries (429
// x2, 500)".
func (s *svcProgress) retryText() string {
	var why []string
	for _, r := range s.reasons {
		if n := s.byReason[r]; n > 1 {
			why = append(why, fmt.Sprintf("%s x%d", r, n))
		} else {
			why = append(why, r)
		}
	}
	return fmt.Sprintf("%s (%s)", plural(s.retries, "retry", "retries"), strings.Join(why, ", "))
}

// summary is a service's line once its calls are over: "bonifiq: 60/60
// calls in 12s (5.0/s)", and its failures, retries and time spent waiting.
func (pg *liveProgress) summary(name string) []string {
	s := pg.svcs[name]
	head := fmt.Sprintf("%s: %d/%d %s", name, s.done, s.total, pg.noun)
	if !s.last.IsZero() {
		// Its rate while it ran: from the start to its last call.
		d := s.last.Sub(pg.began)
		head += " in " + humanDuration(d)
		if d.Seconds() >= 0.5 {
			head += fmt.Sprintf(" (%.1f/s)", float64(s.done)/d.Seconds())
		}
	}
	segs := []string{head}
	if s.failed > 0 {
		segs = append(segs, fmt.Sprintf("%d failed", s.failed))
	}
	if s.retries > 0 {
		segs = append(segs, s.retryText()+", "+shortDuration(s.waited)+" waiting")
	}
	if s.asked > 0 {
		segs = append(segs, fmt.Sprintf("asked to wait %s, capped at %s", shortDuration(s.asked), shortDuration(engine.MaxRetryAfter)))
	}
	return segs
}

// reasonText words a retry reason: "429", "500", "a timeout", "a
// connection error".
func reasonText(r string) string {
	switch r {
	case "timeout":
		return "a timeout"
	case "connection":
		return "a connection error"
	}
	return r
}

// shortDuration renders d for a progress line: "350ms", "1.5s", "2m 5s".
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
	return humanDuration(d)
}

// fitSegments joins segments with ", " in width columns (width <= 0: no
// limit): the first always (cut with "…" if it must be); then, in order,
// each other that fits in its shortest variant; then, in order, each of
// those in the longest variant that still fits.
func fitSegments(segs [][]string, width int) string {
	first := segs[0][0]
	if width <= 0 {
		parts := []string{first}
		for _, v := range segs[1:] {
			parts = append(parts, v[0])
		}
		return strings.Join(parts, ", ")
	}
	first = truncate(first, width)
	used := utf8.RuneCountInString(first)
	chosen := make([]int, len(segs)) // variant index, -1: left out
	for i := 1; i < len(segs); i++ {
		last := len(segs[i]) - 1
		if n := 2 + utf8.RuneCountInString(segs[i][last]); used+n <= width {
			used += n
			chosen[i] = last
		} else {
			chosen[i] = -1
		}
	}
	for i := 1; i < len(segs); i++ {
		for j := 0; chosen[i] > 0 && j < chosen[i]; j++ {
			extra := utf8.RuneCountInString(segs[i][j]) - utf8.RuneCountInString(segs[i][chosen[i]])
			if used+extra <= width {
				used += extra
				chosen[i] = j
			}
		}
	}
	line := first
	for i := 1; i < len(segs); i++ {
		if chosen[i] >= 0 {
			line += ", " + segs[i][chosen[i]]
		}
	}
	return line
}

// wrapSegments joins segs with "; ", breaking the line before a segment
// that would pass width columns (the next line indented by four); a
// segment longer than a line is cut. width <= 0 means no limit.
func wrapSegments(segs []string, width int) []string {
	if width <= 0 {
		return []string{strings.Join(segs, "; ")}
	}
	limit := width - 1
	var out []string
	line := ""
	for _, s := range segs {
		switch {
		case line == "":
			line = s
		case utf8.RuneCountInString(line)+2+utf8.RuneCountInString(s) <= limit:
			line += "; " + s
		default:
			out = append(out, truncate(line, limit))
			line = "    " + s
		}
	}
	return append(out, truncate(line, limit))
}

// truncate cuts s to width columns, ending with "…" when cut.
func truncate(s string, width int) string {
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	if width <= 1 {
		return string([]rune(s)[:max(width, 0)])
	}
	return string([]rune(s)[:width-1]) + "…"
}

// logEvent writes ev to the structured log.
func (c *cli) logEvent(ev engine.Event) {
	l := c.log
	switch ev.Kind {
	case engine.EventCall:
		l.Debug("call done", "provider", ev.Provider, "address", ev.Address, "op", ev.Op)
	case engine.EventRetry:
		l.Info("call retried", "provider", ev.Provider, "address", ev.Address, "op", ev.Op, "attempt", ev.Attempt, "wait", ev.Wait.String(), "asked", ev.RetryAfter.String(), "error", c.redact(ev.Err.Error()))
	case engine.EventChange:
		it := ev.Item
		lv := slog.LevelDebug
		if it.Status == engine.StatusFailed {
			lv = slog.LevelWarn
		}
		l.Log(context.Background(), lv, "change done", "provider", ev.Provider, "address", ev.Address, "action", string(it.Change.Action), "status", string(it.Status), "http_status", it.HTTPStatus, "message", c.redact(it.Message), "calls", it.CallsDone)
	}
}
