package state

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

var _ engine.Backend = (*File)(nil)

const testLineage = "5f0c7a3e-8d2b-4c1a-9e6f-0b1d2c3e4f5a"

// genState returns n entries: customers 1000000, 1000001, ... alternately
// in bonifiq and invisiblecollector, with five fields and one id each.
func genState(n int) *engine.State {
	s := &engine.State{Lineage: testLineage, Serial: 7, Resources: make(map[string]*engine.Entry, n)}
	for i := range n {
		c := 1000000 + i/2
		id := strconv.Itoa(c)
		name := "Customer " + id
		if c%7 == 0 {
			name = "Zoë Ñandú " + id
		}
		phone := engine.String(fmt.Sprintf("+55 11 9%04d-%04d", c%10000, (c/7)%10000))
		if c%3 == 0 {
			phone = engine.Null()
		}
		e := &engine.Entry{ID: id}
		if i%2 == 0 {
			e.Provider = "bonifiq"
			e.Fields = engine.Fields{
				{Name: "email", Value: engine.String(fmt.Sprintf("customer%d@example.com", c))},
				{Name: "enabled", Value: engine.Bool(c%5 != 0)},
				{Name: "name", Value: engine.String(name)},
				{Name: "phone", Value: phone},
				{Name: "tier.id", Value: engine.Int(int64(c % 4))},
			}
			e.IDs = engine.Fields{{Name: "PublicId", Value: engine.String(fmt.Sprintf("bq-%08x-%04x", c*2654435761%(1<<32), c%65536))}}
		} else {
			e.Provider = "invisiblecollector"
			e.Fields = engine.Fields{
				{Name: "email", Value: engine.String(fmt.Sprintf("customer%d@example.com", c))},
				{Name: "external_id", Value: engine.String(id)},
				{Name: "name", Value: engine.String(name)},
				{Name: "phone", Value: phone},
				{Name: "vat_number", Value: engine.String(fmt.Sprintf("PT%09d", c*37%1000000000))},
			}
			e.IDs = engine.Fields{{Name: "gid", Value: engine.String(fmt.Sprintf("%032x", c*2654435761))}}
		}
		s.Resources[e.Address()] = e
	}
	return s
}

// tricky is a state whose strings need escapes, with every kind of value.
func tricky() *engine.State {
	s := &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
	add := func(e *engine.Entry) { s.Resources[e.Address()] = e }
	add(&engine.Entry{Provider: "bonifiq", ID: "1001",
		Fields: engine.Fields{
			{Name: "email", Value: engine.String("a@b.c")},
			{Name: "enabled", Value: engine.Bool(true)},
			{Name: "name", Value: engine.String("Zoë \"Q\" \\ back/slash\nnew\tline \u2028 😀 \x01 <html>&")},
			{Name: "phone", Value: engine.Null()},
			{Name: "tier.id", Value: engine.Int(3)},
		},
		IDs: engine.Fields{{Name: "PublicId", Value: engine.String("x")}},
	})
	add(&engine.Entry{Provider: "invisiblecollector", ID: "a/b c", // ids may hold slashes
		Fields: engine.Fields{
			{Name: "big", Value: engine.Int(-9223372036854775808)},
			{Name: "disabled", Value: engine.Bool(false)},
			{Name: "empty", Value: engine.String("")},
			{Name: "max", Value: engine.Int(9223372036854775807)},
			{Name: "ünïcode name", Value: engine.String("日本語")},
		},
	})
	add(&engine.Entry{Provider: "tomticket", ID: "ção"}) // no fields, no ids
	return s
}

func TestRoundTrip(t *testing.T) {
	for name, want := range map[string]*engine.State{"tricky": tricky(), "generated": genState(1000), "empty": {Lineage: testLineage, Resources: map[string]*engine.Entry{}}} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			serial := want.Serial
			if err := NewFile(path).Save(t.Context(), want); err != nil {
				t.Fatal(err)
			}
			if want.Serial != serial+1 {
				t.Errorf("Save left serial %d, want %d", want.Serial, serial+1)
			}
			got, err := NewFile(path).Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load after Save (-want +got):\n%s", diff)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}

// TestFormat pins the bytes Save writes: the header, then entry.AppendJSON
// per line in address order.
func TestFormat(t *testing.T) {
	s := tricky()
	var buf bytes.Buffer
	if err := Write(&buf, s); err != nil {
		t.Fatal(err)
	}
	want := `{"format_version":"1","lineage":"` + testLineage + `","serial":0,"resources":3}
{"address":"bonifiq/1001","fields":{"email":"a@b.c","enabled":true,"name":"Zoë \"Q\" \\ back/slash\nnew\tline \u2028 😀 \u0001 <html>&","phone":null,"tier.id":3},"ids":{"PublicId":"x"}}
{"address":"invisiblecollector/a/b c","fields":{"big":-9223372036854775808,"disabled":false,"empty":"","max":9223372036854775807,"ünïcode name":"日本語"}}
{"address":"tomticket/ção","fields":{}}
`
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("Write (-want +got):\n%s", diff)
	}
	for addr, e := range s.Resources {
		if line := string(e.AppendJSON(nil)) + "\n"; !strings.Contains(buf.String(), line) {
			t.Errorf("%s: line is not AppendJSON: %s", addr, line)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	dir := t.TempDir()
	s, err := NewFile(filepath.Join(dir, "reconcile.state.json")).Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Serial != 0 || len(s.Resources) != 0 || !validLineage(s.Lineage) {
		t.Errorf("Load of a missing file = serial %d, %d resources, lineage %q; want an empty state", s.Serial, len(s.Resources), s.Lineage)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Load created %v", ents)
	}
}

func TestSaveKeepsBackup(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	f := NewFile(path)
	s, err := f.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Resources["tomticket/1"] = &engine.Entry{Provider: "tomticket", ID: "1"}
	if err := f.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + ".backup"); !os.IsNotExist(err) {
		t.Errorf("first Save made a backup of nothing: %v", err)
	}
	first, _ := os.ReadFile(path)
	s.Resources["tomticket/2"] = &engine.Entry{Provider: "tomticket", ID: "2"}
	if err := f.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	if s.Serial != 2 {
		t.Errorf("serial %d after two saves, want 2", s.Serial)
	}
	backup, err := os.ReadFile(path + ".backup")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, backup) {
		t.Errorf("backup holds\n%s\nwant the previous version\n%s", backup, first)
	}
	got, err := NewFile(path + ".backup").Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial != 1 || len(got.Resources) != 1 {
		t.Errorf("backup: serial %d with %d resources, want serial 1 with 1", got.Serial, len(got.Resources))
	}
	if fi, _ := os.Stat(path + ".backup"); fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 2 {
		t.Errorf("files left beside the state: %v", ents)
	}
}

// TestSaveRefuses checks that Save writes nothing over a file that is not
// a readable state, another lineage or a newer serial.
func TestSaveRefuses(t *testing.T) {
	valid := func(lineage string, serial int) string {
		return fmt.Sprintf(`{"format_version":"1","lineage":%q,"serial":%d,"resources":1}`+"\n"+`{"address":"bonifiq/1","fields":{}}`+"\n", lineage, serial)
	}
	tests := []struct {
		name    string
		disk    string
		serial  int64
		want    string
		wantErr error
	}{
		{"binary", "\x89PNG\r\n\x1a\n\x00\x00", 0, "refusing to replace", engine.ErrStateCorrupt},
		{"future version", `{"format_version":"2","lineage":"` + testLineage + `","serial":1,"resources":0}` + "\n", 5, "upgrade reconcile", engine.ErrStateCorrupt},
		{"corrupt body, same lineage", valid(testLineage, 3)[:90] + "\n", 5, "not a readable state", engine.ErrStateCorrupt},
		{"other lineage", valid("0e5d3bb8-3f7e-4b8e-9c43-5d7b7f7f0a11", 1), 5, "it holds another state (lineage 0e5d3bb8-3f7e-4b8e-9c43-5d7b7f7f0a11", ErrConflict},
		{"newer serial", valid(testLineage, 6), 5, "written since this state was read (serial 6 there, 5 here)", ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			if err := os.WriteFile(path, []byte(tt.disk), 0o600); err != nil {
				t.Fatal(err)
			}
			s := &engine.State{Lineage: testLineage, Serial: tt.serial, Resources: map[string]*engine.Entry{}}
			err := NewFile(path).Save(t.Context(), s)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Save = %v; want an error containing %q, matching %v", err, tt.want, tt.wantErr)
			}
			if s.Serial != tt.serial {
				t.Errorf("serial %d after a refused save, want %d", s.Serial, tt.serial)
			}
			if b, _ := os.ReadFile(path); string(b) != tt.disk {
				t.Errorf("file changed to %q", b)
			}
			if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
				t.Errorf("files beside the state: %v", ents)
			}
		})
	}
}

// TestSaveAfterCorruptLoad is the CLI's path: Load reports the file
// corrupt; a Save through the same File must not replace it.
func TestSaveAfterCorruptLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	disk := `{"format_version":"1","lineage":"` + testLineage + `","serial":3,"resources":2}` + "\n" + `{"address":"bonifiq/1","fields":{}}` + "\n"
	if err := os.WriteFile(path, []byte(disk), 0o600); err != nil {
		t.Fatal(err)
	}
	f := NewFile(path)
	if _, err := f.Load(t.Context()); !errors.Is(err, engine.ErrStateCorrupt) {
		t.Fatalf("Load = %v, want corrupt", err)
	}
	s := &engine.State{Lineage: testLineage, Serial: 3, Resources: map[string]*engine.Entry{}}
	if err := f.Save(t.Context(), s); !errors.Is(err, engine.ErrStateCorrupt) {
		t.Fatalf("Save = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != disk {
		t.Errorf("file changed to %q", b)
	}
}

// TestSaveConcurrentWriter: two Files load the same state; once one has
// saved, the other's Save is refused.
func TestSaveConcurrentWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	if err := NewFile(path).Save(t.Context(), tricky()); err != nil {
		t.Fatal(err)
	}
	a, b := NewFile(path), NewFile(path)
	sa, err := a.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(t.Context(), sa); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(t.Context(), sb); !errors.Is(err, ErrConflict) {
		t.Fatalf("second Save = %v, want ErrConflict", err)
	}
	if sb.Serial != 1 {
		t.Errorf("refused Save left serial %d, want 1", sb.Serial)
	}
}

// TestSaveInvalidState: a state Load could not read back is not written,
// and the serial is restored.
func TestSaveInvalidState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	f := NewFile(path, registry.Default().Names()...)
	s := tricky()
	if err := f.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	tests := []struct {
		name   string
		mutate func(*engine.State)
		want   string
	}{
		{"unknown provider", func(s *engine.State) {
			s.Resources["hubspot/1"] = &engine.Entry{Provider: "hubspot", ID: "1"}
		}, `hubspot/1: unknown provider "hubspot"`},
		{"key and address differ", func(s *engine.State) {
			s.Resources["bonifiq/2"] = &engine.Entry{Provider: "bonifiq", ID: "3"}
		}, "bonifiq/2: the entry's address is bonifiq/3"},
		{"unsorted fields", func(s *engine.State) {
			s.Resources["bonifiq/2"] = &engine.Entry{Provider: "bonifiq", ID: "2", Fields: engine.Fields{{Name: "b"}, {Name: "a"}}}
		}, `"b" and "a" are not sorted and unique`},
		{"bad integer", func(s *engine.State) {
			s.Resources["bonifiq/2"] = &engine.Entry{Provider: "bonifiq", ID: "2", Fields: engine.Fields{{Name: "n", Value: engine.Value{S: "12abc", K: engine.KindInt}}}}
		}, `"n": invalid value`},
		{"bad lineage", func(s *engine.State) { s.Lineage = "x" }, `lineage "x" is not a UUID`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := f.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(s)
			err = f.Save(t.Context(), s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Save = %v, want an error containing %q", err, tt.want)
			}
			if s.Serial != 1 {
				t.Errorf("serial %d after a failed save, want 1", s.Serial)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("file changed")
			}
		})
	}
}

func TestSaveCancelledContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reconcile.state.json")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := NewFile(path).Save(ctx, tricky()); err != nil {
		t.Fatalf("Save with a cancelled context = %v; want it to finish", err)
	}
}

// TestLoadFoldsJournal: records journaled by a command that did not save
// are in the state Load returns; the next Save includes them and removes
// the journal.
func TestLoadFoldsJournal(t *testing.T) {
	for _, saved := range []bool{true, false} {
		t.Run(fmt.Sprintf("saved=%v", saved), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "reconcile.state.json")
			f := NewFile(path)
			s := tricky()
			if !saved { // a first apply: the state exists only in memory
				s = &engine.State{Lineage: testLineage, Resources: map[string]*engine.Entry{}}
			}
			if saved {
				if err := f.Save(t.Context(), s); err != nil {
					t.Fatal(err)
				}
			}
			j, err := f.OpenJournal(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			recs := []engine.Record{
				{Address: "bonifiq/1001", Set: engine.Fields{{Name: "email", Value: engine.String("new@b.c")}}},
				{Address: "tomticket/9", Set: engine.Fields{{Name: "name", Value: engine.String("Nove")}}, IDs: engine.Fields{{Name: "id_type", Value: engine.String("E")}}},
				{Address: "invisiblecollector/a/b c", Delete: true},
			}
			for _, r := range recs {
				if err := j.Record(r); err != nil {
					t.Fatal(err)
				}
				s.ApplyRecord(r)
			}
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}

			// The command dies here, without saving.
			f2 := NewFile(path)
			got, err := f2.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s, got); diff != "" {
				t.Fatalf("Load with a journal (-want +got):\n%s", diff)
			}
			if err := f2.Save(t.Context(), got); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path + ".journal"); !os.IsNotExist(err) {
				t.Errorf("journal still there after Save: %v", err)
			}
			again, err := NewFile(path).Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("Load after Save (-want +got):\n%s", diff)
			}
		})
	}
}
