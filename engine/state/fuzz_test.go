package state

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
)

// stateSeeds returns state files as Write produces them, plus hand-made
// variants that exercise the slow path and the error messages.
func stateSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	for _, s := range []*engine.State{tricky(), genState(6), {Lineage: testLineage, Resources: map[string]*engine.Entry{}}} {
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b.Bytes())
	}
	for _, s := range []string{
		hdr + "1}\n" + `{ "fields" : {"b":1, "a":"x\u00e9"}, "address" : "tomticket/1" }` + "\r\n",
		hdr + "2}\n\n" + `{"address":"bonifiq/1","fields":{}}` + "\n\n" + `{"address":"bonifiq/2","fields":{},"ids":{"PublicId":"p"}}`,
		hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"n":1.5}}` + "\n",
		hdr + "1}\n" + `{"address":"bonifiq/1","fields":{"n":9223372036854775807,"m":-9223372036854775808}}` + "\n",
		hdr + "0}\n",
		"{\n  \"version\": 4,\n  \"terraform_version\": \"1.9.0\"\n}\n",
		"<html>\n",
		"\x00\x01\x02",
		"",
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// FuzzRead feeds arbitrary bytes to the state reader: it never panics or
// hangs, a failure is a *CorruptError that wraps engine.ErrStateCorrupt and
// names the file, and whatever it accepts Write writes back to the same
// state.
func FuzzRead(f *testing.F) {
	for _, s := range stateSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		s, err := Read(ctx, bytes.NewReader(data), "fuzz.state")
		if err != nil {
			if ctx.Err() != nil {
				t.Fatalf("Read did not finish within 20s on %d bytes", len(data))
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || !errors.Is(err, engine.ErrStateCorrupt) {
				t.Fatalf("Read: %v (%T), want a *CorruptError wrapping ErrStateCorrupt", err, err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.state") || ce.Msg == "" || ce.Line < 0 || ce.Col < 0 {
				t.Fatalf("Read: unclear error %q (%+v)", err, ce)
			}
			return
		}
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			t.Fatalf("Read accepts %q, but Write refuses the state: %v", data, err)
		}
		again, err := Read(ctx, &b, "rewritten.state")
		if err != nil {
			t.Fatalf("Read accepts %q, but not what Write makes of it: %v\n%s", data, err, b.Bytes())
		}
		if diff := cmp.Diff(s, again); diff != "" {
			t.Fatalf("%q: the state changes once written and read back (-read +again):\n%s", data, diff)
		}
	})
}

// FuzzLoadJournal loads a state file and a journal left beside it by a
// crashed apply: File.Load never panics, fails only with errors that say
// which file is wrong, and a state it returns can be saved.
func FuzzLoadJournal(f *testing.F) {
	seeds := stateSeeds(f)
	journals := []string{
		`{"journal_version":"1","lineage":"` + testLineage + `"}` + "\n" +
			`{"address":"bonifiq/1001","set":{"email":"new@b.c"}}` + "\n" +
			`{"address":"tomticket/9","set":{"name":"Nove"},"ids":{"id_type":"E"}}` + "\n" +
			`{"address":"bonifiq/1001","managed":["email"]}` + "\n" +
			`{"address":"invisiblecollector/a/b c","delete":true}` + "\n",
		`{"journal_version":"1","lineage":"` + testLineage + `"}` + "\n" + `{"address":"bonifiq/1","set":{"n":1}}` + "\n" + `{"addr`,
		`{"journal_version":"1","lineage":"` + testLineage + `"}` + "\n" + `{"address":"hubspot/1","set":{"n":1}}` + "\n",
		`{"journal_version":"2"}`,
		"",
	}
	for i, s := range seeds {
		f.Add(s, []byte(journals[i%len(journals)]))
	}
	for _, j := range journals {
		f.Add(seeds[0], []byte(j))
	}
	f.Fuzz(func(t *testing.T, stateData, journal []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "reconcile.state.json")
		if len(stateData) > 0 || len(journal)%2 == 0 { // also: no state file, only a journal
			if err := os.WriteFile(path, stateData, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(path+".journal", journal, 0o600); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		file := NewFile(path)
		s, err := file.Load(ctx)
		if err != nil {
			if !errors.Is(err, engine.ErrStateCorrupt) {
				t.Fatalf("Load: %v (%T), want an error wrapping ErrStateCorrupt", err, err)
			}
			if !strings.HasPrefix(err.Error(), path) {
				t.Fatalf("Load: %q does not name the file", err)
			}
			return
		}
		var b bytes.Buffer
		if err := Write(&b, s); err != nil {
			t.Fatalf("Load accepts the state %q and journal %q, but the state cannot be saved: %v", stateData, journal, err)
		}
	})
}
