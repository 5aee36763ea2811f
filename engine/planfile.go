package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MarshalJSON encodes fs as a JSON object in name order.
func (fs Fields) MarshalJSON() ([]byte, error) { return AppendFieldsJSON(nil, fs), nil }

// UnmarshalJSON decodes a JSON object of string, integer, boolean or null
// values, sorted by name.
func (fs *Fields) UnmarshalJSON(b []byte) error {
	var m map[string]Value
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	out := make(Fields, 0, len(m))
	for k, v := range m {
		out = append(out, Field{Name: k, Value: v})
	}
	out.Sort()
	*fs = out
	return nil
}

// planDoc is the JSON shape of a plan: exactly SPEC 3.3's for -json, plus,
// in a saved plan (-out), what apply needs to carry it out.
type planDoc struct {
	FormatVersion string         `json:"format_version"`
	StateLineage  string         `json:"state_lineage"`
	StateSerial   int64          `json:"state_serial"`
	Refreshed     bool           `json:"refreshed,omitempty"`
	Changes       []*changeDoc   `json:"changes"`
	Summary       Summary        `json:"summary"`
	Targets       []string       `json:"targets,omitempty"`
	Providers     map[string]cfg `json:"providers,omitempty"`
	Target        *PlanTarget    `json:"target,omitempty"`
}

// PlanTarget is where a saved plan's calls go, recorded when the plan is
// saved so that applying it elsewhere is refused before any request: the
// sandbox, or each service's base URL as its client resolved it (the
// environment's variable, else the manifest's base_url, else the service's
// own host). A plan saved without one (by an older reconcile) has an
// unknown target. The state is not part of it: a state is identified by its
// lineage, so a plan made on one machine applies on another.
type PlanTarget struct {
	// Sandbox is the built-in simulator (-sandbox), whose address changes on
	// every run.
	Sandbox bool `json:"sandbox,omitempty"`
	// BaseURLs holds, by service, where the plan's requests to it go: the
	// services the plan calls.
	BaseURLs map[string]string `json:"base_urls,omitempty"`
}

// Equal reports whether t and o are the same target.
func (t PlanTarget) Equal(o PlanTarget) bool {
	if t.Sandbox != o.Sandbox || len(t.BaseURLs) != len(o.BaseURLs) {
		return false
	}
	for name, u := range t.BaseURLs {
		if v, ok := o.BaseURLs[name]; !ok || strings.TrimRight(v, "/") != strings.TrimRight(u, "/") {
			return false
		}
	}
	return true
}

// String names the target for messages: "the sandbox", or "bonifiq at
// https://api.bonifiq.com.br, tomticket at https://api.tomticket.com".
func (t PlanTarget) String() string {
	if t.Sandbox {
		return "the sandbox"
	}
	if len(t.BaseURLs) == 0 {
		return "no service"
	}
	names := make([]string, 0, len(t.BaseURLs))
	for name := range t.BaseURLs {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + " at " + t.BaseURLs[name]
	}
	return strings.Join(parts, ", ")
}

type changeDoc struct {
	*Change
	// Saved plans only.
	Desired *resourceDoc `json:"desired,omitempty"`
	IDs     Fields       `json:"ids,omitempty"`
	Prior   string       `json:"prior,omitempty"`
	Missing bool         `json:"missing,omitempty"`
	Skip    bool         `json:"skip,omitempty"`
}

type resourceDoc struct {
	Fields Fields `json:"fields"`
	Params Fields `json:"params,omitempty"`
}

type cfg struct {
	RateLimit   float64   `json:"rate_limit"`
	Burst       int       `json:"burst"`
	Concurrency int       `json:"concurrency"`
	MaxRetries  int       `json:"max_retries"`
	CallBudget  string    `json:"call_budget,omitempty"`
	Timeout     string    `json:"timeout"`
	BaseURL     string    `json:"base_url,omitempty"`
	OnRemove    OnRemove  `json:"on_remove"`
	OnMissing   OnMissing `json:"on_missing,omitempty"`
}

// WritePlanJSON writes p as one JSON document, one change per line, so
// that plans of millions of changes stream out without being built in
// memory. With saved set it also writes what `apply PLANFILE` needs: each
// change's desired resource, the service ids, the digest of the state entry
// the plan saw, the targets and the provider settings.
func WritePlanJSON(w io.Writer, p *Plan, saved bool) error {
	return writePlanJSON(w, p, saved, nil)
}

// WriteSavedPlan writes p as a saved plan (WritePlanJSON with saved set)
// that records its target, asked once the changes are written, for
// ReadSavedPlan.
func WriteSavedPlan(w io.Writer, p *Plan, target func() PlanTarget) error {
	return writePlanJSON(w, p, true, target)
}

func writePlanJSON(w io.Writer, p *Plan, saved bool, target func() PlanTarget) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	b := make([]byte, 0, 1024)
	b = append(b, "{\n  \"format_version\": "...)
	b = appendJSONString(b, PlanFormatVersion)
	b = append(b, ",\n  \"state_lineage\": "...)
	b = appendJSONString(b, p.StateLineage)
	b = append(b, ",\n  \"state_serial\": "...)
	b = strconv.AppendInt(b, p.StateSerial, 10)
	if p.Refreshed {
		b = append(b, ",\n  \"refreshed\": true"...)
	}
	if urls := p.ManifestBaseURLs(); len(urls) > 0 {
		// Where a manifest sends a service (credentials go there only if
		// the operator allows it), for review.
		enc, _ := json.Marshal(urls)
		b = append(b, ",\n  \"base_urls\": "...)
		b = append(b, enc...)
	}
	b = append(b, ",\n  \"changes\": ["...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	// Every change is written after a comma, but the first one: the
	// segments are rendered apart, none knowing whether one before it had a
	// change.
	first := &dropFirst{w: bw, b: ','}
	err := p.WriteChanges(first, func(b []byte, ch *Change) []byte {
		b = append(b, ",\n    "...)
		return appendChangeJSON(b, ch, saved)
	})
	if err != nil {
		return err
	}
	b = b[:0]
	if first.dropped {
		b = append(b, "\n  "...)
	}
	b = append(b, "],\n  \"summary\": "...)
	sum, _ := json.Marshal(p.Summary)
	b = append(b, sum...)
	if saved {
		doc := struct {
			Targets   []string       `json:"targets,omitempty"`
			Providers map[string]cfg `json:"providers"`
			Target    *PlanTarget    `json:"target,omitempty"`
		}{Targets: p.Targets, Providers: map[string]cfg{}}
		if target != nil {
			t := target()
			doc.Target = &t
		}
		for name, c := range p.Providers {
			budget := ""
			if c.CallBudget > 0 {
				budget = c.CallBudget.String()
			}
			doc.Providers[name] = cfg{c.RateLimit, c.Burst, c.Concurrency, c.MaxRetries, budget, c.Timeout.String(), c.BaseURL, c.OnRemove, c.OnMissing}
		}
		extra, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		b = append(b, ",\n  "...)
		b = append(b, extra[1:len(extra)-1]...) // the members, without braces
	}
	b = append(b, "\n}\n"...)
	if _, err := bw.Write(b); err != nil {
		return err
	}
	return bw.Flush()
}

// AppendChangeJSON appends ch as plan -json writes each of its changes
// (SPEC 3.3's keys), for the JSON lines of apply -json.
func AppendChangeJSON(b []byte, ch *Change) []byte { return appendChangeJSON(b, ch, false) }

// appendChangeJSON appends one change as a JSON object (SPEC 3.3's keys,
// plus a saved plan's).
func appendChangeJSON(b []byte, ch *Change, saved bool) []byte {
	b = append(b, `{"address":`...)
	b = appendJSONString(b, ch.Address)
	b = append(b, `,"provider":`...)
	b = appendJSONString(b, ch.Provider)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, ch.ID)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, string(ch.Action))
	if ch.Source != "" {
		b = append(b, `,"source":`...)
		b = appendJSONString(b, ch.Source)
	}
	if ch.Fields == nil && ch.Action == ActionCreate && ch.Desired != nil {
		// A create's fields are its desired ones (FieldChanges), written
		// without building them.
		if len(ch.Desired.Fields) > 0 {
			b = append(b, `,"fields":[`...)
			for i, f := range ch.Desired.Fields {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendFieldChangeJSON(b, FieldChange{Name: f.Name, After: f.Value})
			}
			b = append(b, ']')
		}
	} else if len(ch.Fields) > 0 {
		b = append(b, `,"fields":[`...)
		for i, f := range ch.Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendFieldChangeJSON(b, f)
		}
		b = append(b, ']')
	}
	b = append(b, `,"calls":[`...)
	for i, c := range ch.Calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"method":`...)
		b = appendJSONString(b, c.Method)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, c.Path)
		if saved {
			// A saved plan keeps what apply needs to make the call as
			// planned: its operation and the fields it settles.
			b = append(b, `,"op":`...)
			b = appendJSONString(b, c.Op)
			b = append(b, `,"fields":[`...)
			for j, f := range c.Fields {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, f)
			}
			b = append(b, ']')
			if c.MayTakeTwo {
				b = append(b, `,"may_take_two":true`...)
			}
		}
		b = append(b, '}')
	}
	b = append(b, ']')
	if saved {
		if ch.Desired != nil {
			b = append(b, `,"desired":{"fields":`...)
			b = AppendFieldsJSON(b, ch.Desired.Fields)
			if len(ch.Desired.Params) > 0 {
				b = append(b, `,"params":`...)
				b = AppendFieldsJSON(b, ch.Desired.Params)
			}
			b = append(b, '}')
		}
		if len(ch.IDs) > 0 {
			b = append(b, `,"ids":`...)
			b = AppendFieldsJSON(b, ch.IDs)
		}
		if ch.Prior != "" {
			b = append(b, `,"prior":`...)
			b = appendJSONString(b, ch.Prior)
		}
		if ch.Missing {
			b = append(b, `,"missing":true`...)
		}
		if ch.Skip {
			b = append(b, `,"skip":true`...)
		}
	}
	return append(b, '}')
}

// ErrPlanFile wraps every error about a saved plan that cannot be read.
var ErrPlanFile = errors.New("saved plan cannot be read")

// ReadPlanFile reads a plan saved with WritePlanJSON(saved=true), calls
// included, for the services of reg.
func ReadPlanFile(reg *Registry, r io.Reader) (*Plan, error) {
	p, _, err := ReadSavedPlan(reg, r)
	return p, err
}

// ReadSavedPlan reads a saved plan as ReadPlanFile does, and the target it
// records (WriteSavedPlan); nil when it records none.
func ReadSavedPlan(reg *Registry, r io.Reader) (*Plan, *PlanTarget, error) {
	p, doc, err := readPlanFile(reg, r)
	if err != nil {
		return nil, nil, err
	}
	return p, doc.Target, nil
}

func readPlanFile(reg *Registry, r io.Reader) (*Plan, *planDoc, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrPlanFile, fmt.Sprintf(format, args...))
	}
	// The changes are decoded and checked one at a time, as they come: a
	// plan of millions of changes is not held as text and as documents
	// besides the plan. A change's problem is reported after the
	// document's own, which say more (a -json plan, another version).
	var changes []*Change
	var changeErr error
	seen := map[string]bool{}
	doc, empty, err := decodePlanDoc(r, func(i int, cd *changeDoc) {
		if changeErr != nil {
			return
		}
		ch, err := savedChange(reg, i, cd, seen)
		if err != nil {
			changeErr = fail("%s", err.Error())
			return
		}
		changes = append(changes, ch)
	})
	if empty {
		return nil, nil, fail("the file is empty")
	}
	if err != nil {
		return nil, nil, fail("not a reconcile plan (%v)", err)
	}
	if doc.FormatVersion == "" {
		return nil, nil, fail("not a reconcile plan: no format_version")
	}
	if doc.FormatVersion != PlanFormatVersion {
		return nil, nil, fail("format_version %q; this build reads %q", doc.FormatVersion, PlanFormatVersion)
	}
	if doc.StateLineage == "" {
		return nil, nil, fail("no state_lineage")
	}
	if doc.Providers == nil {
		return nil, nil, fail("it was printed with -json, not saved with -out: plan again with -out FILE")
	}
	p := &Plan{Registry: reg, StateLineage: doc.StateLineage, StateSerial: doc.StateSerial, Summary: doc.Summary, Targets: doc.Targets, Refreshed: doc.Refreshed, Providers: map[string]ProviderConfig{}}
	for name, c := range doc.Providers {
		if !reg.Has(name) {
			return nil, nil, fail("unknown provider %q", name)
		}
		d, err := time.ParseDuration(c.Timeout)
		var budget time.Duration
		if err == nil && c.CallBudget != "" {
			if budget, err = time.ParseDuration(c.CallBudget); err == nil && budget <= 0 {
				err = errors.New("call_budget")
			}
		}
		if err != nil || d <= 0 || c.RateLimit <= 0 || c.Burst < 1 || c.Concurrency < 1 || c.MaxRetries < -1 {
			return nil, nil, fail("provider %q: invalid settings", name)
		}
		p.Providers[name] = ProviderConfig{RateLimit: c.RateLimit, Burst: c.Burst, Concurrency: c.Concurrency, MaxRetries: c.MaxRetries, CallBudget: budget, Timeout: d, BaseURL: c.BaseURL, OnRemove: c.OnRemove, OnMissing: c.OnMissing}
	}
	if changeErr != nil {
		return nil, nil, changeErr
	}
	p.Changes = changes
	if t := doc.Target; t != nil {
		for name, u := range t.BaseURLs {
			if !reg.Has(name) || u == "" {
				return nil, nil, fail("target: unknown provider %q or no base URL", name)
			}
		}
	}
	return p, &doc, nil
}

// savedChange checks changes[i] of a saved plan, cd, and returns its
// change; seen holds the addresses of the changes before it.
func savedChange(reg *Registry, i int, cd *changeDoc, seen map[string]bool) (*Change, error) {
	if cd == nil || cd.Change == nil {
		return nil, fmt.Errorf("changes[%d]: empty", i)
	}
	ch := cd.Change
	prov, id, ok := SplitAddress(ch.Address)
	if !ok || prov != ch.Provider || id != ch.ID || !reg.Has(prov) {
		return nil, fmt.Errorf("changes[%d]: address %q does not match provider %q and id %q", i, ch.Address, ch.Provider, ch.ID)
	}
	if seen[ch.Address] {
		return nil, fmt.Errorf("changes[%d]: %s listed twice", i, ch.Address)
	}
	seen[ch.Address] = true
	switch ch.Action {
	case ActionCreate, ActionUpdate, ActionDisable:
		if cd.Desired == nil {
			return nil, fmt.Errorf("changes[%d]: %s has no desired fields", i, ch.Address)
		}
	case ActionForget:
	default:
		return nil, fmt.Errorf("changes[%d]: unknown action %q", i, ch.Action)
	}
	if cd.Prior == "" {
		return nil, fmt.Errorf("changes[%d]: %s has no prior state digest", i, ch.Address)
	}
	if cd.Desired != nil {
		ch.Desired = &Resource{Provider: prov, ID: id, Fields: cd.Desired.Fields, Params: cd.Desired.Params, Source: parseFileLine(ch.Source)}
	}
	ch.IDs = cd.IDs
	ch.Prior = cd.Prior
	ch.Missing = cd.Missing
	ch.Skip = cd.Skip
	for j, call := range ch.Calls {
		if call.Op == "" || call.Method == "" || call.Path == "" {
			return nil, fmt.Errorf("changes[%d]: %s: call %d has no operation (a plan saved by an older reconcile): plan again with -out", i, ch.Address, j+1)
		}
	}
	if ch.Calls == nil {
		ch.Calls = []Call{}
	}
	if ch.Action == ActionCreate && ch.Desired != nil {
		ch.Fields = nil // a create's fields are its desired ones (Change.FieldChanges)
	}
	return ch, nil
}

// decodePlanDoc decodes a plan document from r, handing each change to
// each as it is decoded instead of keeping it in the document. empty is
// set when r holds nothing but white space.
func decodePlanDoc(r io.Reader, each func(i int, cd *changeDoc)) (doc planDoc, empty bool, err error) {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		b, err := br.Peek(1)
		if err != nil {
			return doc, true, nil // nothing but white space
		}
		if c := b[0]; c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			break
		}
		br.Discard(1)
	}
	defer func() {
		if err == io.EOF { // inside the document: it is cut short
			err = io.ErrUnexpectedEOF
		}
	}()
	dec := json.NewDecoder(br)
	if t, err := dec.Token(); err != nil {
		return doc, false, err
	} else if t != json.Delim('{') {
		return doc, false, fmt.Errorf("a JSON object is expected, not %v", t)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return doc, false, err
		}
		key, _ := t.(string)
		var dst any
		switch key {
		case "changes":
			if err := decodeChanges(dec, each); err != nil {
				return doc, false, err
			}
			continue
		case "format_version":
			dst = &doc.FormatVersion
		case "state_lineage":
			dst = &doc.StateLineage
		case "state_serial":
			dst = &doc.StateSerial
		case "refreshed":
			dst = &doc.Refreshed
		case "summary":
			dst = &doc.Summary
		case "targets":
			dst = &doc.Targets
		case "providers":
			dst = &doc.Providers
		case "target":
			dst = &doc.Target
		default:
			dst = new(json.RawMessage) // unknown keys are ignored, as before
		}
		if err := dec.Decode(dst); err != nil {
			return doc, false, err
		}
	}
	_, err = dec.Token() // the closing brace
	return doc, false, err
}

// decodeChanges decodes the changes array, or null, one change at a time.
func decodeChanges(dec *json.Decoder, each func(i int, cd *changeDoc)) error {
	t, err := dec.Token()
	if err != nil || t == nil {
		return err
	}
	if t != json.Delim('[') {
		return fmt.Errorf("changes must be an array, not %v", t)
	}
	for i := 0; dec.More(); i++ {
		var cd *changeDoc
		if err := dec.Decode(&cd); err != nil {
			return err
		}
		each(i, cd)
	}
	_, err = dec.Token()
	return err
}

// parseFileLine reads FILE:LINE back into a Pos.
func parseFileLine(s string) Pos {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Pos{File: s}
	}
	n, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil {
		return Pos{File: s}
	}
	return Pos{File: s[:i], Line: int32(n)}
}

// appendFieldChangeJSON appends one field of a change as a JSON object.
func appendFieldChangeJSON(b []byte, f FieldChange) []byte {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, f.Name)
	if f.Before != nil {
		b = append(b, `,"before":`...)
		b = f.Before.AppendJSON(b)
	}
	b = append(b, `,"after":`...)
	b = f.After.AppendJSON(b)
	if f.Drift {
		b = append(b, `,"drift":true`...)
	}
	if f.Unreadable {
		b = append(b, `,"unreadable":true`...)
	}
	return append(b, '}')
}

// dropFirst writes to w what it is given, less the first byte if it is b.
type dropFirst struct {
	w       io.Writer
	b       byte
	seen    bool
	dropped bool
}

func (d *dropFirst) Write(p []byte) (int, error) {
	if d.seen || len(p) == 0 {
		return d.w.Write(p)
	}
	d.seen = true
	if p[0] != d.b {
		return d.w.Write(p)
	}
	d.dropped = true
	n, err := d.w.Write(p[1:])
	return n + 1, err
}
