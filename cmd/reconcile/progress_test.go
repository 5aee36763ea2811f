package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// screen is a small terminal emulator: enough of one (text with automatic
// wrapping at its width, CR, LF, cursor up, erase below, erase line) to
// see what a user of a terminal of that width sees.
type screen struct {
	width   int
	rows    [][]rune
	r, c    int
	wrapped bool // a line passed the width and wrapped
}

func (s *screen) Write(b []byte) (int, error) {
	text := string(b)
	for i := 0; i < len(text); {
		if text[i] == 0x1b && i+1 < len(text) && text[i+1] == '[' {
			j := i + 2
			for j < len(text) && (text[j] >= '0' && text[j] <= '9' || text[j] == ';') {
				j++
			}
			n, err := strconv.Atoi(text[i+2 : j])
			if err != nil {
				n = -1
			}
			switch text[j] {
			case 'A':
				s.r -= max(n, 1)
				s.r = max(s.r, 0)
			case 'J':
				s.row()
				s.rows[s.r] = s.rows[s.r][:min(s.c, len(s.rows[s.r]))]
				s.rows = s.rows[:s.r+1]
			case 'K':
				s.row()
				if n == 2 {
					s.rows[s.r] = nil
				} else {
					s.rows[s.r] = s.rows[s.r][:min(s.c, len(s.rows[s.r]))]
				}
			case 'm': // colour
			default:
				panic(fmt.Sprintf("screen: unknown escape %q", text[i:j+1]))
			}
			i = j + 1
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch r {
		case '\r':
			s.c = 0
		case '\n': // a terminal's output processing makes it CR LF
			s.r++
			s.c = 0
		default:
			if s.c >= s.width {
				s.wrapped = true
				s.r++
				s.c = 0
			}
			s.row()
			for len(s.rows[s.r]) <= s.c {
				s.rows[s.r] = append(s.rows[s.r], ' ')
			}
			s.rows[s.r][s.c] = r
			s.c++
		}
	}
	return len(b), nil
}

// row makes sure the cursor's row exists.
func (s *screen) row() {
	for len(s.rows) <= s.r {
		s.rows = append(s.rows, nil)
	}
}

// lines is what the screen shows, without trailing blanks.
func (s *screen) lines() []string {
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// fakeTerminal makes w a terminal of width columns for c.
func fakeTerminal(c *cli, w io.Writer, width int) {
	c.fakeTerm = func(x io.Writer) (termInfo, bool) {
		if x != w {
			return termInfo{}, false
		}
		return termInfo{tty: true, width: func() int { return width }}, true
	}
}

// clock is a fake time that the test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// TestProgressFitsTheTerminal follows an apply of three services, with
// retries, a Retry-After longer than reconcile waits, back-off waits and a
// failure, on terminals 60, 80 and 200 columns wide: every redraw replaces
// the block (no stale copies), no line ever reaches the width (none
// wraps), and the retries and waits are shown, with the current rate; the
// end leaves one summary line per service.
func TestProgressFitsTheTerminal(t *testing.T) {
	for _, width := range []int{60, 80, 200} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			scr := &screen{width: width}
			c := &cli{reg: registry.Default(), stderr: scr, stdout: io.Discard, getenv: func(string) string { return "" }}
			c.log = discardLogger()
			fakeTerminal(c, scr, width)
			fmt.Fprintln(scr, "Plan: 3 to create.") // what came before stays
			clk := &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
			pg := newLiveProgress(c, map[string]int{"bonifiq": 120, "invisiblecollector": 40, "tomticket": 30}, "calls")
			if !pg.term.live() || pg.every != progressTTY {
				t.Fatalf("a fake terminal is not taken for one")
			}
			pg.now = clk.Now
			pg.began = clk.Now()

			call := func(prov string, n int) {
				for range n {
					pg.event(engine.Event{Kind: engine.EventCall, Provider: prov, Time: clk.Now()})
				}
			}
			retry := func(prov string, status int, wait, asked time.Duration) {
				pg.event(engine.Event{Kind: engine.EventRetry, Provider: prov, Address: prov + "/7", Op: "upsert", Attempt: 1, Time: clk.Now(),
					Wait: wait, RetryAfter: asked, Err: &engine.CallError{Provider: prov, Op: "upsert", ID: "7", Status: status, Retryable: true}})
			}
			check := func(when string) []string {
				t.Helper()
				pg.tick()
				want := pg.lines(clk.Now(), width)
				got := scr.lines()
				if scr.wrapped {
					t.Fatalf("%s: a line wrapped on a %d-column terminal:\n%s", when, width, strings.Join(got, "\n"))
				}
				if len(got) != 1+len(want) || got[0] != "Plan: 3 to create." || strings.Join(got[1:], "\n") != strings.Join(want, "\n") {
					t.Fatalf("%s: the screen shows\n%s\nwant the line before and the live block\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				for _, l := range got {
					if n := utf8.RuneCountInString(l); n >= width {
						t.Errorf("%s: %d columns on a %d-column terminal: %q", when, n, width, l)
					}
				}
				return got[1:]
			}

			for range 10 {
				clk.add(500 * time.Millisecond)
				call("bonifiq", 2)
				call("invisiblecollector", 1)
				call("tomticket", 1)
				check("running")
			}
			// BonifiQ answers 429s: one asks for 5 minutes (reconcile waits
			// engine.MaxRetryAfter), one for nothing (the back-off's 1.5s).
			retry("bonifiq", 429, time.Minute, 5*time.Minute)
			retry("bonifiq", 500, 1500*time.Millisecond, 0)
			retry("tomticket", 0, 800*time.Millisecond, 0)
			pg.event(engine.Event{Kind: engine.EventChange, Provider: "tomticket", Item: &engine.Item{Change: &engine.Change{Address: "tomticket/9"}, Status: engine.StatusFailed}})
			clk.add(200 * time.Millisecond)
			lines := check("retrying")
			bonifiq, tomticket := lines[0], lines[2]
			if !strings.HasPrefix(bonifiq, "bonifiq            20/120 calls") || !strings.HasPrefix(tomticket, "tomticket          10/30 calls") {
				t.Errorf("the lines do not start with the service and its count:\n%s", strings.Join(lines, "\n"))
			}
			if !strings.Contains(bonifiq, ", waiting 1m after 429") {
				t.Errorf("the wait is not shown at %d columns: %q", width, bonifiq)
			}
			if width >= 80 && !strings.Contains(bonifiq, "3.8/s") {
				t.Errorf("the rate is not shown at %d columns: %q", width, bonifiq)
			}
			if width >= 200 {
				for _, want := range []string{"waiting 1m after 429 (the service asked for 5m; capped at 1m)", "3.8/s", "2 retries (429, 500)", "ETA 26s"} {
					if !strings.Contains(bonifiq, want) {
						t.Errorf("%q not in %q", want, bonifiq)
					}
				}
				for _, want := range []string{"1 failed", "1 retry (connection)"} {
					if !strings.Contains(tomticket, want) {
						t.Errorf("%q not in %q", want, tomticket)
					}
				}
			}
			// The current rate: the last 5 seconds, not the whole run.
			// BonifiQ waits 4 seconds, then runs at 5/s for 5 seconds.
			clk.add(4 * time.Second)
			check("stalled")
			for range 10 {
				clk.add(500 * time.Millisecond)
				call("bonifiq", 2)
				call("invisiblecollector", 3)
				check("resumed")
			}
			if l := check("resumed")[0]; width >= 80 && !strings.Contains(l, "4.0/s") {
				// 20 calls in the last 5 s
				t.Errorf("the current rate is not the last seconds': %q", l)
			}
			clk.add(time.Second)
			if l := check("invisiblecollector done")[1]; !strings.Contains(l, "40/40 calls, done in 15s") {
				t.Errorf("a finished service: %q", l)
			}

			pg.stop()
			got := scr.lines()
			final := strings.Join(got[1:], "\n")
			if scr.wrapped {
				t.Errorf("a summary line wrapped:\n%s", final)
			}
			for _, l := range got {
				if utf8.RuneCountInString(l) >= width {
					t.Errorf("summary line of %d columns on a %d-column terminal: %q", utf8.RuneCountInString(l), width, l)
				}
			}
			for _, want := range []string{
				"bonifiq: 40/120 calls in 15s (2.8/s)",
				"2 retries (429, 500), 1m 2s waiting",
				"asked to wait 5m, capped at 1m",
				"invisiblecollector: 40/40 calls in 15s (2.8/s)",
				"tomticket: 10/30 calls in 5s (2.0/s)",
				"1 failed",
				"1 retry (connection), 800ms waiting",
			} {
				if !strings.Contains(strings.ReplaceAll(final, "\n    ", "; "), want) {
					t.Errorf("the summary lacks %q:\n%s", want, final)
				}
			}
		})
	}
}

// TestProgressWithoutTerminal: in a file or a pipe (and on TERM=dumb), a
// line now and then, no escape sequences, and the summary lines.
func TestProgressWithoutTerminal(t *testing.T) {
	for _, tc := range []struct {
		name string
		term bool
	}{{"file", false}, {"dumb terminal", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := &cli{reg: registry.Default(), stderr: &buf, stdout: io.Discard, getenv: func(k string) string {
				if k == "TERM" {
					return "dumb"
				}
				return ""
			}}
			c.log = discardLogger()
			if tc.term {
				c.fakeTerm = func(io.Writer) (termInfo, bool) {
					return termInfo{tty: true, dumb: true, width: func() int { return 80 }}, true
				}
			}
			if c.color(&buf) {
				t.Errorf("colour on a %s", tc.name)
			}
			clk := &clock{now: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)}
			pg := newLiveProgress(c, map[string]int{"bonifiq": 10}, "reads")
			pg.now, pg.began = clk.Now, clk.Now()
			if pg.every != progressLines {
				t.Errorf("interval %v, want %v", pg.every, progressLines)
			}
			for range 10 {
				clk.add(time.Second)
				pg.event(engine.Event{Kind: engine.EventCall, Provider: "bonifiq", Time: clk.Now()})
			}
			pg.tick()
			pg.stop()
			want := "[10s] bonifiq 10/10 reads, done in 10s\nbonifiq: 10/10 reads in 10s (1.0/s)\n"
			if buf.String() != want {
				t.Errorf("got\n%q\nwant\n%q", buf.String(), want)
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestTerminalDetection: /dev/null is a character device, not a terminal.
func TestTerminalDetection(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	c := &cli{getenv: func(string) string { return "" }}
	if c.terminalOf(null).tty || c.color(null) {
		t.Errorf("%s is taken for a terminal", os.DevNull)
	}
}
