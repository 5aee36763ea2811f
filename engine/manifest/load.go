package manifest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/internal/prefault"
)

// Load reads every manifest that paths names (files or directories) and
// returns the desired customers and every problem found, sorted
// (Diagnostics.Sort(desired.Files)). Desired is non-nil even with errors; it
// then holds the customers that could be read, for tools that show them.
//
// reg lists the services whose keys the manifests may use.
func Load(reg *engine.Registry, paths []string) (*engine.Desired, engine.Diagnostics) {
	l := &loader{
		sc:        schemaOf(reg),
		desired:   &engine.Desired{Registry: reg, Providers: make(map[string]engine.ProviderConfig, len(reg.Names()))},
		providers: map[string]engine.Pos{},
		sources:   map[string]*source{},
		interned:  map[string]string{},
	}
	for _, p := range reg.Names() {
		l.desired.Providers[p] = reg.DefaultConfig(p)
	}
	inputs := unique(l.expand(paths))
	for _, in := range inputs {
		if !in.csv {
			in.yaml = l.parseYAML(in.path, in.abs)
		}
	}
	for _, in := range l.withoutSources(inputs) {
		l.desired.Files = append(l.desired.Files, in.path)
		if in.csv {
			l.readTable(in.path, nil)
			continue
		}
		in.yaml.load()
		for _, src := range in.yaml.sources {
			if src.skip {
				continue
			}
			l.desired.Files = append(l.desired.Files, src.path)
			l.readTable(src.path, src)
		}
	}
	l.diags.Sort(l.desired.Files)
	return l.desired, l.diags
}

// loader holds what loading has found so far, across files.
type loader struct {
	sc      *schema
	desired *engine.Desired
	diags   engine.Diagnostics

	// providers maps each provider configured so far to where.
	providers map[string]engine.Pos
	// sources maps the cleaned absolute path of every sources file to its
	// entry, to leave it out of directory listings and to refuse a file
	// that two entries name.
	sources map[string]*source

	// ids maps every id, folded to lower case, to its first customer;
	// variants holds the ids seen in a second letter case, exactly.
	ids      idIndex
	variants map[string]*engine.Customer

	// interned holds custom-field paths, so each is allocated once.
	interned map[string]string
	// custSlab and fieldSlab hand out customers and fields in blocks: one
	// allocation per thousands of rows rather than one per row.
	custSlab  []engine.Customer
	fieldSlab engine.Fields
	// custBlock and fieldBlock are the sizes of the last blocks made: they
	// double, up to a few MiB, so that a large load maps its memory in few
	// calls (prefault) and a small one takes little.
	custBlock, fieldBlock int
	// touched sums what merge reads of the id index ahead of looking ids
	// up, so that the reads are not optimised away.
	touched uint64
}

// input is one manifest file to read.
type input struct {
	path    string // as the user named it, joined with the file name
	abs     string // cleaned absolute path
	csv     bool   // a table: a CSV file or a workbook
	fromDir bool
	yaml    *yamlFile
}

func (l *loader) add(sev engine.Severity, pos engine.Pos, summary, detail string) {
	l.diags = append(l.diags, engine.Diagnostic{Severity: sev, Pos: pos, Summary: clip(summary), Detail: clip(detail)})
}

// maxMessage bounds a diagnostic's summary and detail: they quote the
// input (a heading, a cell, a key), which may be megabytes long.
const maxMessage = 400

// clip shortens s to about maxMessage bytes, keeping its start and its end
// (where a summary says what is wrong), on character boundaries.
func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	head, tail := maxMessage*2/3, len(s)-maxMessage/3
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return fmt.Sprintf("%s...[%d bytes]...%s", s[:head], tail-head, s[tail:])
}

func (l *loader) errorf(pos engine.Pos, detail, format string, args ...any) {
	l.add(engine.Error, pos, fmt.Sprintf(format, args...), detail)
}

// expand turns the paths the user named into manifest files: a file as it
// is, a directory as the manifests directly in it, in name order.
func (l *loader) expand(paths []string) []*input {
	var out []*input
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			l.add(engine.Error, engine.Pos{File: p}, pathError(err), "")
			continue
		}
		if !fi.IsDir() {
			out = append(out, &input{path: p, abs: absPath(p), csv: isTable(p)})
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			l.add(engine.Error, engine.Pos{File: p}, pathError(err), "")
			continue
		}
		n := len(out)
		var skipped []string
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			path := filepath.Join(p, name)
			if e.Type()&fs.ModeSymlink != 0 || e.IsDir() {
				if fi, err := os.Stat(path); err != nil || fi.IsDir() {
					continue
				}
			}
			if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
				skipped = append(skipped, strconv.Quote(name)+" (not a regular file)")
				continue
			}
			if !isManifestName(name) {
				skipped = append(skipped, strconv.Quote(name))
				continue
			}
			if strings.HasPrefix(name, "~$") {
				skipped = append(skipped, strconv.Quote(name)+" (a spreadsheet's lock file: the workbook is open)")
				continue
			}
			out = append(out, &input{path: path, abs: absPath(path), csv: isTable(name), fromDir: true})
		}
		if len(skipped) > 0 {
			l.add(engine.Note, engine.Pos{File: p}, "skipped files that are not manifests: "+strings.Join(skipped, ", "),
				"a directory contributes its *.yaml, *.yml, *.csv and *.xlsx files; name another file with -f, or save .xls workbooks as .xlsx")
		}
		if len(out) == n {
			l.errorf(engine.Pos{File: p}, "put customers in *.yaml, *.yml, *.csv or *.xlsx files there, or name the files with -f", "no manifests in this directory")
		}
	}
	return out
}

// unique drops the files named a second time (a file and its directory).
func unique(inputs []*input) []*input {
	seen := make(map[string]bool, len(inputs))
	out := inputs[:0:0]
	for _, in := range inputs {
		if !seen[in.abs] {
			seen[in.abs] = true
			out = append(out, in)
		}
	}
	return out
}

// withoutSources drops the files that a manifest's sources names: they are
// read there, with the headings that entry maps.
func (l *loader) withoutSources(inputs []*input) []*input {
	out := inputs[:0:0]
	for _, in := range inputs {
		if src := l.sources[in.abs]; src != nil {
			if !in.fromDir {
				l.add(engine.Warning, engine.Pos{File: in.path}, "skipped: this file is a source of "+src.manifest,
					"it is read there, with the columns that manifest maps")
			}
			continue
		}
		out = append(out, in)
	}
	return out
}

// pathError renders a file-system error without repeating the path.
func pathError(err error) string {
	if errors.Is(err, fs.ErrNotExist) {
		return "no such file or directory"
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "cannot read: " + pe.Err.Error()
	}
	return "cannot read: " + err.Error()
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	return a
}

func isCSV(name string) bool { return strings.EqualFold(filepath.Ext(name), ".csv") }

func isManifestName(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".csv", ".xlsx":
		return true
	}
	return false
}

// newCustomer hands out a zeroed customer from the current block.
func (l *loader) newCustomer() *engine.Customer {
	if len(l.custSlab) == 0 {
		l.custBlock = min(max(1024, 2*l.custBlock), maxCustBlock)
		l.custSlab = make([]engine.Customer, l.custBlock)
		prefault.Slice(l.custSlab)
	}
	c := &l.custSlab[0]
	l.custSlab = l.custSlab[1:]
	return c
}

// newFields hands out an empty Fields with room for n fields. Its capacity
// is clipped, so appending beyond n reallocates instead of overwriting the
// next customer's fields.
func (l *loader) newFields(n int) engine.Fields {
	if n > len(l.fieldSlab) {
		l.fieldBlock = min(max(8192, 2*l.fieldBlock), maxFieldBlock)
		l.fieldSlab = make(engine.Fields, max(n, l.fieldBlock))
		prefault.Slice(l.fieldSlab)
	}
	fs := l.fieldSlab[:0:n]
	l.fieldSlab = l.fieldSlab[n:]
	return fs
}

// intern returns the one copy of a custom-field path.
func (l *loader) intern(s string) string {
	if t, ok := l.interned[s]; ok {
		return t
	}
	s = strings.Clone(s)
	l.interned[s] = s
	return s
}

// reserve makes room for n more customers, so that loading a large CSV does
// not grow the customer list and the id index step by step.
func (l *loader) reserve(n int) {
	l.ids.reserve(n, l.desired.Customers)
	l.desired.Customers = slices.Grow(l.desired.Customers, n)
	prefault.Slice(l.desired.Customers[len(l.desired.Customers):cap(l.desired.Customers)])
}

// Prefault: the blocks that hold a large load's customers are mapped
// (package prefault) as soon as they are made, where they would otherwise
// be mapped over time as they fill. A first read of fresh memory maps a
// shared page of zeros: a write to it later faults again to copy it, and
// that second fault makes the kernel flush the page from the TLB of every
// CPU that runs the process, by interrupts. Reads come before the writes
// in two ways: the garbage collector scans a block that holds pointers
// while it is still being filled, and the id index is read by each lookup
// before the insert writes it. With the loader's goroutines on every core,
// those flushes took a tenth of a million-row load's time. Mapped in one
// call, a block also spares the kernel a trap per page.

// The largest blocks of customers and of fields: about 5 MiB each.
const (
	maxCustBlock  = 1 << 16
	maxFieldBlock = 1 << 17
)

// addCustomer records c, unless its id is already taken, which it reports at
// c naming the first. An id that differs from an earlier one only in letter
// case is kept, with a warning.
func (l *loader) addCustomer(c *engine.Customer) {
	key := foldID(c.ID)
	l.ids.init()
	l.addCustomerHashed(c, key, l.ids.hash(key))
}

// addCustomerHashed is addCustomer with c's id folded (foldID) and its hash
// (idIndex.hash).
func (l *loader) addCustomerHashed(c *engine.Customer, key string, h uint64) {
	first, slot := l.ids.lookupHash(key, h, l.desired.Customers)
	if first == nil {
		l.ids.insertHash(slot, h, len(l.desired.Customers))
		l.desired.Customers = append(l.desired.Customers, c)
		return
	}
	if first.ID != c.ID {
		if v := l.variants[c.ID]; v != nil {
			first = v
		} else {
			if l.variants == nil {
				l.variants = map[string]*engine.Customer{}
			}
			l.variants[c.ID] = c
			l.add(engine.Warning, c.Pos, fmt.Sprintf("id %q differs only in letter case from %q (at %s)", c.ID, first.ID, first.Pos),
				"services that match e-mail addresses ignore case, so both may reach the same customer")
			l.desired.Customers = append(l.desired.Customers, c)
			return
		}
	}
	l.add(engine.Error, c.Pos, fmt.Sprintf("duplicate id %q (first at %s)", c.ID, first.Pos), "")
}

// foldID folds an id to lower case, without allocating for the usual ids
// that have no upper-case letter.
func foldID(id string) string {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if ('A' <= c && c <= 'Z') || c >= utf8.RuneSelf {
			return strings.ToLower(id)
		}
	}
	return id
}
