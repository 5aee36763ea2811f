package state

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/reconcile-dev/reconcile/engine"
)

// LineDecoder decodes resource lines of the file format one at a time,
// with the decoder, the checks and the messages of Read and Scan: for a
// backend that stores each line's parts elsewhere (the PostgreSQL backend's
// rows) and must read them as a file's lines are read. The lines decoded
// since the last Reset are held decoded in place, for Fill. Each goroutine
// needs its own.
type LineDecoder struct {
	p *lineParser
}

// NewLineDecoder returns a decoder for the lines of a state that may hold
// the services known (none: any well-formed name), as Read's known.
func NewLineDecoder(known ...string) *LineDecoder {
	return &LineDecoder{p: newLineParser(known)}
}

// Reset forgets the lines decoded so far.
func (d *LineDecoder) Reset() { d.p.reset() }

// Len returns how many lines were decoded since Reset.
func (d *LineDecoder) Len() int { return len(d.p.recs) }

// ErrLineBreak is what Decode says of a line that holds a line break but
// whose part before it decodes: in a file it would be two lines.
var ErrLineBreak = errors.New("a line break inside the resource's line")

// ErrLineTooLong is what Decode says of a line longer than MaxLineBytes.
var ErrLineTooLong = fmt.Errorf("line longer than %d MiB", MaxLineBytes>>20)

// Decode decodes one resource line, without its newline, numbered n (its
// RawEntry.Line). A line Read would refuse gives an error whose text is
// what Read's CorruptError says of it (its Msg), and is not kept. A line
// that holds a line break is decoded as a file's reader would cut it: up to
// the line break, and is refused either way (ErrLineBreak when that part
// decodes). A line longer than MaxLineBytes is refused (ErrLineTooLong),
// as Read refuses it.
func (d *LineDecoder) Decode(line []byte, n int) error {
	p := d.p
	if len(line) > MaxLineBytes {
		return ErrLineTooLong
	}
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		recs, arena, fields := len(p.recs), len(p.arena), len(p.fields)
		if err := p.parseLine(line[:i], n); err != nil {
			return errors.New(err.msg)
		}
		p.recs, p.arena, p.fields = p.recs[:recs], p.arena[:arena], p.fields[:fields]
		return ErrLineBreak
	}
	if err := p.parseLine(line, n); err != nil {
		return errors.New(err.msg)
	}
	return nil
}

// Fill sets b's Arena, Recs and Fields to the lines decoded since Reset,
// leaving b.Seq as it is. b is valid until the next Decode or Reset; its
// slices are reused.
func (d *LineDecoder) Fill(b *engine.EntryBatch) {
	p := d.p
	b.Arena, b.Recs, b.Fields = p.arena, p.recs, p.fields
}

// Entries returns the entries of the lines decoded since Reset, which own
// their memory (one string for all of their addresses and values, one
// slice of fields), and appends each one's address to addrs.
func (d *LineDecoder) Entries(addrs []string) ([]engine.Entry, []string) {
	return d.p.materialize(addrs)
}
