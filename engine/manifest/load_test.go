package manifest

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// loadCase is one table test of Load: files written to a temporary
// directory (which is the working directory, so paths read as written),
// the paths given to Load, and what must come back.
type loadCase struct {
	name  string
	files map[string]string
	// paths default to the files at the top of the directory, in name order.
	paths []string
	// want lists every diagnostic, as Diagnostic.String renders it.
	want []string
	// customers, when not nil, is every customer loaded, in order.
	customers []*engine.Customer
	// files, when not nil, is Desired.Files.
	loaded []string
}

func runLoadCases(t *testing.T, tests []loadCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var top []string
			for name, content := range tc.files {
				p := filepath.Join(dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(name, "/") {
					top = append(top, name)
				}
			}
			slices.Sort(top)
			paths := tc.paths
			if paths == nil {
				paths = top
			}
			t.Chdir(dir)
			d, diags := Load(registry.Default(), paths)
			if d == nil {
				t.Fatal("Load returned a nil Desired")
			}
			got := make([]string, len(diags))
			for i, dg := range diags {
				got[i] = dg.String()
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
			if tc.customers != nil {
				if diff := cmp.Diff(tc.customers, d.Customers, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("customers (-want +got):\n%s", diff)
				}
			}
			if tc.loaded != nil {
				if diff := cmp.Diff(tc.loaded, d.Files); diff != "" {
					t.Errorf("files (-want +got):\n%s", diff)
				}
			}
			if len(d.Providers) != len(registry.Default().Names()) {
				t.Errorf("providers = %v, want all of %v", d.Providers, registry.Default().Names())
			}
		})
	}
}

// cust builds an expected customer: pos is "FILE:LINE:COL", managed lists
// provider names, kv alternates field names and values (string, bool, int or
// nil for null).
func cust(id, pos string, managed []string, kv ...any) *engine.Customer {
	c := &engine.Customer{ID: id, Pos: parsePos(pos)}
	for _, p := range managed {
		c.Managed |= 1 << registry.Default().Index(p)
	}
	for i := 0; i < len(kv); i += 2 {
		var v engine.Value
		switch x := kv[i+1].(type) {
		case nil:
			v = engine.Null()
		case string:
			v = engine.String(x)
		case bool:
			v = engine.Bool(x)
		case int:
			v = engine.Int(int64(x))
		default:
			panic("cust: bad value")
		}
		c.Fields = c.Fields.Set(kv[i].(string), v)
	}
	return c
}

func parsePos(s string) engine.Pos {
	parts := strings.Split(s, ":")
	col, _ := strconv.Atoi(parts[len(parts)-1])
	line, _ := strconv.Atoi(parts[len(parts)-2])
	return engine.Pos{File: strings.Join(parts[:len(parts)-2], ":"), Line: int32(line), Col: int32(col)}
}

var (
	bq = []string{"bonifiq"}
	ic = []string{"invisiblecollector"}
	tt = []string{"tomticket"}
)

func TestLoadFiles(t *testing.T) {
	one := "customers:\n  - id: \"1\"\n    bonifiq: {}\n"
	runLoadCases(t, []loadCase{
		{
			name:  "missing path",
			files: map[string]string{"a.yaml": one},
			paths: []string{"nope", "a.yaml", "gone/x.csv"},
			want: []string{
				"gone/x.csv: no such file or directory",
				"nope: no such file or directory",
			},
			loaded: []string{"a.yaml"},
		},
		{
			name: "directory in name order, dot-files and other files skipped",
			files: map[string]string{
				"m/b.yaml":       "customers:\n  - id: \"2\"\n    bonifiq: {}\n",
				"m/a.csv":        "id,bonifiq.enrolled\n1,true\n",
				"m/c.yml":        "customers:\n  - id: \"3\"\n    bonifiq: {}\n",
				"m/.hidden.yaml": "not: [valid",
				"m/notes.txt":    "hello",
				"m/sub/d.yaml":   "not: [valid",
			},
			paths:  []string{"m"},
			loaded: []string{"m/a.csv", "m/b.yaml", "m/c.yml"},
			want:   []string{`m: note: skipped files that are not manifests: "notes.txt" (a directory contributes its *.yaml, *.yml, *.csv and *.xlsx files; name another file with -f, or save .xls workbooks as .xlsx)`},
			customers: []*engine.Customer{
				cust("1", "m/a.csv:2:1", bq, "bonifiq.enrolled", true),
				cust("2", "m/b.yaml:2:9", bq),
				cust("3", "m/c.yml:2:9", bq),
			},
		},
		{
			name:   "paths in the order given, a file named twice read once",
			files:  map[string]string{"m/a.yaml": one, "b.yaml": "customers:\n  - id: \"2\"\n    bonifiq: {}\n"},
			paths:  []string{"b.yaml", "m", "m/a.yaml"},
			loaded: []string{"b.yaml", "m/a.yaml"},
		},
		{
			name:  "empty directory",
			files: map[string]string{"m/x.txt": ""},
			paths: []string{"m"},
			want: []string{
				"m: no manifests in this directory (put customers in *.yaml, *.yml, *.csv or *.xlsx files there, or name the files with -f)",
				`m: note: skipped files that are not manifests: "x.txt" (a directory contributes its *.yaml, *.yml, *.csv and *.xlsx files; name another file with -f, or save .xls workbooks as .xlsx)`,
			},
		},
		{
			name: "empty files",
			files: map[string]string{
				"a.yaml": "",
				"b.yaml": "# only a comment\n",
				"c.yaml": "customers: []\nproviders: {}\n",
				"d.yaml": "---\n",
				"e.csv":  "",
				"f.csv":  "id,bonifiq.enrolled\n",
				"g.csv":  "\n\n",
				"h.yaml": "customers:\n",
			},
			want: []string{
				"a.yaml: empty manifest: no customers, providers or sources",
				"b.yaml: empty manifest: no customers, providers or sources",
				"c.yaml: empty manifest: no customers, providers or sources",
				"d.yaml: empty manifest: no customers, providers or sources",
				"e.csv: empty manifest: no header row (the first row names the columns, such as id,name,email,bonifiq.enrolled)",
				"f.csv: empty manifest: a header row and no customers",
				"g.csv: empty manifest: no header row (the first row names the columns, such as id,name,email,bonifiq.enrolled)",
				"h.yaml: empty manifest: no customers, providers or sources",
			},
		},
		{
			name:  "a manifest with only providers or sources is not empty",
			files: map[string]string{"a.yaml": "providers:\n  bonifiq: {rate_limit: 2}\n"},
		},
		{
			name: "duplicate ids across files",
			files: map[string]string{
				"a.yaml": "customers:\n- id: \"7001\"\n  bonifiq: {}\n",
				"b.yaml": "customers:\n  - id: \"7002\"\n    bonifiq: {}\n\n  - id: \"7001\"\n    bonifiq: {}\n",
				"c.csv":  "name,id,tomticket.language\nAna,7002,pt-BR\n",
			},
			want: []string{
				`b.yaml:5:9: duplicate id "7001" (first at a.yaml:2:7)`,
				`c.csv:2:5: duplicate id "7002" (first at b.yaml:2:9)`,
			},
			customers: []*engine.Customer{cust("7001", "a.yaml:2:7", bq), cust("7002", "b.yaml:2:9", bq)},
		},
		{
			name: "ids differing in letter case",
			files: map[string]string{
				"a.yaml": "customers:\n- id: ABC\n  bonifiq: {}\n- id: abc\n  bonifiq: {}\n- id: Abc\n  bonifiq: {}\n- id: abc\n  bonifiq: {}\n- id: ÁBC\n  bonifiq: {}\n- id: ábc\n  bonifiq: {}\n",
			},
			want: []string{
				`a.yaml:4:7: warning: id "abc" differs only in letter case from "ABC" (at a.yaml:2:7) (services that match e-mail addresses ignore case, so both may reach the same customer)`,
				`a.yaml:6:7: warning: id "Abc" differs only in letter case from "ABC" (at a.yaml:2:7) (services that match e-mail addresses ignore case, so both may reach the same customer)`,
				`a.yaml:8:7: duplicate id "abc" (first at a.yaml:4:7)`,
				`a.yaml:12:7: warning: id "ábc" differs only in letter case from "ÁBC" (at a.yaml:10:7) (services that match e-mail addresses ignore case, so both may reach the same customer)`,
			},
		},
		{
			name:  "diagnostics sorted by file order, then position",
			files: map[string]string{"b.yaml": "customers:\n- id: \"1\"\n  emial: x\n  bonifiq: {}\n", "a.yaml": "customers:\n- id: \"2\"\n  nme: x\n  bonifiq: {enroled: true}\n"},
			paths: []string{"b.yaml", "a.yaml"},
			want: []string{
				`b.yaml:3:3: customers[0].emial: unknown key (did you mean "email"?)`,
				`a.yaml:3:3: customers[0].nme: unknown key (did you mean "name"?)`,
				`a.yaml:4:13: customers[0].bonifiq.enroled: unknown key (did you mean "enrolled"?)`,
			},
		},
	})
}

func TestLoadProviders(t *testing.T) {
	runLoadCases(t, []loadCase{
		{
			name: "settings",
			files: map[string]string{"a.yaml": `providers:
  bonifiq:
    rate_limit: 2.5
    burst: 3
    concurrency: 8
    max_retries: 0
    timeout: 1m30s
    base_url: https://api.bonifiq.com.br
    on_remove: disable
  tomticket:
    base_url: http://127.0.0.1:8080/tomticket/v2.0
`},
		},
		{
			name: "invalid settings",
			files: map[string]string{"a.yaml": `providers:
  bonifiq:
    rate_limit: 0
    burst: 0
    concurrency: many
    max_retries: -1
    timeout: 30
    base_url: http://api.bonifiq.com.br
    on_remove: delete
    retries: 3
  tomticket:
    rate_limit: fast
    timeout: 0s
    on_remove: disable
    base_url: https://user:pw@x.example
  invisiblecollector:
    base_url: api.example.com
    concurrency: ~
  bonifik: {}
  zendesk: {}
`},
			want: []string{
				"a.yaml:3:17: providers.bonifiq.rate_limit: must be greater than 0 (requests per second, such as 5 or 0.5)",
				"a.yaml:4:12: providers.bonifiq.burst: must be at least 1",
				`a.yaml:5:18: providers.bonifiq.concurrency: invalid integer "many" (write a whole number such as 4)`,
				"a.yaml:6:18: providers.bonifiq.max_retries: must be at least 0",
				`a.yaml:7:14: providers.bonifiq.timeout: invalid duration "30" (write a duration with its unit, such as 30s or 1m30s)`,
				`a.yaml:8:15: providers.bonifiq.base_url: "http://api.bonifiq.com.br" must use https (http:// is allowed only on a loopback host (127.0.0.1, ::1, localhost))`,
				`a.yaml:9:16: providers.bonifiq.on_remove: invalid value "delete" (use forget or disable)`,
				`a.yaml:10:5: providers.bonifiq.retries: unknown key`,
				`a.yaml:12:17: providers.tomticket.rate_limit: invalid number "fast" (requests per second, such as 5 or 0.5)`,
				"a.yaml:13:14: providers.tomticket.timeout: must be greater than 0",
				"a.yaml:14:16: providers.tomticket.on_remove: disable is supported only by bonifiq (tomticket can only forget customers that leave the manifests)",
				"a.yaml:15:15: providers.tomticket.base_url: must not hold credentials (credentials come only from the environment)",
				`a.yaml:17:15: providers.invisiblecollector.base_url: invalid URL "api.example.com" (write an absolute URL such as https://api.example.com)`,
				"a.yaml:18:18: providers.invisiblecollector.concurrency: needs a value (leave the key out to use the default)",
				`a.yaml:19:3: providers.bonifik: unknown provider (did you mean "bonifiq"?)`,
				"a.yaml:20:3: providers.zendesk: unknown provider (the providers are bonifiq, invisiblecollector, tomticket)",
			},
		},
		{
			name: "loopback hosts may use http",
			files: map[string]string{"a.yaml": `providers:
  bonifiq: {base_url: "http://localhost:9000"}
  tomticket: {base_url: "http://127.0.0.5/x"}
  invisiblecollector: {base_url: "http://[::1]:8080/"}
`},
		},
		{
			name: "a provider configured twice",
			files: map[string]string{
				"a.yaml": "providers:\n  tomticket: {rate_limit: 2}\n  tomticket: {rate_limit: 1}\n",
				"b.yaml": "providers:\n  tomticket:\n",
			},
			want: []string{
				"a.yaml:3:3: providers.tomticket: configured twice (first at a.yaml:2:3) (configure each provider once, in one manifest)",
				"b.yaml:2:3: providers.tomticket: configured twice (first at a.yaml:2:3) (configure each provider once, in one manifest)",
			},
		},
	})

	t.Run("values", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "a.yaml")
		os.WriteFile(p, []byte("providers:\n  bonifiq:\n    rate_limit: 2.5\n    burst: 3\n    concurrency: 8\n    max_retries: 0\n    timeout: 1m30s\n    base_url: https://b.example/api\n    on_remove: disable\n  tomticket: {}\n"), 0o644)
		d, diags := Load(registry.Default(), []string{p})
		if len(diags) > 0 {
			t.Fatal(diags)
		}
		want := map[string]engine.ProviderConfig{
			"bonifiq": {RateLimit: 2.5, Burst: 3, Concurrency: 8, MaxRetries: 0, Timeout: 90 * time.Second,
				BaseURL: "https://b.example/api", OnRemove: engine.OnRemoveDisable, Pos: engine.Pos{File: p, Line: 2, Col: 3}},
			"invisiblecollector": registry.Default().DefaultConfig("invisiblecollector"),
			"tomticket":          withPos(registry.Default().DefaultConfig("tomticket"), engine.Pos{File: p, Line: 10, Col: 3}),
		}
		if diff := cmp.Diff(want, d.Providers); diff != "" {
			t.Errorf("providers (-want +got):\n%s", diff)
		}
	})
}

func withPos(c engine.ProviderConfig, p engine.Pos) engine.ProviderConfig {
	c.Pos = p
	return c
}
