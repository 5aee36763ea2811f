package main

import (
	"io"
	"os"

	"golang.org/x/term"
)

// defaultWidth is the width assumed for a terminal that does not say.
const defaultWidth = 80

// termInfo is what the CLI knows of where it writes.
type termInfo struct {
	// tty says that w is a terminal (golang.org/x/term: /dev/null and
	// pipes are not).
	tty bool
	// dumb says that the terminal cannot move the cursor or colour
	// (TERM=dumb): it gets what a file gets.
	dumb bool
	// width returns the terminal's width in columns, asked again on every
	// call so that a resized window is followed.
	width func() int
}

// live reports whether w is a terminal that can redraw lines.
func (t termInfo) live() bool { return t.tty && !t.dumb }

// terminalOf says what w is. Tests replace it with a fake terminal
// (cli.fakeTerm).
func (c *cli) terminalOf(w io.Writer) termInfo {
	if c.fakeTerm != nil {
		if t, ok := c.fakeTerm(w); ok {
			return t
		}
	}
	f, ok := w.(*os.File)
	if !ok {
		return termInfo{width: func() int { return defaultWidth }}
	}
	fd := int(f.Fd())
	if !term.IsTerminal(fd) {
		return termInfo{width: func() int { return defaultWidth }}
	}
	return termInfo{
		tty:  true,
		dumb: c.getenv("TERM") == "dumb",
		width: func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return defaultWidth
		},
	}
}

// color reports whether to colour output written to w: a terminal that
// can show colour, unless -no-color or NO_COLOR.
func (c *cli) color(w io.Writer) bool {
	return !c.noColor && c.getenv("NO_COLOR") == "" && c.terminalOf(w).live()
}
