package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/enginetest"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// TestMarkdownStaysUnderGitHubsLimit renders plans of every size and checks
// that the comment fits GitHub's 65,536 characters, keeps changes of every
// action, and says how many are not shown.
func TestMarkdownStaysUnderGitHubsLimit(t *testing.T) {
	for _, n := range []int{1, 100, 5000, 200000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := &engine.Plan{Registry: registry.Default(), Providers: map[string]engine.ProviderConfig{}}
			for i := range n {
				id := fmt.Sprintf("%07d", i)
				ch := &engine.Change{Address: "bonifiq/" + id, Provider: "bonifiq", ID: id, Source: "m.csv:" + fmt.Sprint(i+2),
					Calls: []engine.Call{{Method: "PUT", Path: "/v1/pvt/Customer/" + id}}}
				if i%3 == 0 {
					ch.Action = engine.ActionForget
					p.Summary.Forget++
				} else {
					ch.Action = engine.ActionUpdate
					old := engine.String("old <b>|" + id)
					ch.Fields = []engine.FieldChange{{Name: "email", Before: &old, After: engine.String("new|" + id + "@example.com")}}
					p.Summary.Update++
				}
				p.Changes = append(p.Changes, ch)
			}
			var b strings.Builder
			if err := renderMarkdown(&b, p, ""); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if len([]rune(out)) >= markdownLimit {
				t.Fatalf("%d changes: %d characters, want fewer than %d", n, len([]rune(out)), markdownLimit)
			}
			if strings.Contains(out, "<b>") || regexp.MustCompile(`[^\\]\|[0-9]`).MatchString(out) {
				t.Errorf("unescaped HTML or pipe in the comment")
			}
			shownUpdates := strings.Count(out, "| ~ |")
			shownForgets := strings.Count(out, "| - |")
			if n >= 3 && (shownUpdates == 0 || shownForgets == 0) {
				t.Errorf("%d changes: shows %d updates and %d forgets, want some of each", n, shownUpdates, shownForgets)
			}
			if shownUpdates+shownForgets < n {
				more := fmt.Sprintf("%d more to update, %d more to forget not shown", p.Summary.Update-shownUpdates, p.Summary.Forget-shownForgets)
				if !strings.Contains(out, more) {
					t.Errorf("%d changes, %d shown: the comment does not say %q", n, shownUpdates+shownForgets, more)
				}
			}
		})
	}
}

// TestAppendValueQuotesAsGo: the plain-ASCII shortcut gives what
// strconv.Quote gives, for every byte.
func TestAppendValueQuotesAsGo(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, s := range []string{string(rune(c)), "a" + string([]byte{byte(c)}) + "b", "Maria " + string(rune(c))} {
			if got, want := string(appendValue(nil, engine.String(s))), strconv.Quote(s); got != want {
				t.Errorf("appendValue(%q) = %s, want %s", s, got, want)
			}
		}
	}
}

// TestMarkdownOfCreatesStreams: the pull-request comment of a plan of
// 80,000 creates (a lazy plan: no state) allocates no more than the human
// view of it, which streams: the call estimate at its head counts the
// creates in reused memory, and its rows are of the first segments only.
func TestMarkdownOfCreatesStreams(t *testing.T) {
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "customers.csv")
	if err := enginetest.WriteCSV(csvPath, 40_000); err != nil {
		t.Fatal(err)
	}
	allocated := func(view ...string) (uint64, string) {
		var out strings.Builder
		var errb strings.Builder
		args := append([]string{"plan", "-no-color", "-f", csvPath, "-state", filepath.Join(dir, "none.json")}, view...)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		if code := run(t.Context(), args, nil, &out, &errb, func(string) string { return "" }); code != 0 {
			t.Fatalf("plan %v: exit %d: %s", view, code, errb.String())
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc, out.String()
	}
	human, _ := allocated()
	md, out := allocated("-markdown")
	if !strings.Contains(out, "80,000 to create") && !strings.Contains(out, "80000") {
		t.Fatalf("the comment does not count the creates:\n%.600s", out)
	}
	t.Logf("allocated: human view %d bytes, comment %d bytes", human, md)
	// The human view's output (about 13 MB) is in a strings.Builder here,
	// which the comment (under 64 KiB) does not fill.
	if md > human {
		t.Errorf("the comment allocates %d bytes, the human view %d: it keeps what it counts", md, human)
	}
}
