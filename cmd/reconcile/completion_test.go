package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// bashCompletionPackage is where Debian's bash-completion package keeps its
// functions (apt-get install bash-completion; .ci/run installs it).
const bashCompletionPackage = "/usr/share/bash-completion/bash_completion"

// bashDriver completes a command line the way bash does on TAB: it loads
// bash-completion when asked, then reconcile's script, sets the COMP_*
// variables bash sets, calls the completion function the script registered
// for reconcile, and prints what it offers, one per line.
const bashDriver = `
if [[ $1 == with ]]; then
    source "$BASH_COMPLETION_PACKAGE" || exit 3
fi
source "$RECONCILE_COMPLETION" || exit 4
fn=$(complete -p reconcile | sed -n 's/.*-F \([^ ]*\) reconcile$/\1/p')
[[ -n $fn ]] || { echo "no completion function registered for reconcile" >&2; exit 5; }
COMP_LINE=$2
COMP_POINT=${#COMP_LINE}
read -r -a COMP_WORDS <<<"$COMP_LINE"
if [[ $COMP_LINE == *" " ]]; then COMP_WORDS+=(""); fi
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_TYPE=9
COMPREPLY=()
"$fn" reconcile "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
`

// TestBashCompletion drives reconcile's bash completion in a real bash,
// with and without the bash-completion package: subcommands, one-dash long
// flags, and the addresses of the state for -target and the state commands.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	// reconcile, on the PATH: this test binary running main (TestMain).
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(bin, "reconcile"), "#!/bin/sh\n"+mainEnv+"=1 exec '"+self+"' \"$@\"\n")
	if err := os.Chmod(filepath.Join(bin, "reconcile"), 0o755); err != nil {
		t.Fatal(err)
	}
	var script bytes.Buffer
	if code := run(context.Background(), []string{"completion", "bash"}, strings.NewReader(""), &script, os.Stderr, func(string) string { return "" }); code != 0 {
		t.Fatalf("completion bash exited %d", code)
	}
	writeFile(t, filepath.Join(dir, "completion.bash"), script.String())
	writeFile(t, filepath.Join(dir, "driver.bash"), bashDriver)
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(work, "reconcile.state.json"), `{"format_version":"1","lineage":"6f1c0c8e-7a1b-4c2d-9e3f-0a1b2c3d4e5f","serial":3,"resources":3}
{"address":"bonifiq/1001","fields":{"name":"Maria Silva"}}
{"address":"bonifiq/1002","fields":{"name":"João Souza"}}
{"address":"tomticket/carlos@example.com","fields":{"name":"Carlos"}}
`)
	writeFile(t, filepath.Join(work, sandboxStateFile), `{"format_version":"1","lineage":"7f1c0c8e-7a1b-4c2d-9e3f-0a1b2c3d4e5f","serial":1,"resources":1}
{"address":"invisiblecollector/2001","fields":{"name":"Ana"}}
`)

	complete := func(t *testing.T, mode, line string) []string {
		t.Helper()
		cmd := exec.Command(bash, "--norc", "--noprofile", filepath.Join(dir, "driver.bash"), mode, line)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "RECONCILE_COMPLETION="+filepath.Join(dir, "completion.bash"),
			"BASH_COMPLETION_PACKAGE="+bashCompletionPackage, "BASH_COMP_DEBUG_FILE=", "NO_COLOR=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", line, err, stderr.String())
		}
		if strings.Contains(stderr.String(), "command not found") {
			t.Errorf("completing %q: %s", line, stderr.String())
		}
		var got []string
		for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				got = append(got, l)
			}
		}
		return got
	}

	for _, mode := range []string{"without", "with"} {
		t.Run(mode+" bash-completion", func(t *testing.T) {
			if mode == "with" {
				if _, err := os.Stat(bashCompletionPackage); err != nil {
					t.Skipf("the bash-completion package is not installed (%v): apt-get install bash-completion", err)
				}
			}
			for _, tc := range []struct {
				line string
				want []string // exactly, in any order
				has  []string // among others
			}{
				{line: "reconcile pl", want: []string{"plan"}},
				{line: "reconcile sta", want: []string{"state"}},
				{line: "reconcile state ", has: []string{"list", "show", "rm", "push", "pull"}},
				{line: "reconcile state sh", want: []string{"show"}},
				{line: "reconcile plan -sta", want: []string{"-state"}},
				{line: "reconcile plan -det", want: []string{"-detailed-exitcode"}},
				{line: "reconcile apply -auto", want: []string{"-auto-approve"}},
				{line: "reconcile plan --sta", want: []string{"--state"}},
				{line: "reconcile -lock", want: []string{"-lock-timeout"}},
				{line: "reconcile plan -target ", want: []string{"bonifiq/*", "bonifiq/1001", "bonifiq/1002", "tomticket/*", "tomticket/carlos@example.com"}},
				{line: "reconcile apply -target tom", want: []string{"tomticket/*", "tomticket/carlos@example.com"}},
				{line: "reconcile plan -sandbox -target ", want: []string{"invisiblecollector/*", "invisiblecollector/2001"}},
				{line: "reconcile state rm ", want: []string{"bonifiq/*", "bonifiq/1001", "bonifiq/1002", "tomticket/*", "tomticket/carlos@example.com"}},
				{line: "reconcile state rm bonifiq/1001 bon", want: []string{"bonifiq/*", "bonifiq/1002"}},
				{line: "reconcile state show b", want: []string{"bonifiq/1001", "bonifiq/1002"}},
				{line: "reconcile state show -sandbox ", want: []string{"invisiblecollector/2001"}},
				{line: "reconcile -state other.json state list ", want: nil},
			} {
				got := complete(t, mode, tc.line)
				if tc.has != nil {
					for _, h := range tc.has {
						if !slices.Contains(got, h) {
							t.Errorf("%q completes to %q, want %q among them", tc.line, got, h)
						}
					}
					continue
				}
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tc.want))
				if !slices.Equal(got, want) {
					t.Errorf("%q completes to %q, want %q", tc.line, got, want)
				}
			}
		})
	}
}

// TestCompletionDescriptions: the descriptions the shells show are the
// help's, without the backticks that name a flag's value there.
func TestCompletionDescriptions(t *testing.T) {
	var out bytes.Buffer
	code := run(context.Background(), []string{"__complete", "plan", "-"}, strings.NewReader(""), &out, &bytes.Buffer{}, func(string) string { return "" })
	if code != 0 {
		t.Fatalf("__complete exited %d", code)
	}
	got := out.String()
	if strings.Contains(got, "`") {
		t.Errorf("backticks in the completions:\n%s", got)
	}
	for _, want := range []string{"-state\tstate FILE, or a postgres:// URL", "-target\tlimit to ADDR", "-f\tmanifest PATH"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q not in the completions:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\n--") {
		t.Errorf("two-dash flags offered for a word typed with one:\n%s", got)
	}
}
