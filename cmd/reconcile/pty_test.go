//go:build linux

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// openPTY opens a pseudo-terminal of cols columns and returns its two
// ends: what the program writes to (a real terminal for golang.org/x/term)
// and what the test reads the output from.
func openPTY(t *testing.T, cols int) (term, master *os.File) {
	t.Helper()
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	term, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(term.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	return term, master
}

// TestProgressOnARealTerminal applies to a sandbox that fails a third of
// the requests (429, 500, dropped connections), with stderr on a
// pseudo-terminal of 60 columns: reconcile finds the terminal and its
// width itself (golang.org/x/term), never writes a line that wraps, and
// shows the retries.
func TestProgressOnARealTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("applies against a faulty sandbox")
	}
	const width = 60
	tty, master := openPTY(t, width)
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(master) // until the terminal closes (EIO)
		out <- string(b)
	}()

	sb, base := startSandbox(t, sandbox.Options{FailRate: 0.3, Seed: 7})
	dir := t.TempDir()
	m := newManifest("  bonifiq: {rate_limit: 50, concurrency: 8, max_retries: 20}\n  invisiblecollector: {rate_limit: 50, concurrency: 8, max_retries: 20}\n")
	for i := range 12 {
		body := fmt.Sprintf("    name: Customer %d\n    bonifiq: {enrolled: true}\n", i)
		if i < 4 {
			body += fmt.Sprintf("    invisiblecollector: {vat_number: \"PT%09d\", country: PT}\n", 500000000+i)
		}
		m.customer(fmt.Sprintf("c%02d", i), body)
	}
	m.write(t, dir)
	t.Chdir(dir)
	env := map[string]string{}
	for _, kv := range sb.Env(base) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var stdout strings.Builder
	code := run(context.Background(), []string{"apply", "-auto-approve", "-f", "m.yaml"}, strings.NewReader(""), &stdout, tty, func(k string) string { return env[k] })
	tty.Close()
	got := <-out
	master.Close()
	if code != 0 {
		t.Fatalf("apply exited %d\n%s\n%s", code, stdout.String(), got)
	}
	scr := &screen{width: width}
	scr.Write([]byte(got))
	if scr.wrapped {
		t.Errorf("a line wrapped on the %d-column terminal:\n%s", width, strings.Join(scr.lines(), "\n"))
	}
	for _, l := range strings.FieldsFunc(got, func(r rune) bool { return r == '\r' || r == '\n' }) {
		l = stripEscapes(l)
		if utf8.RuneCountInString(l) >= width {
			t.Errorf("%d columns written to a %d-column terminal: %q", utf8.RuneCountInString(l), width, l)
		}
	}
	// What stays on the screen: one summary per service (its retries on a
	// continuation line when they do not fit), no stale progress line.
	lines := scr.lines()
	var services []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "    ") {
			services = append(services, l)
		}
	}
	if len(services) != 2 || !strings.HasPrefix(services[0], "bonifiq: 12/12 calls in ") || !strings.HasPrefix(services[1], "invisiblecollector: 4/4 calls in ") {
		t.Errorf("the terminal ends with\n%s\nwant the summary line of each service", strings.Join(lines, "\n"))
	}
	if !strings.Contains(got, "retr") {
		t.Errorf("no retry shown, with a third of the requests failing:\n%s", strings.Join(lines, "\n"))
	}
	if !strings.Contains(got, "\x1b[J") {
		t.Errorf("no live redraw on a terminal: %q", got)
	}
}

// stripEscapes removes the escape sequences of the progress display.
func stripEscapes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == ';') {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
