package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// transcript is a console session in README.md: commands ("$ ...") and the
// lines they print, where a line "..." stands for lines left out and "…"
// in a line for text that varies from run to run.
type transcript struct {
	cmd  string
	want []string
}

// readTranscript reads the quick-start transcript of README.md.
func readTranscript(t *testing.T, readme string) []transcript {
	t.Helper()
	_, rest, ok := strings.Cut(readme, "<!-- quick-start transcript -->\n```console\n")
	if !ok {
		t.Fatal("README.md has no quick-start transcript")
	}
	block, _, ok := strings.Cut(rest, "\n```\n")
	if !ok {
		t.Fatal("the quick-start transcript does not end")
	}
	var out []transcript
	for _, l := range strings.Split(block, "\n") {
		if cmd, ok := strings.CutPrefix(l, "$ "); ok {
			out = append(out, transcript{cmd: cmd})
			continue
		}
		if len(out) == 0 {
			t.Fatalf("the transcript starts with %q, not a command", l)
		}
		out[len(out)-1].want = append(out[len(out)-1].want, l)
	}
	return out
}

// lineMatches reports whether got is the transcript's line want ("…" in
// want matches any text).
func lineMatches(want, got string) bool {
	if !strings.Contains(want, "…") {
		return want == got
	}
	parts := strings.Split(want, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$").MatchString(got)
}

// matchTranscript checks that got (the output's lines) is what want shows:
// its first lines at the start, its last ones (unless it ends with "...")
// at the end, and the groups between "..." in order.
func matchTranscript(want, got []string) (bool, string) {
	var groups [][]string
	groups = append(groups, nil)
	for _, l := range want {
		if l == "..." {
			groups = append(groups, nil)
			continue
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], l)
	}
	at := func(i int, g []string) bool {
		if i < 0 || i+len(g) > len(got) {
			return false
		}
		for j, w := range g {
			if !lineMatches(w, got[i+j]) {
				return false
			}
		}
		return true
	}
	pos := 0
	for gi, g := range groups {
		switch {
		case len(g) == 0:
		case gi == 0:
			if !at(0, g) || len(groups) == 1 && len(g) != len(got) {
				return false, "the output does not start with " + strings.Join(g, "\n")
			}
			pos = len(g)
		case gi == len(groups)-1:
			if i := len(got) - len(g); i < pos || !at(i, g) {
				return false, "the output does not end with " + strings.Join(g, "\n")
			}
		default:
			found := false
			for i := pos; i+len(g) <= len(got); i++ {
				if at(i, g) {
					pos, found = i+len(g), true
					break
				}
			}
			if !found {
				return false, "the output does not go on with " + strings.Join(g, "\n")
			}
		}
	}
	return true, ""
}

// TestReadmeQuickStart keeps README.md's quick-start transcript true: the
// first command, run as a new user runs it (the example manifests, no
// state, no environment), prints exactly the lines the transcript shows,
// stdout and stderr as a terminal interleaves them; the lines it shows of
// the test command name the module's first packages, in go test's order,
// with or without tests as they are.
func TestReadmeQuickStart(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sessions := readTranscript(t, string(readme))
	if len(sessions) != 2 {
		t.Fatalf("the transcript has %d commands, want the quick start's two", len(sessions))
	}

	// 1. The sandbox apply, in a fresh copy of the example manifests.
	apply := sessions[0]
	args, ok := strings.CutPrefix(apply.cmd, "go run ./cmd/reconcile ")
	if !ok || apply.cmd != "go run ./cmd/reconcile apply -sandbox -auto-approve" || !strings.Contains(string(readme), "```sh\n"+apply.cmd+" ") {
		t.Fatalf("the transcript's first command %q is not the quick start's", apply.cmd)
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "manifests"), os.DirFS(filepath.Join(repo, "manifests"))); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var out bytes.Buffer // stdout and stderr, in the order they are written
	code := run(context.Background(), strings.Fields(args), strings.NewReader(""), &out, &out, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("%s exited %d:\n%s", apply.cmd, code, out.String())
	}
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if ok, why := matchTranscript(apply.want, got); !ok {
		t.Errorf("README.md's transcript of %q is not what it prints: %s\n--- it prints:\n%s", apply.cmd, why, out.String())
	}

	// 2. The test command: its lines name the first packages, in order.
	test := sessions[1]
	if test.cmd != "go vet ./... && go test -race ./..." || !strings.Contains(string(readme), "\n"+test.cmd+" ") {
		t.Fatalf("the transcript's second command %q is not the quick start's", test.cmd)
	}
	list := exec.Command("go", "list", "-f", "{{.ImportPath}} {{len .TestGoFiles}} {{len .XTestGoFiles}}", "./...")
	list.Dir = repo
	listed, err := list.Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	var pkgs []string
	for _, l := range strings.Split(strings.TrimSpace(string(listed)), "\n") {
		f := strings.Fields(l)
		if f[1] == "0" && f[2] == "0" {
			pkgs = append(pkgs, "?   \t"+f[0]+"\t[no test files]")
		} else {
			pkgs = append(pkgs, "ok  \t"+f[0]+"\t…s")
		}
	}
	shown := test.want
	if len(shown) == 0 || shown[len(shown)-1] != "..." {
		t.Fatalf("the transcript of %q should end with ...", test.cmd)
	}
	shown = shown[:len(shown)-1]
	if len(shown) > len(pkgs) {
		t.Fatalf("the transcript shows %d packages; the module has %d", len(shown), len(pkgs))
	}
	for i, l := range shown {
		if !lineMatches(pkgs[i], l) || strings.HasPrefix(l, "ok") && !regexp.MustCompile(`\t\d+\.\d{3}s$`).MatchString(l) {
			t.Errorf("the transcript's line %d of go test is %q; go test prints %q there", i+1, l, pkgs[i])
		}
	}
}

// TestTranscriptMatching: the matcher fails what it must.
func TestTranscriptMatching(t *testing.T) {
	got := []string{"a", "b", "c", "d", "e"}
	for _, tc := range []struct {
		want []string
		ok   bool
	}{
		{[]string{"a", "b", "...", "e"}, true},
		{[]string{"a", "...", "c", "...", "e"}, true},
		{[]string{"a", "…", "...", "d", "e"}, true},
		{[]string{"b", "...", "e"}, false},
		{[]string{"a", "...", "d"}, false},
		{[]string{"a", "...", "x", "...", "e"}, false},
		{[]string{"a", "b", "c"}, false},
	} {
		if ok, _ := matchTranscript(tc.want, got); ok != tc.ok {
			t.Errorf("%q against %q: %v, want %v", tc.want, got, ok, tc.ok)
		}
	}
}
