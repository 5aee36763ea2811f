package state

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// TestLineDecoderRefusesWhatReadRefuses: every resource line Read refuses,
// a LineDecoder refuses with Read's message.
func TestLineDecoderRefusesWhatReadRefuses(t *testing.T) {
	n := 0
	for _, tt := range corruptCases() {
		first := hdr + "1}\n"
		line, ok := strings.CutPrefix(tt.file, first)
		if !ok || strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			continue // not one resource line
		}
		line = strings.TrimSuffix(line, "\n")
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(t.Context(), strings.NewReader(tt.file), "state", registry.Default().Names()...)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Line != 2 {
				t.Fatalf("Read = %v, want a CorruptError at line 2", err)
			}
			d := NewLineDecoder(registry.Default().Names()...)
			err = d.Decode([]byte(line), 2)
			if err == nil || err.Error() != ce.Msg {
				t.Errorf("Decode = %v, want %q", err, ce.Msg)
			}
			if d.Len() != 0 {
				t.Errorf("Decode kept %d lines of a line it refused", d.Len())
			}
		})
		n++
	}
	if n < 15 {
		t.Fatalf("%d cases of one resource line, want at least 15", n)
	}
}

// TestLineDecoderReadsWhatReadReads: lines decoded one at a time give the
// entries Read gives, as entries (Entries) and as a batch (Fill).
func TestLineDecoderReadsWhatReadReads(t *testing.T) {
	s := enginetest.State(300, 7)
	s.Resources["invisiblecollector/é \"q\""] = &engine.Entry{Provider: "invisiblecollector", ID: "é \"q\"", Fields: engine.Fields{{Name: "x", Value: engine.Null()}}}
	var buf bytes.Buffer
	if err := Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	want, err := Read(t.Context(), bytes.NewReader(buf.Bytes()), "state")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")[1:]
	// Lines written another way than Write's read the same.
	lines[0] = strings.Replace(lines[0], `"fields":{`, `"fields": {`, 1)

	d := NewLineDecoder()
	for i, line := range lines {
		if err := d.Decode([]byte(line), i+2); err != nil {
			t.Fatalf("line %d: %v", i+2, err)
		}
	}
	if d.Len() != len(lines) {
		t.Fatalf("Len = %d, want %d", d.Len(), len(lines))
	}
	var b engine.EntryBatch
	d.Fill(&b)
	entries, addrs := d.Entries(nil)
	if len(b.Recs) != len(lines) || len(entries) != len(lines) || len(addrs) != len(lines) {
		t.Fatalf("%d records, %d entries, %d addresses; want %d", len(b.Recs), len(entries), len(addrs), len(lines))
	}
	for i := range entries {
		w := want.Resources[addrs[i]]
		if diff := cmp.Diff(w, &entries[i], cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Entries %s (-Read +Entries):\n%s", addrs[i], diff)
		}
		if diff := cmp.Diff(w, b.Entry(&b.Recs[i]), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Fill %s (-Read +Fill):\n%s", addrs[i], diff)
		}
		if b.Recs[i].Line != int32(i+2) {
			t.Errorf("record %d: line %d, want %d", i, b.Recs[i].Line, i+2)
		}
	}
	d.Reset()
	if d.Len() != 0 {
		t.Errorf("Len after Reset = %d", d.Len())
	}
}

// TestLineDecoderLineBreaks: a line that holds a line break is read as a
// file's reader would cut it, and refused either way; an overlong line is
// refused as Read refuses it.
func TestLineDecoderLineBreaks(t *testing.T) {
	d := NewLineDecoder(registry.Default().Names()...)
	for _, tt := range []struct {
		line string
		want string
	}{
		{`{"address":"bonifiq/1","fields":{` + "\n" + `}}`, "fields: invalid JSON: the line ends in the middle of a value"},
		{`{"address":"bonifiq/1","fields":{}}` + "\n" + `{"address":"bonifiq/2","fields":{}}`, ErrLineBreak.Error()},
		{`{"address":"bonifiq/1","fields":{"x":"` + strings.Repeat("a", MaxLineBytes) + `"}}`, "line longer than 16 MiB"},
	} {
		err := d.Decode([]byte(tt.line), 2)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Decode(%.60q) = %v, want %q", tt.line, err, tt.want)
		}
		if d.Len() != 0 {
			t.Errorf("Decode(%.60q) kept a line", tt.line)
		}
	}
}
