package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"

	"github.com/reconcile-dev/reconcile/engine"
)

// Scan streams the state file to visit in batches of entries decoded in
// place, in address order, without building the state (engine.StateScanner):
// what a plan of a million customers needs, at the cost of the changes it
// finds. It reports every problem Load reports, at the same line; a file
// whose entries are not in address order (Save writes them in order; a
// hand-edited file may not be), or a journal to fold, give
// engine.ErrScanUnavailable, and the caller loads the state instead.
func (f *File) Scan(ctx context.Context, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	return f.scan(ctx, false, visit)
}

// ScanLazy is Scan with the entries' fields and ids decoded on demand
// (engine.LazyScanner): a line Write wrote is handed out with its address
// decoded, the rest of it read by the batch's Lines when visit asks, and a
// problem with it reported, as Scan reports it, when it is decoded. Every
// line is decoded or matched (Lines.Same) by a visit that asks for each.
func (f *File) ScanLazy(ctx context.Context, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	return f.scan(ctx, true, visit)
}

func (f *File) scan(ctx context.Context, lazy bool, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := fsys.Lstat(f.journalPath()); !errors.Is(err, fs.ErrNotExist) {
		return engine.ScanInfo{}, engine.ErrScanUnavailable
	}
	path := f.realPath()
	fh, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return engine.ScanInfo{Lineage: engine.NewLineage()}, nil
	}
	if err != nil {
		return engine.ScanInfo{}, fmt.Errorf("reading state: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return engine.ScanInfo{}, fmt.Errorf("reading state: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return engine.ScanInfo{}, fmt.Errorf("reading state %s: not a regular file", path)
	}
	return scan(ctx, fh, path, f.services, lazy, visit)
}

// ScanState is Scan of a state in the file format read from r; name is
// the file name for messages.
func ScanState(ctx context.Context, r io.Reader, name string, visit func(*engine.EntryBatch) error, known ...string) (engine.ScanInfo, error) {
	return scan(ctx, r, name, known, false, visit)
}

// scan decodes the chunks in parallel (pipeline) and visits each chunk's
// entries in the goroutine that decoded it; the calling goroutine checks,
// in file order, what spans chunks: the order of their addresses, and the
// count the header announces.
func scan(ctx context.Context, r io.Reader, name string, known []string, lazy bool, visit func(*engine.EntryBatch) error) (engine.ScanInfo, error) {
	br := &blockReader{r: r, name: name}
	first, err := br.header()
	if err != nil {
		return engine.ScanInfo{}, err
	}
	h, lerr := parseHeader(first, br.peek())
	if lerr != nil {
		return engine.ScanInfo{}, &CorruptError{Path: name, Line: 1, Col: lerr.col, Msg: lerr.msg}
	}
	info := engine.ScanInfo{Lineage: h.Lineage, Serial: h.Serial}
	order, stop := br.pipeline(func() func(*chunk) chunkResult {
		p := newLineParser(known)
		p.lazy.on = lazy
		var b engine.EntryBatch
		return func(c *chunk) chunkResult { return p.scanChunk(c, name, &b, visit) }
	})
	defer stop()

	var count int64
	last := ""
	for c := range order {
		if err := ctx.Err(); err != nil {
			return info, err
		}
		res := <-c.res
		if c.buf != nil && cap(c.buf) == blockBytes {
			b := c.buf[:0]
			blockPool.Put(&b)
		}
		if res.n > 0 {
			switch {
			case last != "" && res.first == last:
				return info, &CorruptError{Path: name, Line: int(res.lines[0]), Msg: fmt.Sprintf("address %q appears twice", last)}
			case last != "" && res.first < last:
				return info, engine.ErrScanUnavailable
			}
			last = res.last
			if count+int64(res.n) > h.Resources {
				return info, &CorruptError{Path: name, Line: int(res.lines[h.Resources-count]), Msg: "unexpected content after " + announced(h.Resources)}
			}
			count += int64(res.n)
		}
		if res.unsorted {
			return info, engine.ErrScanUnavailable
		}
		if res.err != nil {
			var ce *CorruptError
			if count == h.Resources && res.what != "" && errors.As(res.err, &ce) {
				ce.Msg = "unexpected content after " + announced(h.Resources) + ": " + res.what
			}
			return info, res.err
		}
		linesPool.Put(&res.lines)
	}
	if count < h.Resources {
		return info, &CorruptError{Path: name, Msg: fmt.Sprintf("the file is truncated: the header announces %d resources, the file holds %d", h.Resources, count)}
	}
	info.Entries = int(count)
	return info, nil
}

// linesPool holds the lists of the lines of a chunk's entries, handed
// back once the chunk's result is checked: a scan makes no garbage per
// chunk.
var linesPool sync.Pool

// scanChunk decodes the lines of c and visits their entries, in b. The
// entries up to the first problem count: a bad line, an address that
// repeats the one before it, or one out of order (res.unsorted; not
// visited, the scan gives up).
func (p *lineParser) scanChunk(c *chunk, name string, b *engine.EntryBatch, visit func(*engine.EntryBatch) error) chunkResult {
	var res chunkResult
	if l, ok := linesPool.Get().(*[]int32); ok {
		res.lines = (*l)[:0]
	}
	res.what, res.err = p.parseLines(c, name)
	res.lines = slices.Grow(res.lines, len(p.recs))
	b.Seq, b.Arena = c.seq, p.arena
	// The batch is the parser's own records and fields.
	b.Recs, b.Fields, b.Lines = p.recs, p.fields, nil
	if p.lazy.on {
		b.Lines = p
	}
	for i := range p.recs {
		r := &p.recs[i]
		if i > 0 {
			prev := p.arena[p.recs[i-1].Addr.Off:p.recs[i-1].Addr.End]
			if d := bytes.Compare(prev, p.arena[r.Addr.Off:r.Addr.End]); d >= 0 {
				if d > 0 {
					res.unsorted = true
				} else {
					res.err = &CorruptError{Path: name, Line: int(r.Line), Msg: fmt.Sprintf("address %q appears twice", p.arena[r.Addr.Off:r.Addr.End])}
					res.what = ""
				}
				b.Recs = p.recs[:i]
				break
			}
		}
		res.lines = append(res.lines, r.Line)
	}
	res.n = len(b.Recs)
	res.ends(b)
	if res.unsorted || res.n == 0 {
		return res
	}
	err := visit(b)
	switch {
	case p.lazy.failed >= 0:
		// A line decoded on demand was bad: the chunk ends before it, as
		// if it had been decoded with the others, whatever was found after
		// it.
		res.err, res.what, res.n = err, p.lazy.what, p.lazy.failed
		res.ends(b)
	case err != nil && res.err == nil:
		res.err, res.what = err, ""
	}
	return res
}

// ends sets res.first and res.last to the addresses of the first and the
// last of the res.n entries of b that count.
func (res *chunkResult) ends(b *engine.EntryBatch) {
	res.first, res.last = "", ""
	if res.n > 0 {
		res.first = string(b.Arena[b.Recs[0].Addr.Off:b.Recs[0].Addr.End])
		res.last = string(b.Arena[b.Recs[res.n-1].Addr.Off:b.Recs[res.n-1].Addr.End])
	}
}
