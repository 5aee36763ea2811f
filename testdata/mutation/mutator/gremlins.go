package main

import (
	"context"
	"encoding/json"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// gremlinsVersion is the gremlins release this program installs: v0.6.0
// builds with Go 1.26.
const gremlinsVersion = "v0.6.0"

// gremlinsBinary returns the gremlins command, installing it from the module
// proxy when it is not on PATH or in GOBIN.
func gremlinsBinary(ctx context.Context, root string) (string, error) {
	if p, err := exec.LookPath("gremlins"); err == nil {
		return p, nil
	}
	bin := goEnv(root, "GOBIN")
	if bin == "" {
		bin = filepath.Join(goEnv(root, "GOPATH"), "bin")
	}
	p := filepath.Join(bin, "gremlins")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	fmt.Fprintf(os.Stderr, "installing gremlins %s\n", gremlinsVersion)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/go-gremlins/gremlins/cmd/gremlins@"+gremlinsVersion)
	cmd.Dir = os.TempDir() // outside the module: its go.mod is not changed
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("installing gremlins: %w", err)
	}
	return p, nil
}

func goEnv(root, name string) string {
	cmd := exec.Command("go", "env", name)
	cmd.Dir = root
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

// gremlinsOutput is the part of gremlins' -o JSON this program reads.
type gremlinsOutput struct {
	Files []struct {
		Filename  string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

// runGremlins runs gremlins on one package (not its subpackages) and
// returns its mutants, with status killed, survived, not covered, timed out
// or not viable.
//
// gremlins runs each mutant's tests in a copy of the module at
// $TMPDIR/gremlins-*/wd-*/, where ../shared is missing: with a private
// TMPDIR, this links $TMPDIR/gremlins-*/shared to the real one as soon as
// gremlins makes that folder (before its coverage run, which is long enough).
func runGremlins(ctx context.Context, bin, root, pkg, shared string, workers int, only map[string]bool, log *os.File) ([]*mutant, error) {
	tmp, err := os.MkdirTemp("", "mutation-gremlins-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "result.json")
	// A generous timeout: on a shared machine a slow run is not a kill.
	args := []string{"unleash", "--workers", itoa(workers), "--timeout-coefficient", "10", "-o", out, "-E", "/"} // no subpackage
	if only != nil {
		ents, err := os.ReadDir(filepath.Join(root, pkg))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if !only[e.Name()] {
				args = append(args, "-E", "^"+regexp.QuoteMeta(e.Name())+"$")
			}
		}
	}
	cmd := exec.CommandContext(ctx, bin, append(args, filepath.Join(root, pkg))...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	linked := false
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return nil, fmt.Errorf("gremlins %s: %w (its output is in %s)", pkg, err, log.Name())
			}
			return readGremlins(root, pkg, out)
		case <-tick.C:
			if linked {
				continue
			}
			if dirs, _ := filepath.Glob(filepath.Join(tmp, "gremlins-*")); len(dirs) == 1 {
				if err := os.Symlink(shared, filepath.Join(dirs[0], "shared")); err != nil {
					fmt.Fprintf(os.Stderr, "linking ../shared for gremlins: %v\n", err)
				}
				linked = true
			}
		}
	}
}

func readGremlins(root, pkg, path string) ([]*mutant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res gremlinsOutput
	if err := json.Unmarshal(b, &res); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var ms []*mutant
	for _, f := range res.Files {
		rel := f.Filename
		if !strings.HasPrefix(rel, pkg+"/") {
			rel = pkg + "/" + filepath.Base(rel)
		}
		if filepath.Dir(rel) != pkg {
			continue // a subpackage's file
		}
		src, _ := os.ReadFile(filepath.Join(root, rel))
		for _, m := range f.Mutations {
			mu := &mutant{file: rel, line: m.Line, col: m.Column, kind: m.Type, what: "token", status: gremlinsStatus(m.Status)}
			mu.orig = oneLine(lineOf(src, m.Line))
			if start, end, repl, ok := tokenFlip(src, m.Line, m.Column, m.Type); ok {
				mu.start, mu.end, mu.repl = start, end, repl
				mu.mut = oneLine(lineOf(mu.apply(src), m.Line))
			} else {
				mu.start = -1
			}
			ms = append(ms, mu)
		}
	}
	return ms, nil
}

func gremlinsStatus(s string) string {
	switch s {
	case "KILLED":
		return statusKilled
	case "LIVED":
		return statusSurvived
	case "TIMED OUT":
		return statusTimedOut
	case "NOT COVERED":
		return statusNotCovered
	case "NOT VIABLE":
		return statusNotViable
	}
	return strings.ToLower(s)
}

// flips are gremlins' default token mutations (its mappings.go).
var flips = map[string]map[token.Token]token.Token{
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL, token.SUB: token.ADD},
	"CONDITIONALS_BOUNDARY": {token.GEQ: token.GTR, token.GTR: token.GEQ, token.LEQ: token.LSS, token.LSS: token.LEQ},
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.GEQ: token.LSS, token.GTR: token.LEQ, token.LEQ: token.GTR, token.LSS: token.GEQ, token.NEQ: token.EQL},
	"INCREMENT_DECREMENT":   {token.DEC: token.INC, token.INC: token.DEC},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
	"INVERT_LOGICAL":        {token.LAND: token.LOR, token.LOR: token.LAND},
	"INVERT_LOOPCTRL":       {token.BREAK: token.CONTINUE, token.CONTINUE: token.BREAK},
}

// tokenFlip finds the operator gremlins mutated at line:col and returns the
// byte range and its replacement, so that a survivor can be run again
// against more tests (-with-cli).
func tokenFlip(src []byte, line, col int, typ string) (int, int, string, bool) {
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0)
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			return 0, 0, "", false
		}
		p := fset.Position(pos)
		if p.Line != line || p.Column != col {
			continue
		}
		to, ok := flips[typ][tok]
		if !ok {
			return 0, 0, "", false
		}
		n := len(tok.String())
		if lit != "" {
			n = len(lit)
		}
		return p.Offset, p.Offset + n, to.String(), true
	}
}

func lineOf(src []byte, line int) string {
	lines := strings.Split(string(src), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	return lines[line-1]
}
