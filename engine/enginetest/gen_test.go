package enginetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
)

// TestGenStateIsWrite checks that the streamed state files are, byte for
// byte, what state.Write writes for the same states in memory, and that
// they load back as those states.
func TestGenStateIsWrite(t *testing.T) {
	type gen struct {
		name   string
		state  *engine.State
		stream func(w *bytes.Buffer, lineage string) error
	}
	var gens []gen
	for _, n := range []int{0, 1, 7, 1000} {
		for _, every := range []int{0, 1, 3, 100} {
			gens = append(gens, gen{fmt.Sprintf("State(%d,%d)", n, every), State(n, every),
				func(w *bytes.Buffer, lineage string) error { return WriteState(w, lineage, n, every) }})
		}
		gens = append(gens, gen{fmt.Sprintf("OneCallState(%d)", n), OneCallState(n),
			func(w *bytes.Buffer, lineage string) error { return WriteOneCallState(w, lineage, n) }})
	}
	for _, g := range gens {
		t.Run(g.name, func(t *testing.T) {
			var want, got bytes.Buffer
			if err := state.Write(&want, g.state); err != nil {
				t.Fatal(err)
			}
			if err := g.stream(&got, g.state.Lineage); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("streamed state differs from state.Write's:\n got %.600s\nwant %.600s", got.Bytes(), want.Bytes())
			}
			path := filepath.Join(t.TempDir(), "state.json")
			if err := os.WriteFile(path, got.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			loaded, err := state.NewFile(path).Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if loaded.Lineage != g.state.Lineage || loaded.Serial != g.state.Serial {
				t.Errorf("loaded lineage %s serial %d, want %s %d", loaded.Lineage, loaded.Serial, g.state.Lineage, g.state.Serial)
			}
			if len(loaded.Resources) != len(g.state.Resources) {
				t.Fatalf("loaded %d addresses, want %d", len(loaded.Resources), len(g.state.Resources))
			}
			for addr, e := range g.state.Resources {
				if !reflect.DeepEqual(loaded.Resources[addr], e) {
					t.Fatalf("%s: loaded %+v, want %+v", addr, loaded.Resources[addr], e)
				}
			}
		})
	}
}

// TestGenStateFile checks the file writers: a fresh lineage each, and a
// file that loads.
func TestGenStateFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	if err := WriteStateFile(a, 50, 10); err != nil {
		t.Fatal(err)
	}
	if err := WriteOneCallStateFile(b, 50); err != nil {
		t.Fatal(err)
	}
	sa, err := state.NewFile(a).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := state.NewFile(b).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sa.Resources) != 100 || len(sb.Resources) != 50 || sa.Lineage == sb.Lineage {
		t.Fatalf("got %d and %d addresses, lineages %s and %s", len(sa.Resources), len(sb.Resources), sa.Lineage, sb.Lineage)
	}
}

// TestGenIDOrder checks the byte order of ids across a change in their
// number of digits (at a million customers: 999999, then 1000000).
func TestGenIDOrder(t *testing.T) {
	order := idOrderFrom(990, 20) // 990..1009
	want := []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for k, i := range order {
		if int(i) != want[k] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
	for k := 1; k < len(order); k++ {
		if a, b := strconv.Itoa(990+int(order[k-1])), strconv.Itoa(990+int(order[k])); a >= b {
			t.Fatalf("%s before %s", a, b)
		}
	}
}

// TestGenOneCallCSV checks the one-call manifest's shape: its header and
// one line per customer, with State's e-mails newer than OneCallState's.
func TestGenOneCallCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.csv")
	if err := WriteOneCallCSV(path, 3); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := OneCallCSVHeader + "\n" +
		"100000,Customer 100000,customer100000@example.com,false\n" +
		"100001,Customer 100001,customer100001@example.com,true\n" +
		"100002,Customer 100002,customer100002@example.com,true\n"
	if string(b) != want {
		t.Fatalf("got\n%s\nwant\n%s", b, want)
	}
	e := OneCallState(3).Resources["bonifiq/100001"]
	if v, _ := e.Fields.Get("email"); v.S != "old.customer100001@example.com" {
		t.Fatalf("state e-mail %q", v.S)
	}
}
