package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/encoding"

	"github.com/reconcile-dev/reconcile/engine"
)

// yamlFile is one YAML manifest, parsed. Its sources are read when it is
// parsed, before any customer is loaded, so that directory listings can leave
// the files they name out.
type yamlFile struct {
	l    *loader
	path string // Pos.File
	abs  string
	// customers and providers are the top-level values, nil when absent.
	customers, providers *yaml.Node
	sources              []*source
	// merges counts merge keys expanded, to bound what aliases can cost.
	merges int
}

// source is one entry of a manifest's sources: a spreadsheet read with its
// own headings.
type source struct {
	manifest string // the manifest that names it
	label    string // "sources[0]", the prefix of its diagnostics
	path     string // as shown: joined with the manifest's directory
	abs      string
	fileNode *yaml.Node
	// columnsNode is the columns mapping, nil when the file has canonical
	// headers.
	columnsNode *yaml.Node
	columns     []sourceColumn
	// headings lists every heading columns names, mapped or not, so that
	// a mapping in error does not make its column "ignored" too.
	headings []string
	defaults []sourceDefault
	// encoding is the encoding's name as written, "" for UTF-8; enc
	// decodes it, nil for UTF-8.
	encoding     string
	enc          encoding.Encoding
	encodingNode *yaml.Node
	// dateFormat reads the dates of the file's date columns, nil when
	// they are YYYY-MM-DD.
	dateFormat *dateFormat
	// sheetNode is the sheet of a workbook to read, nil for the first.
	sheetNode *yaml.Node
	// skip says the file cannot be read as asked (no file, named twice,
	// unknown encoding).
	skip bool
}

// sourceColumn maps one heading of a sources file to a key.
type sourceColumn struct {
	heading string
	key     *engine.Key
	path    string
	node    *yaml.Node // the heading, in the manifest
	// dateFormat overrides the source's for this column.
	dateFormat *dateFormat
}

// sourceDefault is the value of a key for the rows whose cell is empty.
type sourceDefault struct {
	key  *engine.Key
	path string
	val  engine.Value
}

// parseYAML reads a YAML manifest and its top level, and registers its
// sources. It never returns nil: a file with errors loads nothing.
func (l *loader) parseYAML(path, abs string) *yamlFile {
	f := &yamlFile{l: l, path: path, abs: abs}
	data, err := readYAMLFile(path)
	if err != nil {
		l.add(engine.Error, engine.Pos{File: path}, pathError(err), "")
		return f
	}
	if pos, ok := invalidUTF8(path, data); !ok {
		l.add(engine.Error, pos, "not valid UTF-8", "save the file as UTF-8")
		return f
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(engine.Error, engine.Pos{File: path}, "empty manifest: no customers, providers or sources", "")
		} else {
			f.syntaxError(err)
		}
		return f
	}
	var more yaml.Node
	switch err := dec.Decode(&more); {
	case err == nil:
		l.add(engine.Error, f.pos(&more), "more than one YAML document in one file",
			"put each document in its own file, or merge them into one")
	case !errors.Is(err, io.EOF):
		f.syntaxError(err)
	}
	if len(doc.Content) == 0 {
		return f
	}
	root := resolve(doc.Content[0])
	if isNull(root) {
		l.add(engine.Error, engine.Pos{File: path}, "empty manifest: no customers, providers or sources", "")
		return f
	}
	if root.Kind != yaml.MappingNode {
		l.add(engine.Error, f.pos(root), "a manifest must be a mapping of customers, providers and sources, not a "+kindName(root), "")
		return f
	}
	unknown := false
	var sources *yaml.Node
	for _, p := range f.pairs(root, "", true) {
		switch p.key.Value {
		case "customers":
			f.customers = p.val
		case "providers":
			f.providers = p.val
		case "sources":
			sources = p.val
		default:
			unknown = true
			l.add(engine.Error, f.pos(p.key), p.key.Value+": unknown key",
				didYouMean(p.key.Value, []string{"customers", "providers", "sources"}))
		}
	}
	if !unknown && !hasContent(f.customers) && !hasContent(f.providers) && !hasContent(sources) {
		l.add(engine.Error, engine.Pos{File: path}, "empty manifest: no customers, providers or sources", "")
	}
	f.parseSources(sources)
	return f
}

// load loads the providers and customers of a parsed manifest.
func (f *yamlFile) load() {
	f.loadProviders(resolve(f.providers))
	f.loadCustomers(resolve(f.customers))
}

// invalidUTF8 finds the first byte of data that is not UTF-8 and returns
// its position (the column counts characters), or ok when data is UTF-8.
// A file with a UTF-16 byte order mark is left to the YAML decoder, which
// reads UTF-16.
func invalidUTF8(path string, data []byte) (pos engine.Pos, ok bool) {
	if utf8.Valid(data) || bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return engine.Pos{}, true
	}
	line, col := 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return engine.Pos{File: path, Line: int32(line), Col: int32(col)}, false
}

// syntaxError reports a YAML syntax error at the line yaml names. The
// decoder names no line for a problem on the first line (its lines count
// from 0, and 0 means unknown), so that is line 1.
func (f *yamlFile) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	pos := engine.Pos{File: f.path, Line: 1}
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				pos.Line, msg = int32(n), text
			}
		}
	}
	if strings.Contains(msg, "UTF-8") {
		f.l.add(engine.Error, pos, "not valid UTF-8", "save the file as UTF-8")
		return
	}
	f.l.add(engine.Error, pos, "invalid YAML: "+msg, "")
}

func (f *yamlFile) pos(n *yaml.Node) engine.Pos {
	return engine.Pos{File: f.path, Line: int32(n.Line), Col: int32(n.Column)}
}

func (f *yamlFile) errorf(n *yaml.Node, detail, format string, args ...any) {
	f.l.add(engine.Error, f.pos(n), fmt.Sprintf(format, args...), detail)
}

// pair is one key and its value in a YAML mapping, aliases resolved.
type pair struct{ key, val *yaml.Node }

// pairs returns mapping n's pairs, aliases resolved and merge keys (<<)
// expanded: a key of n wins over a merged one. With report, keys given twice
// and bad merges are reported, prefixed with label.
func (f *yamlFile) pairs(n *yaml.Node, label string, report bool) []pair {
	return f.mappingPairs(n, label, report, true)
}

// mappingPairs is pairs; without dedupe, it keeps a key given twice, for
// the caller to report.
func (f *yamlFile) mappingPairs(n *yaml.Node, label string, report, dedupe bool) []pair {
	out := make([]pair, 0, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if j := findPair(out, k.Value); j >= 0 && dedupe {
			if report {
				f.errorf(k, "", "%s: duplicate key (first at %s)", join(label, k.Value), f.pos(out[j].key))
			}
			continue
		}
		out = append(out, pair{k, v})
	}
	for _, m := range merges {
		from := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			from = m.Content
		}
		for _, src := range from {
			src = resolve(src)
			f.merges++
			if src.Kind != yaml.MappingNode || f.merges > 10000 {
				if report {
					f.errorf(src, "", "%s: <<: can merge only mappings", label)
				}
				continue
			}
			for _, p := range f.pairs(src, label, false) {
				if findPair(out, p.key.Value) < 0 {
					out = append(out, p)
				}
			}
		}
	}
	return out
}

func findPair(ps []pair, key string) int {
	for i, p := range ps {
		if p.key.Value == key {
			return i
		}
	}
	return -1
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// hasContent reports whether a top-level value declares anything: an
// empty list or mapping does not; a scalar, which is an error, does.
func hasContent(n *yaml.Node) bool {
	n = resolve(n)
	if isNull(n) {
		return false
	}
	return (n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode) || len(n.Content) > 0
}

func kindName(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "null"
	case n.Kind == yaml.MappingNode:
		return "mapping"
	case n.Kind == yaml.SequenceNode:
		return "list"
	}
	return "value"
}

// join joins a label and a key with a dot.
func join(label, key string) string {
	if label == "" {
		return key
	}
	return label + "." + key
}

// scalar returns n's text when n is a scalar that is not null, and reports
// anything else at label.
func (f *yamlFile) scalar(n *yaml.Node, label, what, nullHint string) (string, bool) {
	switch {
	case isNull(n):
		f.errorf(n, nullHint, "%s: needs %s", label, what)
	case n.Kind != yaml.ScalarNode:
		f.errorf(n, "", "%s: needs %s, not a %s", label, what, kindName(n))
	default:
		return n.Value, true
	}
	return "", false
}

// providerSettings lists the keys of a provider's settings.
var providerSettings = []string{"rate_limit", "burst", "concurrency", "max_retries", "timeout", "call_budget", "base_url", "on_remove", "on_missing"}

// loadProviders reads the providers block.
func (f *yamlFile) loadProviders(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		f.errorf(n, "", "providers: must be a mapping of provider names to settings, not a %s", kindName(n))
		return
	}
	for _, p := range f.mappingPairs(n, "providers", true, false) {
		name := p.key.Value
		label := "providers." + name
		reg := f.l.sc.reg
		if !reg.Has(name) {
			hint := didYouMean(name, reg.Names())
			if hint == "" {
				hint = "the providers are " + strings.Join(reg.Names(), ", ")
			}
			f.errorf(p.key, hint, "%s: unknown provider", label)
			continue
		}
		if first, ok := f.l.providers[name]; ok {
			f.errorf(p.key, "configure each provider once, in one manifest", "%s: configured twice (first at %s)", label, first)
			continue
		}
		cfg := reg.DefaultConfig(name)
		cfg.Pos = f.pos(p.key)
		f.l.providers[name] = cfg.Pos
		switch {
		case isNull(p.val):
		case p.val.Kind != yaml.MappingNode:
			f.errorf(p.val, "", "%s: must be a mapping of settings, not a %s", label, kindName(p.val))
		default:
			for _, s := range f.pairs(p.val, label, true) {
				f.providerSetting(name, &cfg, s, join(label, s.key.Value))
			}
		}
		f.l.desired.Providers[name] = cfg
	}
}

// providerSetting reads one setting of provider name into cfg.
func (f *yamlFile) providerSetting(name string, cfg *engine.ProviderConfig, s pair, label string) {
	key := s.key.Value
	if !slices.Contains(providerSettings, key) {
		f.errorf(s.key, didYouMean(key, providerSettings), "%s: unknown key", label)
		return
	}
	text, ok := f.scalar(s.val, label, "a value", "leave the key out to use the default")
	if !ok {
		return
	}
	switch key {
	case "rate_limit":
		r, err := strconv.ParseFloat(text, 64)
		switch {
		case err != nil || math.IsNaN(r) || math.IsInf(r, 0):
			f.errorf(s.val, "requests per second, such as 5 or 0.5", "%s: invalid number %q", label, text)
		case r <= 0:
			f.errorf(s.val, "requests per second, such as 5 or 0.5", "%s: must be greater than 0", label)
		default:
			cfg.RateLimit = r
		}
	case "burst", "concurrency", "max_retries":
		least := 1
		if key == "max_retries" {
			least = 0
		}
		i, err := strconv.ParseInt(text, 10, 32)
		switch {
		case err != nil:
			f.errorf(s.val, "write a whole number such as 4", "%s: invalid integer %q", label, text)
		case int(i) < least:
			f.errorf(s.val, "", "%s: must be at least %d", label, least)
		case key == "burst":
			cfg.Burst = int(i)
		case key == "concurrency":
			cfg.Concurrency = int(i)
		default:
			cfg.MaxRetries = int(i)
		}
	case "timeout", "call_budget":
		d, err := time.ParseDuration(text)
		switch {
		case err != nil:
			f.errorf(s.val, "write a duration with its unit, such as 30s or 1m30s", "%s: invalid duration %q", label, text)
		case d <= 0:
			f.errorf(s.val, "", "%s: must be greater than 0", label)
		case key == "timeout":
			cfg.Timeout = d
		default:
			cfg.CallBudget = d
		}
	case "base_url":
		if msg, hint := checkBaseURL(text); msg != "" {
			f.errorf(s.val, hint, "%s: %s", label, msg)
			return
		}
		cfg.BaseURL = text
	case "on_missing":
		switch text {
		case "create":
			cfg.OnMissing = engine.OnMissingCreate
		case "skip":
			cfg.OnMissing = engine.OnMissingSkip
		default:
			hint := didYouMean(text, []string{"create", "skip"})
			if hint == "" {
				hint = "create (the default) creates the customers a service lacks; skip updates only those it has"
			}
			f.errorf(s.val, hint, "%s: invalid value %q", label, text)
		}
	case "on_remove":
		switch engine.OnRemove(text) {
		case engine.OnRemoveForget:
			cfg.OnRemove = engine.OnRemoveForget
		case engine.OnRemoveDisable:
			if svc := f.l.sc.reg.Service(name); svc == nil || svc.Disable == nil {
				f.errorf(s.val, name+" can only forget customers that leave the manifests", "%s: disable is supported only by %s", label, f.l.sc.disablers())
				return
			}
			cfg.OnRemove = engine.OnRemoveDisable
		default:
			hint := didYouMean(text, []string{"forget", "disable"})
			if hint == "" {
				hint = "use forget or disable"
			}
			f.errorf(s.val, hint, "%s: invalid value %q", label, text)
		}
	}
}

// checkBaseURL checks a base URL: absolute, https unless the host is a
// loopback one, and without credentials. It returns the problem and a hint.
func checkBaseURL(s string) (msg, hint string) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Sprintf("invalid URL %q", s), "write an absolute URL such as https://api.example.com"
	}
	if u.User != nil {
		return "must not hold credentials", "credentials come only from the environment"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Sprintf("%q must not have a query or fragment", s), ""
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Sprintf("%q must use https", s), "http:// is allowed only on a loopback host (127.0.0.1, ::1, localhost)"
	}
	return "", ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadCustomers reads the customers list.
func (f *yamlFile) loadCustomers(n *yaml.Node) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		f.errorf(n, "write each customer as a list item: - id: ...", "customers: must be a list, not a %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		f.loadCustomer(i, resolve(item))
	}
}

// yamlRecord is one customer being read from YAML.
type yamlRecord struct {
	f      *yamlFile
	lbl    string // "customers[3]"
	node   *yaml.Node
	c      *engine.Customer
	idOK   bool
	bad    []string
	fields engine.Fields
}

// loadCustomer reads customers[i].
func (f *yamlFile) loadCustomer(i int, n *yaml.Node) {
	label := "customers[" + strconv.Itoa(i) + "]"
	if n.Kind != yaml.MappingNode {
		f.errorf(n, "write a customer as keys and values: - id: ...", "%s: must be a mapping, not a %s", label, kindName(n))
		return
	}
	r := &yamlRecord{f: f, lbl: label, node: n, c: f.l.newCustomer()}
	hasID := false
	for _, p := range f.pairs(n, label, true) {
		name := p.key.Value
		if name == "id" {
			hasID = true
			r.id(p.val, join(label, name))
			continue
		}
		r.walkKey(r.f.l.sc.root, "", p, label)
	}
	if !hasID {
		f.errorf(n, "every customer needs its id in your own store", "%s: missing id", label)
	}
	r.fields.Sort()
	r.c.Fields = r.fields
	if !r.idOK {
		return
	}
	f.l.checkRecord(r.c, r.bad, r, nil)
	f.l.addCustomer(r.c)
}

// id reads the record's id.
func (r *yamlRecord) id(v *yaml.Node, label string) {
	f := r.f
	switch {
	case isNull(v):
		f.errorf(v, "every customer needs its id in your own store", "%s: cannot be null", label)
		return
	case v.Kind != yaml.ScalarNode:
		f.errorf(v, "", "%s: must be a value, not a %s", label, kindName(v))
		return
	case v.Value != strings.TrimSpace(v.Value):
		f.errorf(v, "remove them: ids must match exactly", "%s: %q has surrounding spaces", label, v.Value)
		return
	}
	if _, p := value(engine.IDKey, v.Value); !p.ok() {
		f.errorf(v, p.detail, "%s: %s", label, p.msg)
		return
	}
	r.c.ID, r.c.Pos, r.idOK = v.Value, f.pos(v), true
}

// walkKey reads pair p found under schema node sn, whose path is path.
func (r *yamlRecord) walkKey(sn *schemaNode, path string, p pair, label string) {
	f := r.f
	name := p.key.Value
	keyLabel := join(label, name)
	child := sn.children[name]
	if child == nil || (sn == r.f.l.sc.root && name == "id") {
		hint := didYouMean(name, sn.names)
		if hint == "" {
			hint = r.f.l.sc.misplacedHint(name, path)
		}
		f.errorf(p.key, hint, "%s: unknown key", keyLabel)
		return
	}
	childPath := join(path, name)
	v := p.val
	switch {
	case child.key == nil: // a provider block or the tier
		if v.Kind != yaml.MappingNode {
			at := v
			if isNull(v) {
				at = p.key
			}
			f.errorf(at, fmt.Sprintf("write %s: {} for an empty block", name), "%s: must be a mapping, not a %s", keyLabel, kindName(v))
			r.bad = append(r.bad, childPath)
			return
		}
		if sn == r.f.l.sc.root {
			r.c.Managed |= 1 << r.f.l.sc.reg.Index(name)
		}
		for _, q := range f.pairs(v, keyLabel, true) {
			r.walkKey(child, childPath, q, keyLabel)
		}
	case child.key.Prefix: // tomticket.custom_fields
		if v.Kind != yaml.MappingNode {
			f.errorf(v, "write custom_fields: {FIELD_ID: value}", "%s: must be a mapping, not a %s", keyLabel, kindName(v))
			return
		}
		for _, q := range f.pairs(v, keyLabel, true) {
			id := q.key.Value
			if id == "" || strings.ContainsAny(id, ". \t") {
				f.errorf(q.key, "a field id has no dots or spaces", "%s: invalid custom field id %q", keyLabel, id)
				continue
			}
			r.leaf(child.key, f.l.intern(childPath+"."+id), q.val, join(keyLabel, id))
		}
	default:
		r.leaf(child.key, child.key.Path, v, keyLabel)
	}
}

// leaf reads the value of key k.
func (r *yamlRecord) leaf(k *engine.Key, path string, v *yaml.Node, label string) {
	f := r.f
	switch {
	case isNull(v):
		if k.NotNull {
			f.errorf(v, nullProblem.detail, "%s: %s", label, nullProblem.msg)
			r.bad = append(r.bad, path)
			return
		}
		r.fields = append(r.fields, engine.Field{Name: path, Value: engine.Null()})
	case v.Kind != yaml.ScalarNode:
		f.errorf(v, "", "%s: must be a value, not a %s", label, kindName(v))
		r.bad = append(r.bad, path)
	default:
		val, p := value(k, v.Value)
		if !p.ok() {
			f.errorf(v, p.detail, "%s: %s", label, p.msg)
			r.bad = append(r.bad, path)
			return
		}
		r.fields = append(r.fields, engine.Field{Name: path, Value: val})
	}
}

// pos finds path in the record: its value, or the deepest key on the way
// to it, or the record.
func (r *yamlRecord) pos(path string) engine.Pos {
	if path == "id" {
		return r.c.Pos
	}
	n, at := r.node, r.node
	for part := range strings.SplitSeq(path, ".") {
		if n.Kind != yaml.MappingNode {
			break
		}
		ps := r.f.pairs(n, "", false)
		i := findPair(ps, part)
		if i < 0 {
			break
		}
		at, n = ps[i].key, ps[i].val
		if n.Kind == yaml.ScalarNode {
			at = n
		}
	}
	return r.f.pos(at)
}

func (r *yamlRecord) label(path string) string {
	if path == "" {
		return r.lbl
	}
	return r.lbl + "." + path
}

func (r *yamlRecord) unmanagedHint() (string, bool) {
	return "add a " + r.f.l.sc.serviceList("or") + " block", true
}

// sourceKeys lists the keys of a sources entry.
var sourceKeys = []string{"file", "sheet", "columns", "defaults", "encoding", "date_format"}

// parseSources reads the sources list and registers each file.
func (f *yamlFile) parseSources(n *yaml.Node) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		f.errorf(n, "write each source as a list item: - file: export/customers.csv", "sources: must be a list, not a %s", kindName(n))
		return
	}
	for i, item := range n.Content {
		item = resolve(item)
		label := "sources[" + strconv.Itoa(i) + "]"
		if item.Kind != yaml.MappingNode {
			f.errorf(item, "write - file: export/customers.csv", "%s: must be a mapping, not a %s", label, kindName(item))
			continue
		}
		src := &source{manifest: f.path, label: label}
		hasFile := false
		for _, p := range f.pairs(item, label, true) {
			keyLabel := join(label, p.key.Value)
			switch p.key.Value {
			case "file":
				hasFile = true
				text, ok := f.scalar(p.val, keyLabel, "a file name", "")
				if ok && text == "" {
					f.errorf(p.val, "", "%s: needs a file name", keyLabel)
				} else if ok {
					src.fileNode = p.val
					file := filepath.FromSlash(text)
					if filepath.IsAbs(file) {
						src.path, src.abs = file, filepath.Clean(file)
					} else {
						src.path = filepath.Join(filepath.Dir(f.path), file)
						src.abs = filepath.Join(filepath.Dir(f.abs), file)
					}
				}
			case "columns":
				f.parseColumns(src, p.val, keyLabel)
			case "defaults":
				f.parseDefaults(src, p.val, keyLabel)
			case "encoding":
				f.setEncoding(src, p.val, keyLabel)
			case "date_format":
				src.dateFormat = f.parseDateFormatNode(p.val, keyLabel)
			case "sheet":
				f.setSheet(src, p.val, keyLabel)
			default:
				f.errorf(p.key, didYouMean(p.key.Value, sourceKeys), "%s: unknown key", keyLabel)
			}
		}
		if src.fileNode == nil {
			if !hasFile {
				f.errorf(item, "name the spreadsheet, relative to this manifest: file: export/customers.csv", "%s: missing file", label)
			}
			continue
		}
		f.checkSourceKind(src)
		if first := f.l.sources[src.abs]; first != nil {
			f.errorf(src.fileNode, "read each file through one sources entry", "%s.file: %s is named twice (first at %s)",
				label, src.path, first.manifestPos())
			continue
		}
		f.l.sources[src.abs] = src
		src.manifest = f.path
		f.sources = append(f.sources, src)
	}
}

// manifestPos is where the source's file is named.
func (s *source) manifestPos() engine.Pos {
	return engine.Pos{File: s.manifest, Line: int32(s.fileNode.Line), Col: int32(s.fileNode.Column)}
}

// parseColumns reads a sources entry's columns: heading → key path.
func (f *yamlFile) parseColumns(src *source, n *yaml.Node, label string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		f.errorf(n, `write columns: {"Heading": key.path}`, "%s: must be a mapping, not a %s", label, kindName(n))
		return
	}
	src.columnsNode = n
	src.columns = []sourceColumn{}
	for _, p := range f.pairs(n, label, true) {
		heading := p.key.Value
		src.headings = append(src.headings, strings.TrimSpace(heading))
		colLabel := fmt.Sprintf("%s[%q]", label, heading)
		val, df := p.val, (*dateFormat)(nil)
		if val.Kind == yaml.MappingNode {
			if val, df = f.columnSpec(val, colLabel); val == nil {
				continue
			}
		}
		text, ok := f.scalar(val, colLabel, "a manifest key", "leave the column out to ignore it")
		if !ok {
			continue
		}
		k := f.l.sc.reg.LookupKey(text)
		if k == nil {
			f.errorf(val, f.l.sc.keyPathHint(text), "%s: unknown key %q", colLabel, text)
			continue
		}
		if df != nil && !isDateKey(k) {
			f.errorf(val, "date_format reads the dates of bonifiq.birthday and bonifiq.signup_date", "%s: %s is not a date", colLabel, text)
		}
		path := k.Path
		if k.Prefix {
			path = f.l.intern(text)
		}
		if i := findColumn(src.columns, path); i >= 0 {
			f.errorf(val, "map each key from one column", "%s: %s is already mapped from %q", colLabel, path, src.columns[i].heading)
			continue
		}
		src.columns = append(src.columns, sourceColumn{heading: strings.TrimSpace(heading), key: k, path: path, node: p.key, dateFormat: df})
	}
}

func findColumn(cs []sourceColumn, path string) int {
	for i, c := range cs {
		if c.path == path {
			return i
		}
	}
	return -1
}

// parseDefaults reads a sources entry's defaults: key path → value.
func (f *yamlFile) parseDefaults(src *source, n *yaml.Node, label string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		f.errorf(n, "write defaults: {key.path: value}", "%s: must be a mapping, not a %s", label, kindName(n))
		return
	}
	for _, p := range f.pairs(n, label, true) {
		name := p.key.Value
		keyLabel := join(label, name)
		k := f.l.sc.reg.LookupKey(name)
		switch {
		case k == nil:
			f.errorf(p.key, f.l.sc.keyPathHint(name), "%s: unknown key", keyLabel)
			continue
		case k == engine.IDKey:
			f.errorf(p.key, "each row needs its own id", "%s: id cannot have a default", keyLabel)
			continue
		}
		path := k.Path
		if k.Prefix {
			path = f.l.intern(name)
		}
		v := p.val
		switch {
		case isNull(v):
			if k.NotNull {
				f.errorf(v, nullProblem.detail, "%s: %s", keyLabel, nullProblem.msg)
				continue
			}
			src.defaults = append(src.defaults, sourceDefault{k, path, engine.Null()})
		case v.Kind != yaml.ScalarNode:
			f.errorf(v, "", "%s: must be a value, not a %s", keyLabel, kindName(v))
		default:
			val, pr := value(k, v.Value)
			if !pr.ok() {
				f.errorf(v, pr.detail, "%s: %s", keyLabel, pr.msg)
				continue
			}
			src.defaults = append(src.defaults, sourceDefault{k, path, val})
		}
	}
}
