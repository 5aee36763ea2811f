package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Limits on what a manifest may hold (issue 12): they bound the memory a
// hostile or broken file can take, and admit real work by far (a
// 1,000,000-row CSV is about 65 MiB, with rows of about 65 bytes).
const (
	// MaxRecordBytes bounds one CSV record: its line, or its lines when a
	// quoted cell spans several.
	MaxRecordBytes = 1 << 20
	// MaxYAMLBytes bounds a YAML manifest, which is read whole.
	MaxYAMLBytes = 64 << 20
	// MaxHeadingEcho is how much of an unrecognised heading a message
	// quotes: a file that is not a manifest (a symlink to a credentials
	// file) must not be echoed.
	MaxHeadingEcho = 24
)

// errRecordTooLong is a CSV record beyond MaxRecordBytes.
type errRecordTooLong struct{ line int }

func (e *errRecordTooLong) Error() string {
	return fmt.Sprintf("line %d: a row longer than %d MiB", e.line, MaxRecordBytes>>20)
}

// boundedRecords passes a CSV stream through, failing once a record (the
// bytes between two line ends outside quotes) exceeds MaxRecordBytes: the
// CSV reader then never holds more than that of one row. Quotes are
// counted by parity, which doubled quotes ("") keep. An error, the end of
// the stream included, is returned again on every later call: the CSV is
// read by two readers of one bufio.Reader (rowReader), and either may be
// the one to see it first.
type boundedRecords struct {
	r      io.Reader
	n      int  // bytes of the record so far
	quoted bool // inside a quoted cell
	line   int  // lines ended so far
	err    error
}

func (b *boundedRecords) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	for i := 0; i < n; {
		// The run up to the next quote, at once while the record cannot
		// grow past the limit in it.
		run := p[i:n]
		if q := bytes.IndexByte(run, '"'); q >= 0 {
			run = run[:q]
		}
		if b.n+len(run) > MaxRecordBytes {
			if j := b.scan(run); j >= 0 {
				return i + j, b.err
			}
		} else {
			nl := bytes.Count(run, newline)
			b.line += nl
			if nl > 0 && !b.quoted {
				b.n = len(run) - 1 - bytes.LastIndexByte(run, '\n')
			} else {
				b.n += len(run)
			}
		}
		i += len(run)
		if i < n {
			if j := b.scan(p[i : i+1]); j >= 0 {
				return i + j, b.err
			}
			i++
		}
	}
	b.err = err
	return n, err
}

var newline = []byte{'\n'}

// scan counts p byte by byte, and returns the index of the byte at which
// the record passes MaxRecordBytes (setting b.err), or -1.
func (b *boundedRecords) scan(p []byte) int {
	for i, c := range p {
		switch c {
		case '"':
			b.quoted = !b.quoted
		case '\n':
			b.line++
			if !b.quoted {
				b.n = 0
				continue
			}
		}
		b.n++
		if b.n > MaxRecordBytes {
			b.err = &errRecordTooLong{line: b.line + 1}
			return i
		}
	}
	return -1
}

// openRegular opens a manifest, which must be a regular file (a symlink to
// one is followed): a device, a FIFO or a directory is refused, so that a
// manifest pointing at /dev/zero is not read forever.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, errNotRegular
	}
	return f, fi, nil
}

var errNotRegular = errors.New("not a regular file: a manifest is a file (a symlink to one is followed), not a device, a pipe or a socket")

// readYAMLFile reads a YAML manifest whole, up to MaxYAMLBytes.
func readYAMLFile(path string) ([]byte, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi.Size() > MaxYAMLBytes {
		return nil, fmt.Errorf("larger than %d MiB (%d MiB): split it, or keep the customers in a CSV or workbook source", MaxYAMLBytes>>20, fi.Size()>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxYAMLBytes+1))
	if err == nil && len(data) > MaxYAMLBytes {
		err = fmt.Errorf("larger than %d MiB: split it, or keep the customers in a CSV or workbook source", MaxYAMLBytes>>20)
	}
	return data, err
}

// echo renders a heading for a message: as it is (quoted with quote) when
// short, else its first MaxHeadingEcho characters and its length.
func echo(s string, quote bool) string {
	r := []rune(s)
	if len(r) <= MaxHeadingEcho {
		if quote {
			return fmt.Sprintf("%q", s)
		}
		return s
	}
	return fmt.Sprintf("%q... (%d characters)", string(r[:MaxHeadingEcho]), len(r))
}
