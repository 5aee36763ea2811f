package state

import (
	"errors"
	"strconv"

	"github.com/reconcile-dev/reconcile/engine"
)

// CorruptError says where and why a state file cannot be read. It wraps
// engine.ErrStateCorrupt, so errors.Is(err, engine.ErrStateCorrupt) holds.
type CorruptError struct {
	// Path is the file, as given to NewFile or Read.
	Path string
	// Line is the 1-based line, 0 when the problem is the file as a whole
	// (empty, truncated).
	Line int
	// Col is the 1-based byte column within Line, 0 when unknown.
	Col int
	// Msg says what is wrong, for humans.
	Msg string
}

// Error renders e as FILE:LINE:COL: MSG, leaving out what is unknown.
func (e *CorruptError) Error() string {
	b := make([]byte, 0, len(e.Path)+len(e.Msg)+16)
	b = append(b, e.Path...)
	if e.Line > 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(e.Line), 10)
		if e.Col > 0 {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(e.Col), 10)
		}
	}
	b = append(b, ": "...)
	b = append(b, e.Msg...)
	return string(b)
}

// Unwrap returns engine.ErrStateCorrupt.
func (e *CorruptError) Unwrap() error { return engine.ErrStateCorrupt }

// ErrConflict is wrapped by Save's refusals to replace a file that holds
// another state (another lineage) or a newer one (a higher serial than the
// state being saved was read at): someone swapped the file or wrote it
// meanwhile, and replacing it would lose their work.
var ErrConflict = errors.New("state file holds another or a newer state")

// conflictError carries a Save refusal; it matches ErrConflict without
// repeating its text.
type conflictError struct{ msg string }

func (e *conflictError) Error() string        { return e.msg }
func (e *conflictError) Is(target error) bool { return target == ErrConflict }
