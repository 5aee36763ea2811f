package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// malformedDir holds the malformed inputs and INDEX.tsv, which gives the
// command and the exact message for each.
const malformedDir = "../../testdata/malformed"

// malformedCase is one input: the command to run it through and the line
// stderr must hold, with {FILE} for the input's path.
type malformedCase struct {
	file, command, want string
}

func readMalformedIndex(t *testing.T) []malformedCase {
	t.Helper()
	f, err := os.Open(filepath.Join(malformedDir, "INDEX.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []malformedCase
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) != 3 {
			t.Fatalf("INDEX.tsv: bad line %q", line)
		}
		cases = append(cases, malformedCase{parts[0], parts[1], parts[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// runBounded runs reconcile in-process with a generous deadline, turning a
// panic or a hang into a test failure.
func runBounded(t *testing.T, args []string, env map[string]string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	type result struct {
		code  int
		panic any
		stack []byte
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{panic: p, stack: debug.Stack()}
			}
		}()
		done <- result{code: run(ctx, args, strings.NewReader(""), &out, &errb, func(k string) string { return env[k] })}
	}()
	select {
	case r := <-done:
		if r.panic != nil {
			t.Fatalf("reconcile %q panicked: %v\n%s", args, r.panic, r.stack)
		}
		return r.code, out.String(), errb.String()
	case <-time.After(3 * time.Minute):
		t.Fatalf("reconcile %q did not finish in 3 minutes", args)
	}
	return 0, "", ""
}

// TestMalformedInputs runs every malformed manifest, state and saved plan
// of testdata/malformed (and the large ones generated here) through the
// command that reads it: each fails with exit status 1 and the exact
// message INDEX.tsv gives, never a panic or a hang.
func TestMalformedInputs(t *testing.T) {
	cases := readMalformedIndex(t)
	if len(cases) < 40 {
		t.Fatalf("INDEX.tsv lists %d inputs, want at least 40", len(cases))
	}
	listed := map[string]bool{"INDEX.tsv": true}
	for _, c := range cases {
		listed[c.file] = true
	}
	entries, err := os.ReadDir(malformedDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("%s is not listed in INDEX.tsv", e.Name())
		}
	}

	gen := t.TempDir()
	good := filepath.Join(gen, "good.yaml")
	writeFile(t, good, "customers:\n  - id: \"1001\"\n    name: Maria\n    bonifiq: {}\n")

	// Inputs too large to check in.
	big := func(name string, write func(w *bufio.Writer)) string {
		path := filepath.Join(gen, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		write(w)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const hundredMB = 100 << 20
	repeat := func(w *bufio.Writer, b byte, n int) {
		chunk := bytes.Repeat([]byte{b}, 1<<20)
		for n > 0 {
			k := min(n, len(chunk))
			w.Write(chunk[:k])
			n -= k
		}
	}
	generated := []malformedCase{
		{
			// A 100 MB line with no line break: one giant heading.
			file: big("line_100mb.csv", func(w *bufio.Writer) {
				w.WriteString("id,name,")
				repeat(w, 'x', hundredMB-8)
			}),
			command: "validate",
			// Bounded: the reader stops at 1 MiB of one row (issue 12).
			want: "{FILE}:1: row longer than 1 MiB: not read (a cell holds far more than a customer's data: check the export (an unclosed quote swallows the rows after it))",
		},
		{
			file: big("cell_100mb.csv", func(w *bufio.Writer) {
				w.WriteString("id,name,bonifiq.enrolled\n1001,")
				repeat(w, 'x', hundredMB)
				w.WriteString(",true\n")
			}),
			command: "validate",
			want:    "{FILE}:2: row longer than 1 MiB: not read (a cell holds far more than a customer's data: check the export (an unclosed quote swallows the rows after it))",
		},
		{
			file: big("cell_10mb.yaml", func(w *bufio.Writer) {
				w.WriteString("customers:\n  - id: \"1001\"\n    bonifiq:\n      enrolled: ")
				repeat(w, 'y', 10<<20)
				w.WriteString("\n")
			}),
			command: "validate",
			want:    fmt.Sprintf("{FILE}:4:17: customers[0].bonifiq.enrolled: invalid boolean \"%s...[%d bytes]...%s\" (write true or false (yes/no, sim/não, verdadeiro/falso and 1/0 work too))", strings.Repeat("y", 266-len(`customers[0].bonifiq.enrolled: invalid boolean "`)), 10<<20-(266-len(`customers[0].bonifiq.enrolled: invalid boolean "`))-132, strings.Repeat("y", 132)),
		},
	}

	all := make([]malformedCase, 0, len(cases)+len(generated))
	for _, c := range cases {
		c.file = filepath.Join(malformedDir, c.file)
		all = append(all, c)
	}
	all = append(all, generated...)
	for _, c := range all {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			var args []string
			switch c.command {
			case "validate":
				args = []string{"validate", "-f", c.file}
			case "state":
				args = []string{"plan", "-state", c.file, "-f", good}
			case "show":
				args = []string{"show", c.file}
			default:
				t.Fatalf("unknown command %q", c.command)
			}
			before, _ := os.ReadFile(c.file)
			code, _, stderr := runBounded(t, args, map[string]string{"NO_COLOR": "1"})
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			want := strings.ReplaceAll(c.want, "{FILE}", c.file)
			found := false
			for _, line := range strings.Split(stderr, "\n") {
				if line == want {
					found = true
				}
			}
			if !found {
				show := stderr
				if len(show) > 4000 {
					show = show[:4000] + "..."
				}
				t.Errorf("stderr lacks the line\n%s\nstderr:\n%s", clipForLog(want), show)
			}
			if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr shows a panic:\n%s", stderr)
			}
			if len(stderr) > 64<<10 {
				t.Errorf("stderr is %d bytes: messages must not echo huge inputs", len(stderr))
			}
			if c.command == "state" {
				after, _ := os.ReadFile(c.file)
				if !bytes.Equal(before, after) {
					t.Errorf("the corrupt state was rewritten")
				}
				if _, err := os.Stat(c.file + ".backup"); err == nil {
					t.Errorf("a backup of the corrupt state was made")
				}
			}
		})
	}
}

func clipForLog(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
