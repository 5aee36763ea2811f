package engine

import (
	"context"
	"errors"
)

// A state of a million customers is two million entries: a plan that built
// an Entry for each would spend most of its time and memory on customers
// that did not change. A backend that can stream its entries in address
// order (StateScanner) hands them to the plan decoded in place, as
// EntryBatch, and the plan builds an Entry only for an address whose fields
// differ, or that the manifests no longer manage (MakePlanScan). A backend
// whose lines can be told apart as text (LazyScanner: the state file)
// decodes only their addresses first, and the rest of a line only when it
// does not hold what the plan wants.

// Span is a run of bytes [Off, End) in an EntryBatch's Arena, or of fields
// in its Fields.
type Span struct{ Off, End int32 }

// RawField is one field of a RawEntry: its name, and where its value's text
// is in the batch's arena (strings, unescaped, integers, and booleans:
// "true" or "false"; null: none). It holds one pointer, its name, and fits
// in 32 bytes: a parser writes a million of them a second.
type RawField struct {
	Name string
	Val  Span
	Kind Kind
}

// RawEntry is one state entry decoded in place.
type RawEntry struct {
	// Line is the entry's line in the state, for messages.
	Line     int32
	Provider string
	Addr     Span // PROVIDER/ID in the arena
	Fields   Span // in the batch's Fields, sorted by name
	IDs      Span // in the batch's Fields, sorted by name
	// Text is the entry's line in the batch's Lines, while its fields and
	// ids are not decoded (a lazy scan: LazyScanner); empty once they are.
	Text Span
}

// Lazy reports whether rec's fields and ids are still to be decoded
// (EntryBatch.Lines).
func (rec *RawEntry) Lazy() bool { return rec.Text.End > rec.Text.Off }

// EntryBatch is a run of consecutive state entries, in address order,
// decoded in place. It is valid only during the call it is passed to.
type EntryBatch struct {
	// Seq numbers the batches of one scan from 0, in address order.
	Seq    int
	Arena  []byte
	Recs   []RawEntry
	Fields []RawField
	// Lines decodes the entries of a lazy scan on demand (nil: every
	// entry is decoded).
	Lines LineMatcher
}

// A LineMatcher is what a lazy scan hands out with its batches: it tells
// whether an entry's line holds what a plan wants, from the line's text,
// and decodes the entry when it does not. It is the state format's own,
// and is used only by the goroutine the batch is passed to.
type LineMatcher interface {
	// Same reports whether record r's line is well formed and holds
	// exactly the fields want lists, and ids that do not record
	// an absent customer: what decoding it and comparing would find, with
	// nothing left over. False says only that this could not be told
	// from the text: decode the entry.
	Same(b *EntryBatch, r int, want *Wanted) bool
	// Decode decodes record r into b (its Fields and IDs, in b.Fields and
	// b.Arena, which it may move), or returns what the scan would have
	// said of its line. The scan stops at an error, reporting it.
	Decode(b *EntryBatch, r int) error
}

// Wanted is what a plan wants an entry to hold: the fields called Names,
// sorted, field k holding Of[Src[k]].Value (a customer's fields, as the
// service names them).
type Wanted struct {
	Names []string
	Src   []int
	Of    Fields
}

// A LazyScanner is a StateScanner that can hand out its entries with only
// their addresses decoded (RawEntry.Lazy), the rest of their lines read
// when the visitor asks (EntryBatch.Lines): a plan then decodes only the
// entries whose lines differ from what the manifests want.
type LazyScanner interface {
	ScanLazy(ctx context.Context, visit func(*EntryBatch) error) (ScanInfo, error)
}

// address returns rec's address; it points into the arena.
func (b *EntryBatch) address(rec *RawEntry) []byte { return b.Arena[rec.Addr.Off:rec.Addr.End] }

// value returns f's text.
func (b *EntryBatch) value(f *RawField) []byte {
	if f.Kind == KindNull {
		return nil
	}
	return b.Arena[f.Val.Off:f.Val.End]
}

// get returns the field called name among fs, sorted by name.
func (b *EntryBatch) get(fs Span, name string) *RawField {
	for i := fs.Off; i < fs.End; i++ {
		f := &b.Fields[i]
		if f.Name == name {
			return f
		}
		if f.Name > name {
			break
		}
	}
	return nil
}

// equal reports whether f holds v.
func (b *EntryBatch) equal(f *RawField, v Value) bool {
	if f.Kind != v.K {
		return false
	}
	return string(b.value(f)) == v.S
}

// Entry builds the entry of rec, which owns its strings.
func (b *EntryBatch) Entry(rec *RawEntry) *Entry {
	addr := string(b.address(rec))
	e := &Entry{Provider: rec.Provider, ID: addr[len(rec.Provider)+1:]}
	e.Fields = b.fields(rec.Fields)
	e.IDs = b.fields(rec.IDs)
	return e
}

func (b *EntryBatch) fields(s Span) Fields {
	if s.End == s.Off {
		return nil
	}
	n := 0
	for i := s.Off; i < s.End; i++ {
		if f := &b.Fields[i]; f.Kind != KindBool {
			n += len(b.value(f))
		}
	}
	text := make([]byte, 0, n)
	for i := s.Off; i < s.End; i++ {
		if f := &b.Fields[i]; f.Kind != KindBool {
			text = append(text, b.value(f)...)
		}
	}
	all := string(text)
	out := make(Fields, s.End-s.Off)
	off := 0
	for i := s.Off; i < s.End; i++ {
		f := &b.Fields[i]
		out[i-s.Off].Name = f.Name
		switch f.Kind {
		case KindString, KindInt:
			n := int(f.Val.End - f.Val.Off)
			out[i-s.Off].Value = Value{S: all[off : off+n], K: f.Kind}
			off += n
		case KindBool:
			out[i-s.Off].Value = Bool(string(b.value(f)) == "true")
		}
	}
	return out
}

// absent reports whether rec records that the service has no such customer
// (AbsentEntry).
func (b *EntryBatch) absent(rec *RawEntry) bool { return b.AbsentIDs(rec.IDs) }

// AbsentIDs reports whether the ids in b.Fields[ids] record that the
// service has no such customer (AbsentEntry).
func (b *EntryBatch) AbsentIDs(ids Span) bool {
	f := b.get(ids, AbsentID)
	return f != nil && f.Kind == KindBool && string(b.value(f)) == "true"
}

// ScanInfo is what a scan learned from the state besides its entries.
type ScanInfo struct {
	Lineage string
	Serial  int64
	// Entries is how many entries the state holds.
	Entries int
}

// StateScanner is a backend that can stream its state, in address order,
// without holding it.
type StateScanner interface {
	// Scan decodes the state and calls visit with its entries in batches,
	// from several goroutines at once; the batches are numbered in address
	// order (EntryBatch.Seq). A visit error stops the scan and is
	// returned. A state it cannot stream (its entries not in address order,
	// a journal to fold) gives ErrScanUnavailable before or after visits:
	// the caller then loads it in full. Every other error is what Load
	// would return.
	Scan(ctx context.Context, visit func(*EntryBatch) error) (ScanInfo, error)
}

// ErrScanUnavailable says a state cannot be streamed and must be loaded.
var ErrScanUnavailable = errors.New("the state cannot be streamed")
