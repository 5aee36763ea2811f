package manifest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"
	"go.yaml.in/yaml/v3"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// fuzzSeeds returns the example manifests and the manifests of the CLI
// scripts whose names end in ext (".yaml" or ".csv"), and the malformed
// corpus's inputs of that kind.
func fuzzSeeds(f *testing.F, ext string) [][]byte {
	f.Helper()
	var seeds [][]byte
	add := func(name string, data []byte) {
		if strings.EqualFold(filepath.Ext(name), ext) || (ext == ".yaml" && strings.EqualFold(filepath.Ext(name), ".yml")) {
			seeds = append(seeds, data)
		}
	}
	for _, pattern := range []string{"../../manifests/*", "../../manifests/export/*", "../../testdata/malformed/*"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			if fi, err := os.Stat(name); err != nil || !fi.Mode().IsRegular() || fi.Size() > 1<<20 {
				continue
			}
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			add(name, data)
		}
	}
	scripts, err := filepath.Glob("../../cmd/reconcile/testdata/script/*.txtar")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range scripts {
		ar, err := txtar.ParseFile(s)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range ar.Files {
			add(file.Name, file.Data)
		}
	}
	if len(seeds) < 3 {
		f.Fatalf("found %d %s seeds; the example manifests are missing", len(seeds), ext)
	}
	return seeds
}

// wholeFile lists the summaries of errors about a file as a whole, which
// have no line.
var wholeFile = []string{
	"empty manifest",
	"UTF-16 is not supported",
	"cannot read",
	"no such file or directory",
	"not an .xlsx workbook",
}

// loadBounded runs Load on paths and fails the test if it takes longer
// than a generous bound (a hang, or a blow-up on a small input).
func loadBounded(t *testing.T, paths []string) engine.Diagnostics {
	t.Helper()
	type result struct {
		d  *engine.Desired
		ds engine.Diagnostics
	}
	done := make(chan result, 1)
	go func() {
		d, ds := Load(registry.Default(), paths)
		done <- result{d, ds}
	}()
	select {
	case r := <-done:
		if r.d == nil {
			t.Fatal("Load returned a nil Desired")
		}
		return r.ds
	case <-time.After(20 * time.Second):
		t.Fatalf("Load(registry.Default(), %q) did not finish in 20s", paths)
	}
	return nil
}

// checkDiagnostics asserts that every error is positioned in one of files,
// on a line, unless it is about a file as a whole.
func checkDiagnostics(t *testing.T, ds engine.Diagnostics, input []byte, files ...string) {
	t.Helper()
	for _, d := range ds {
		if d.Summary == "" {
			t.Errorf("diagnostic without a summary: %#v", d)
		}
		if d.Severity != engine.Error {
			continue
		}
		if !contains(files, d.Pos.File) {
			t.Errorf("%q: error %q is in file %q, want one of %q", input, d, d.Pos.File, files)
		}
		if d.Pos.Line < 0 || d.Pos.Col < 0 || (d.Pos.Line == 0 && d.Pos.Col != 0) {
			t.Errorf("%q: error %q has position %+v", input, d, d.Pos)
		}
		if d.Pos.Line == 0 && !hasAnyPrefix(d.Summary, wholeFile) {
			t.Errorf("%q: error %q has no line", input, d)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// namesSources reports whether a YAML document mentions sources anywhere:
// a fuzzed manifest could then name any file on the machine (/dev/zero),
// which is the user's choice and not what these tests are about.
func namesSources(data []byte) bool {
	var doc yaml.Node
	if yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc) != nil {
		return false // Load reads the first document only, as here
	}
	var walk func(n *yaml.Node, depth int) bool
	walk = func(n *yaml.Node, depth int) bool {
		if n == nil || depth > 200 {
			return false
		}
		if strings.Contains(n.Value, "sources") {
			return true
		}
		for _, c := range n.Content {
			if walk(c, depth+1) {
				return true
			}
		}
		return false
	}
	return walk(&doc, 0)
}

// FuzzLoadYAML loads arbitrary bytes as a YAML manifest: Load never panics
// or hangs, and every error it reports is positioned in the file.
func FuzzLoadYAML(f *testing.F) {
	for _, s := range fuzzSeeds(f, ".yaml") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if namesSources(data) {
			t.Skip("names other files")
		}
		path := filepath.Join(t.TempDir(), "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		checkDiagnostics(t, loadBounded(t, []string{path}), data, path)
	})
}

// FuzzLoadCSV loads arbitrary bytes as a CSV manifest, named with -f (with
// canonical headers) or through a YAML manifest's sources entry that maps
// headings (and, with windows1252, decodes it): Load never panics or hangs,
// and every error it reports is positioned in the CSV or the manifest.
func FuzzLoadCSV(f *testing.F) {
	for _, s := range fuzzSeeds(f, ".csv") {
		f.Add(s, false, false)
		f.Add(s, true, false)
	}
	f.Add([]byte("Código;Nome;Nível\n1;a;2\n"), true, true)
	f.Fuzz(func(t *testing.T, data []byte, viaSource, windows1252 bool) {
		dir := t.TempDir()
		path := filepath.Join(dir, "fuzz.csv")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if !viaSource {
			checkDiagnostics(t, loadBounded(t, []string{path}), data, path)
			return
		}
		manifest := filepath.Join(dir, "m.yaml")
		enc := "utf-8"
		if windows1252 {
			enc = "windows-1252"
		}
		m := `sources:
  - file: fuzz.csv
    encoding: ` + enc + `
    columns:
      "Código": id
      "Nome": name
      "E-mail": email
      "Telefone": phone
      "Participa": bonifiq.enrolled
      "Nível": bonifiq.tier.id
      "Aniversário": bonifiq.birthday
      "Idioma": tomticket.language
      "Campo": tomticket.custom_fields.cf_x
    defaults:
      bonifiq.enabled: true
`
		if err := os.WriteFile(manifest, []byte(m), 0o600); err != nil {
			t.Fatal(err)
		}
		checkDiagnostics(t, loadBounded(t, []string{manifest}), data, path, manifest)
	})
}
