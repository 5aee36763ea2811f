package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kinds of the mutants this program makes itself.
const (
	kindErrNil  = "error-nil" // a returned error replaced by nil
	kindRemoval = "removal"   // a statement removed
)

// mutant is one change to one file: the bytes [start, end) replaced by repl.
type mutant struct {
	file       string // relative to the module root, slash-separated
	line, col  int
	kind       string // kindErrNil, kindRemoval, or a gremlins mutator type
	what       string // the shape, e.g. "call", "append", "return err"
	start, end int
	repl       string
	orig, mut  string // the code before and after, for the report
	status     string
}

func (m *mutant) key() string { return keyOf(m.file, m.line, m.kind) }

func keyOf(file string, line int, kind string) string {
	return file + ":" + itoa(line) + ":" + kind
}

// astMutants returns the error→nil and removal mutants of one non-test Go
// file, in source order.
func astMutants(root, rel string) ([]*mutant, error) {
	src, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, rel, src, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	c := &collector{fset: fset, src: src, rel: filepath.ToSlash(rel), ifBodies: map[*ast.BlockStmt]bool{}}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Body != nil {
			c.function(fd.Type, fd.Body)
		}
	}
	sort.SliceStable(c.out, func(i, j int) bool { return c.out[i].start < c.out[j].start })
	return c.out, nil
}

type collector struct {
	fset     *token.FileSet
	src      []byte
	rel      string
	ifBodies map[*ast.BlockStmt]bool
	out      []*mutant
}

// function collects the mutants of one function body; function literals
// inside it are collected with their own result list.
func (c *collector) function(typ *ast.FuncType, body *ast.BlockStmt) {
	nres, errLast := 0, false
	if typ.Results != nil {
		for _, fld := range typ.Results.List {
			nres += max(1, len(fld.Names))
		}
		last := typ.Results.List[len(typ.Results.List)-1].Type
		id, ok := last.(*ast.Ident)
		errLast = ok && id.Name == "error"
	}
	ast.Inspect(body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			c.function(x.Type, x.Body)
			return false
		case *ast.IfStmt:
			c.ifBodies[x.Body] = true
			if b, ok := x.Else.(*ast.BlockStmt); ok {
				c.ifBodies[b] = true
			}
		case *ast.ReturnStmt:
			if errLast && len(x.Results) == nres {
				if e := x.Results[nres-1]; !isNil(e) {
					c.add(x, kindErrNil, "return "+c.text(e), e.Pos(), e.End(), "nil")
				}
			}
		case *ast.BlockStmt:
			c.block(x.List, c.ifBodies[x])
		case *ast.CaseClause:
			c.block(x.Body, false)
		case *ast.CommClause:
			c.block(x.Body, false)
		}
		return true
	})
}

// block collects the removal mutants among a block's statements.
func (c *collector) block(list []ast.Stmt, ifBody bool) {
	for _, s := range list {
		what := ""
		switch x := s.(type) {
		case *ast.ExprStmt:
			if _, ok := x.X.(*ast.CallExpr); ok {
				what = "call"
			}
		case *ast.AssignStmt:
			if x.Tok != token.ASSIGN {
				break
			}
			what = "assignment"
			if len(x.Rhs) == 1 {
				if call, ok := x.Rhs[0].(*ast.CallExpr); ok {
					if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "append" {
						what = "append"
					}
				}
			}
		case *ast.ReturnStmt:
			if ifBody {
				what = "early return"
			}
		case *ast.BranchStmt:
			if x.Tok == token.CONTINUE {
				what = "continue"
			}
		}
		if what != "" {
			c.add(s, kindRemoval, what, s.Pos(), s.End(), "")
		}
	}
}

func (c *collector) add(stmt ast.Node, kind, what string, from, to token.Pos, repl string) {
	p := c.fset.Position(stmt.Pos())
	start, end := c.fset.Position(from).Offset, c.fset.Position(to).Offset
	s0, s1 := c.fset.Position(stmt.Pos()).Offset, c.fset.Position(stmt.End()).Offset
	orig := string(c.src[s0:s1])
	mut := orig[:start-s0] + repl + orig[end-s0:]
	if kind == kindRemoval {
		mut = "(removed)"
	}
	c.out = append(c.out, &mutant{
		file: c.rel, line: p.Line, col: p.Column, kind: kind, what: what,
		start: start, end: end, repl: repl,
		orig: oneLine(orig), mut: oneLine(mut),
	})
}

// text prints an expression as gofmt would.
func (c *collector) text(e ast.Expr) string {
	var b bytes.Buffer
	printer.Fprint(&b, c.fset, e)
	return oneLine(b.String())
}

func isNil(e ast.Expr) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == "nil"
}

// oneLine shortens code to its first line, for the report.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i]) + " …"
	}
	if len(s) > 110 {
		s = s[:107] + "…"
	}
	return s
}

// apply returns src with m applied.
func (m *mutant) apply(src []byte) []byte {
	out := make([]byte, 0, len(src)+len(m.repl))
	out = append(out, src[:m.start]...)
	out = append(out, m.repl...)
	return append(out, src[m.end:]...)
}
