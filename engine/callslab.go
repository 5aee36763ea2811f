package engine

import "unsafe"

// CallSlab is memory a provider's CallsIn plans a change's calls in: the
// calls, their field names and their paths. A plan's changes hold them
// as long as they live; a lazy plan's views build each segment of creates,
// show it and drop it, and the next segment's calls reuse its slab, so
// that showing two million creates makes no garbage. A nil *CallSlab
// allocates each list on its own, as Calls does.
type CallSlab struct {
	calls block[Call]
	names block[string]
	text  block[byte]
	memo  []fieldsMemo // FieldsOf's answers, the latest last
}

// fieldsMemo is what Service.FieldsOf answered for a call and fields of
// these names.
type fieldsMemo struct {
	svc   *Service
	call  string
	names []string
	out   []string
}

// maxFieldsMemo bounds the answers a slab remembers: a plan's customers
// come with a few lists of field names (one per manifest file, as a rule).
const maxFieldsMemo = 8

// CallBuilder is a Provider whose calls can be planned in a CallSlab:
// CallsIn(nil, ch) is Calls(ch). Plans use it when the provider has it.
type CallBuilder interface {
	CallsIn(s *CallSlab, ch *Change) []Call
}

// Slab sizes: a segment of 2,048 creates of a few calls each, each call of
// a few fields, fills a handful of blocks.
const (
	slabCalls = 4096
	slabNames = 16 << 10
	slabText  = 64 << 10
)

// Calls returns an empty list with room for n calls.
func (s *CallSlab) Calls(n int) []Call {
	if s == nil {
		return make([]Call, 0, n)
	}
	return s.calls.take(n, slabCalls)[:0]
}

// Names returns an empty list with room for n field names.
func (s *CallSlab) Names(n int) []string {
	if s == nil {
		return make([]string, 0, n)
	}
	return s.names.take(n, slabNames)[:0]
}

// Concat returns the strings joined.
func (s *CallSlab) Concat(parts ...string) string {
	if s == nil {
		return join(nil, 0, parts...)
	}
	return join(&s.text, slabText, parts...)
}

// FieldsOf is svc.FieldsOf(dst, call, fs), remembered for the names of fs:
// the customers of a spreadsheet share them, and a plan asks for each of
// its millions of changes.
func (s *CallSlab) FieldsOf(svc *Service, dst []string, call string, fs Fields) []string {
	if s == nil {
		return svc.FieldsOf(dst, call, fs)
	}
	for i := len(s.memo) - 1; i >= 0; i-- {
		if m := &s.memo[i]; m.svc == svc && m.call == call && sameNames(m.names, fs) {
			return append(dst, m.out...)
		}
	}
	m := fieldsMemo{svc: svc, call: call, names: make([]string, len(fs)), out: svc.FieldsOf(nil, call, fs)}
	for i, f := range fs {
		m.names[i] = f.Name
	}
	if len(s.memo) == maxFieldsMemo {
		s.memo = append(s.memo[:0], s.memo[1:]...)
	}
	s.memo = append(s.memo, m)
	return append(dst, m.out...)
}

// join returns parts joined, its text taken from b (blocks of up to size
// bytes), or allocated on its own when b is nil.
func join(b *block[byte], size int, parts ...string) string {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n == 0 {
		return ""
	}
	var t []byte
	if b == nil {
		t = make([]byte, 0, n)
	} else {
		t = b.take(n, size)[:0]
	}
	for _, p := range parts {
		t = append(t, p...)
	}
	return unsafe.String(&t[0], n)
}

// reuse makes s hand out its blocks again, keeping from now on the blocks
// it makes: whatever s handed out before must be dead.
func (s *CallSlab) reuse() {
	s.calls.reuse()
	s.names.reuse()
	s.text.reuse()
}
