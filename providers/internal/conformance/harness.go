package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
)

// harness runs a service's client against its simulator.
type harness struct {
	t      *testing.T
	svc    *engine.Service
	reg    *engine.Registry
	keys   []key
	client engine.Provider

	dir   string // manifests written for the loader
	files int
	n     int // customers arranged so far

	mu   sync.Mutex
	reqs []request // every request the simulator received

	// known holds the service ids each customer's calls returned.
	known map[string]engine.Fields
	// slab is where the calls are planned when the client can
	// (engine.CallBuilder), as plans do.
	slab engine.CallSlab
	// done records the evidence gathered: check, step and key.
	done     map[string]bool
	findings Findings
}

// request is one request the simulator received, with its answer's status.
type request struct {
	Method, Target, ContentType string
	Body                        []byte
	Status                      int
}

func newHarness(t *testing.T, svc *engine.Service, reg *engine.Registry) *harness {
	h := &harness{t: t, svc: svc, reg: reg, keys: keysOf(svc), dir: t.TempDir(), known: map[string]engine.Fields{}, done: map[string]bool{}}
	sim := svc.Sim(engine.SimOptions{Seed: 1})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		sw := &simkit.StatusWriter{ResponseWriter: w}
		sim.ServeHTTP(sw, r)
		h.mu.Lock()
		h.reqs = append(h.reqs, request{Method: r.Method, Target: r.URL.RequestURI(), ContentType: r.Header.Get("Content-Type"), Body: body, Status: sw.Status()})
		h.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	env := map[string]string{}
	for _, c := range svc.Credentials {
		env[c.Var] = c.Sandbox
	}
	if svc.BaseURLVar != "" {
		env[svc.BaseURLVar] = srv.URL
	}
	hc := &http.Client{Transport: &pacer{next: srv.Client().Transport, host: u.Host, baseVar: svc.BaseURLVar, lim: paceOf(svc)}}
	client, err := svc.New(engine.ClientOptions{Config: svc.Defaults, Getenv: func(k string) string { return env[k] }, HTTPClient: hc})
	if err != nil {
		t.Fatalf("%s: New with %s=%s: %v", svc.Name, svc.BaseURLVar, srv.URL, err)
	}
	if err := client.Ready(); err != nil {
		t.Fatalf("%s: Ready with the sandbox credentials: %v", svc.Name, err)
	}
	if client.Name() != svc.Name {
		h.findings.add(checkDeclarations, "client", "the client is named %q", client.Name())
	}
	h.client = client
	return h
}

// pacer sends requests only to the simulator, each when the service's
// default limiter allows it.
type pacer struct {
	next    http.RoundTripper
	host    string
	baseVar string
	lim     engine.Limiter
}

func (p *pacer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != p.host {
		return nil, fmt.Errorf("conformance: refused a request to %s: the client must send to the base URL %s gives", req.URL.Redacted(), p.baseVar)
	}
	if err := p.lim.Wait(req.Context()); err != nil {
		return nil, err
	}
	return p.next.RoundTrip(req)
}

// Steps of a customer, as the evidence and the messages name them.
const (
	stepCreate    = "create"
	stepUpdate    = "update"
	stepClear     = "clear"
	stepClearRead = "read after clear"
)

var stepText = map[string]string{
	stepCreate: "a create",
	stepUpdate: "the update that changes only it",
	stepClear:  "the update that clears it",
}

func (h *harness) mark(check, step, name string) { h.done[check+"|"+step+"|"+name] = true }

// explained marks every step of k done: a finding already says why none
// could be exercised.
func (h *harness) explained(k key) {
	for _, c := range []string{checkSettled, checkReadable, checkClearable} {
		for _, step := range []string{stepCreate, stepUpdate, stepClear, stepClearRead} {
			h.mark(c, step, k.name)
		}
	}
}
func (h *harness) has(check, step, name string) bool {
	return h.done[check+"|"+step+"|"+name]
}

// exercise runs the customers: one with every key the Rules allow
// together, then one for each key that needs another arrangement.
func (h *harness) exercise() {
	for _, k := range h.keys {
		h.findings.touch(checkSettled, k.name)
		if k.row.Readable {
			h.findings.touch(checkReadable, k.name)
		}
		if k.clearable() {
			h.findings.touch(checkClearable, k.name)
		}
	}
	base, ok := h.arrange(arrangement{})
	var alone []key
	if !ok {
		h.findings.add(checkDeclarations, "service", "no customer carrying CreateNeeds %v satisfies the service's Rules", h.svc.CreateNeeds)
		return
	}
	var touch []key
	for _, k := range h.keys {
		if _, ok := base.fields[k.name]; ok {
			touch = append(touch, k)
		} else {
			alone = append(alone, k)
		}
	}
	alone = append(alone, h.customer(base, touch)...)
	for _, k := range alone {
		states := func(b record) []record {
			out := []record{b.with(k.name, generate(k.row, k.name, b.n, 2))}
			if k.clearable() {
				out = append(out, b.with(k.name, nil))
			}
			return out
		}
		r, ok := h.arrange(arrangement{must: []string{k.name}, states: states})
		if !ok {
			h.findings.add(checkSettled, k.name, "no customer that the service's Rules accept can carry it, have it updated and cleared")
			continue
		}
		for _, left := range h.customer(r, []key{k}) {
			h.findings.add(checkSettled, left.name, "the service's Rules refuse its update or its clear on a customer of its own")
		}
	}
	for _, k := range h.keys {
		for _, step := range []string{stepCreate, stepUpdate} {
			if !h.has(checkSettled, step, k.name) {
				h.findings.add(checkSettled, k.name, "%s: not exercised", stepText[step])
			}
			if k.row.Readable && !h.has(checkReadable, step, k.name) {
				h.findings.add(checkReadable, k.name, "Read after %s: not exercised", stepText[step])
			}
		}
		if k.clearable() && !h.has(checkClearable, stepClear, k.name) {
			h.findings.add(checkClearable, k.name, "%s: not exercised", stepText[stepClear])
		}
		if k.clearable() && k.row.Readable && !h.has(checkClearable, stepClearRead, k.name) {
			h.findings.add(checkClearable, k.name, "Read after %s: not exercised", stepText[stepClear])
		}
	}
}

// arrange is harness.arrangeAs for a new customer; a loader failure stops
// the test.
func (h *harness) arrange(a arrangement) (record, bool) {
	h.n++
	a.n = h.n
	r, ok, err := h.arrangeAs(a)
	if err != nil {
		h.t.Fatalf("%s: %v", h.svc.Name, err)
	}
	return r, ok
}

func (h *harness) mustLoad(r record) *loaded {
	l, err := h.load(r)
	if err != nil {
		h.t.Fatalf("%s: %v", h.svc.Name, err)
	}
	return l
}

// customer creates r, reads it, updates each key of touch in turn to
// another value, reads it, clears each clearable key of touch in turn, and
// reads it. It returns the keys of touch whose update or clear the Rules
// refuse on this customer.
func (h *harness) customer(r record, touch []key) (refused []key) {
	var names []string
	for _, k := range touch {
		names = append(names, k.name)
	}
	h.t.Logf("%s: customer %q, params %v, fields %v: create, update and clear %v", h.svc.Name, r.id, r.params, len(r.fields), names)
	cur := h.mustLoad(r)
	calls, per, err := h.apply(h.createChange(cur.res))
	if err != nil {
		culprits, ok := h.blame(r, touch, err)
		if !ok {
			return nil
		}
		var exclude []string
		for _, k := range culprits {
			exclude = append(exclude, k.name)
		}
		r, ok := h.arrange(arrangement{exclude: exclude})
		if !ok {
			return nil
		}
		// The others again, on a customer without the culprits; those
		// that customer cannot carry go on one of their own.
		var rest []key
		for _, k := range touch {
			if _, has := r.fields[k.name]; has {
				rest = append(rest, k)
			} else if !slices.Contains(exclude, k.name) {
				refused = append(refused, k)
			}
		}
		if len(rest) == 0 {
			return refused
		}
		return append(refused, h.customer(r, rest)...)
	}
	for _, k := range touch {
		v, _ := cur.res.Fields.Get(k.name)
		h.settled(checkSettled, stepCreate, k, v, calls, per)
	}
	h.readBack(cur.res, func(k key) (string, string, string) { return checkReadable, stepCreate, "after the create" })

	var updated []string
	for _, k := range touch {
		v1, v2 := r.fields[k.name], generate(k.row, k.name, r.n, 2)
		if fmt.Sprint(v1) == fmt.Sprint(v2) {
			h.t.Logf("%s %s: its type admits one value: no update can change it", h.svc.Name, k.name)
			h.mark(checkSettled, stepUpdate, k.name)
			h.mark(checkReadable, stepUpdate, k.name)
			continue
		}
		next := h.mustLoad(r.with(k.name, v2))
		if len(next.problems) > 0 {
			refused = append(refused, k)
			continue
		}
		calls, per, err := h.apply(h.updateChange(cur.res, next.res, k.name))
		if err != nil {
			h.findings.add(checkSettled, k.name, "%s fails: %v", stepText[stepUpdate], err)
			h.mark(checkSettled, stepUpdate, k.name)
			h.mark(checkReadable, stepUpdate, k.name)
			continue
		}
		v, _ := next.res.Fields.Get(k.name)
		h.settled(checkSettled, stepUpdate, k, v, calls, per)
		r, cur = next.rec, next
		updated = append(updated, k.name)
	}
	if len(updated) > 0 {
		h.readBack(cur.res, func(k key) (string, string, string) {
			if slices.Contains(updated, k.name) {
				return checkReadable, stepUpdate, "after " + stepText[stepUpdate]
			}
			return checkReadable, "", "after updates of other keys (" + strings.Join(updated, ", ") + ")"
		})
	}

	var cleared []string
	for _, k := range touch {
		if !k.clearable() || slices.Contains(refused, k) {
			continue
		}
		next := h.mustLoad(r.with(k.name, nil))
		if len(next.problems) > 0 {
			refused = append(refused, k)
			continue
		}
		calls, per, err := h.apply(h.updateChange(cur.res, next.res, k.name))
		if err != nil {
			h.findings.add(checkClearable, k.name, "%s fails: %v", stepText[stepClear], err)
			h.mark(checkClearable, stepClear, k.name)
			h.mark(checkClearable, stepClearRead, k.name)
			continue
		}
		h.settled(checkClearable, stepClear, k, engine.Null(), calls, per)
		r, cur = next.rec, next
		cleared = append(cleared, k.name)
	}
	if len(cleared) > 0 {
		h.readBack(cur.res, func(k key) (string, string, string) {
			if slices.Contains(cleared, k.name) {
				return checkClearable, stepClearRead, "after " + stepText[stepClear]
			}
			return checkReadable, "", "after clears of other keys (" + strings.Join(cleared, ", ") + ")"
		})
	}
	return refused
}

// blame finds which keys of touch make a create fail: a customer with
// CreateNeeds alone, then one with each key added. ok is false when no key
// can be singled out (the findings say why).
func (h *harness) blame(r record, touch []key, cerr error) (culprits []key, ok bool) {
	needs := strings.Join(h.svc.CreateNeeds, ", ")
	minimal, found := h.arrange(arrangement{minimal: true})
	if !found {
		for _, k := range touch {
			h.findings.add(checkSettled, k.name, "a create fails (%v), and no customer with CreateNeeds alone satisfies the Rules", cerr)
			h.explained(k)
		}
		return nil, false
	}
	if _, _, err := h.apply(h.createChange(h.mustLoad(minimal).res)); err != nil {
		for _, k := range touch {
			h.findings.add(checkSettled, k.name, "a create fails even with CreateNeeds (%s) alone: %v", needs, err)
			h.explained(k)
		}
		return nil, false
	}
	for _, k := range touch {
		if slices.Contains(h.svc.CreateNeeds, k.name) {
			continue
		}
		rk, found := h.arrange(arrangement{minimal: true, must: []string{k.name}})
		if !found {
			continue
		}
		if _, _, err := h.apply(h.createChange(h.mustLoad(rk).res)); err != nil {
			h.findings.add(checkSettled, k.name, "%s carrying it fails, where one with CreateNeeds (%s) alone succeeds: %v", stepText[stepCreate], needs, err)
			h.explained(k)
			culprits = append(culprits, k)
		}
	}
	if len(culprits) == 0 {
		for _, k := range touch {
			h.findings.add(checkSettled, k.name, "a create carrying every key fails, though each key alone succeeds: %v", cerr)
			h.explained(k)
		}
		return nil, false
	}
	return culprits, true
}

func (h *harness) createChange(res *engine.Resource) *engine.Change {
	return &engine.Change{Address: engine.Address(h.svc.Name, res.ID), Provider: h.svc.Name, ID: res.ID, Action: engine.ActionCreate, Desired: res}
}

func (h *harness) updateChange(prev, next *engine.Resource, name string) *engine.Change {
	fc := engine.FieldChange{Name: name}
	if v, ok := prev.Fields.Get(name); ok {
		fc.Before = &v
	}
	fc.After, _ = next.Fields.Get(name)
	return &engine.Change{Address: engine.Address(h.svc.Name, next.ID), Provider: h.svc.Name, ID: next.ID, Action: engine.ActionUpdate,
		Desired: next, IDs: h.known[next.ID].Clone(), Fields: []engine.FieldChange{fc}}
}

// apply makes the calls that the client plans for ch, in order, as apply
// does, and returns them with the requests each made. A 429 is retried (and
// reported: the requests are paced at the service's default limits).
func (h *harness) apply(ch *engine.Change) (calls []engine.Call, per [][]request, err error) {
	calls = h.client.Calls(ch)
	if cb, ok := h.client.(engine.CallBuilder); ok {
		// Planned in a slab, as plans do: the same calls.
		in := cb.CallsIn(&h.slab, ch)
		if a, b := callsText(calls), callsText(in); a != b {
			h.t.Errorf("%s: %s planned in a slab: %s, want what Calls plans: %s", h.svc.Name, ch.Address, b, a)
		}
		calls = in
	}
	for _, call := range calls {
		h.mu.Lock()
		start := len(h.reqs)
		h.mu.Unlock()
		var out engine.Outcome
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			out, err = h.client.Do(ctx, ch, call)
			cancel()
			var ce *engine.CallError
			if err != nil && errors.As(err, &ce) && ce.Status == http.StatusTooManyRequests && attempt < 3 {
				h.findings.add(checkDeclarations, "limits", "the simulator answered 429 to requests paced at the service's default limits (Defaults, Limiter)")
				h.t.Logf("%s: %v", h.svc.Name, err)
				time.Sleep(max(ce.RetryAfter, 1100*time.Millisecond))
				continue
			}
			break
		}
		h.mu.Lock()
		per = append(per, slices.Clone(h.reqs[start:]))
		h.mu.Unlock()
		if err != nil {
			return calls, per, err
		}
		for _, id := range out.IDs {
			h.known[ch.ID] = h.known[ch.ID].Set(id.Name, id.Value)
		}
		if out.Warning != "" {
			h.t.Logf("%s: %s %s: warning: %s", h.svc.Name, call.Op, ch.ID, out.Warning)
		}
	}
	return calls, per, nil
}

// settled checks that a call of calls lists k in its Fields and that a
// request it made, which the simulator accepted, carries k with value v
// (null: null or empty).
func (h *harness) settled(check, step string, k key, v engine.Value, calls []engine.Call, per [][]request) {
	h.mark(check, step, k.name)
	var listed []string
	var sent []request
	for i, c := range calls {
		if !slices.Contains(c.Fields, k.name) {
			continue
		}
		listed = append(listed, c.Op)
		for _, rq := range per[i] {
			sent = append(sent, rq)
			if rq.Status < 200 || rq.Status > 299 {
				continue
			}
			got, err := rq.field(k.wire)
			if err != nil {
				h.findings.add(check, k.name, "%s: %s %s: unreadable body: %v", stepText[step], rq.Method, rq.Target, err)
				continue
			}
			if got.present && got.matches(k.row, v) {
				return
			}
		}
	}
	want := "= " + v.GoString()
	if v.IsNull() {
		want = "null or empty"
	}
	if len(listed) == 0 {
		h.findings.add(check, k.name, "%s: no call lists it in its Fields (calls: %s)", stepText[step], describeCalls(calls))
		return
	}
	h.findings.add(check, k.name, "%s: call %s lists it, but no request it made that the simulator accepted carries %q %s (sent: %s)",
		stepText[step], strings.Join(listed, ", "), k.wire, want, describeRequests(sent))
}

// readBack reads res's customer and compares every readable key it
// manages with its value; which reports which check, step and words name
// each key. Any key Read returns that the table marks unreadable is
// reported too.
func (h *harness) readBack(res *engine.Resource, which func(k key) (check, step, when string)) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obs, err := h.client.Read(ctx, res, h.known[res.ID].Clone())
	for _, k := range h.keys {
		want, ok := res.Fields.Get(k.name)
		if !k.row.Readable || !ok {
			continue
		}
		check, step, when := which(k)
		if step != "" {
			h.mark(check, step, k.name)
		}
		if err != nil {
			h.findings.add(check, k.name, "Read %s fails: %v", when, err)
			continue
		}
		switch got, ok := obs.Fields.Get(k.name); {
		case !ok:
			h.findings.add(check, k.name, "Read %s does not return it (want %v)", when, want)
		case got != want:
			h.findings.add(check, k.name, "Read %s returns %v, want %v", when, got, want)
		}
	}
	if err != nil {
		return
	}
	for _, f := range obs.Fields {
		if h.has(checkReadable, "claimed", f.Name) {
			continue
		}
		switch row := h.svc.Key(f.Name); {
		case row == nil:
			h.findings.add(checkReadable, f.Name, "Read returns it (%v), but it is no key of the wire table", f.Value)
		case row.Param:
			h.findings.add(checkReadable, f.Name, "Read returns it (%v), but it is a Param, never diffed", f.Value)
		case !row.Readable:
			h.findings.add(checkReadable, f.Name, "Read returns it (%v), but the table marks it unreadable: the table is wrong, or Read is", f.Value)
		default:
			continue
		}
		h.mark(checkReadable, "claimed", f.Name)
	}
}

// sent is one field of a request body.
type sent struct {
	present bool
	null    bool   // JSON null
	text    string // a string's text, a number's or a boolean's literal
}

// field returns the body's field named wire: a key of a JSON object, or a
// field of a form.
func (r request) field(wire string) (sent, error) {
	if len(r.Body) == 0 {
		return sent{}, nil
	}
	mt, params, err := mime.ParseMediaType(r.ContentType)
	if err != nil {
		return sent{}, fmt.Errorf("content type %q: %v", r.ContentType, err)
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(r.Body, &obj); err != nil {
			return sent{}, err
		}
		raw, ok := obj[wire]
		if !ok {
			return sent{}, nil
		}
		raw = bytes.TrimSpace(raw)
		if string(raw) == "null" {
			return sent{present: true, null: true}, nil
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return sent{present: true, text: s}, nil
		}
		return sent{present: true, text: string(raw)}, nil
	case mt == "multipart/form-data":
		form, err := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"]).ReadForm(1 << 20)
		if err != nil {
			return sent{}, err
		}
		defer form.RemoveAll()
		if vs, ok := form.Value[wire]; ok && len(vs) > 0 {
			return sent{present: true, text: vs[0]}, nil
		}
		return sent{}, nil
	case mt == "application/x-www-form-urlencoded":
		q, err := url.ParseQuery(string(r.Body))
		if err != nil {
			return sent{}, err
		}
		if vs, ok := q[wire]; ok && len(vs) > 0 {
			return sent{present: true, text: vs[0]}, nil
		}
		return sent{}, nil
	}
	return sent{}, fmt.Errorf("content type %q: not JSON or a form", r.ContentType)
}

// matches reports whether s carries v as a key of row's type may travel:
// booleans as true/false or 1/0, dates as the date or its midnight, times
// as the same instant, null as null or empty.
func (s sent) matches(row *engine.ServiceKey, v engine.Value) bool {
	if v.IsNull() {
		return s.null || s.text == ""
	}
	if s.null {
		return false
	}
	switch row.Type {
	case engine.TypeBool:
		switch strings.ToLower(s.text) {
		case "true", "1":
			return v.AsBool()
		case "false", "0":
			return !v.AsBool()
		}
		return false
	case engine.TypeInt:
		i, err := strconv.ParseInt(s.text, 10, 64)
		return err == nil && i == v.AsInt()
	case engine.TypeDate:
		if s.text == v.S {
			return true
		}
		t, err := instant(s.text)
		return err == nil && t.Format(time.DateOnly) == v.S && t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
	case engine.TypeTime:
		a, err1 := instant(s.text)
		b, err2 := instant(v.S)
		return err1 == nil && err2 == nil && a.Equal(b)
	}
	return s.text == v.S
}

func instant(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, s)
}

func describeCalls(calls []engine.Call) string {
	if len(calls) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range calls {
		parts = append(parts, fmt.Sprintf("%s %s %v", c.Op, c.Path, c.Fields))
	}
	return strings.Join(parts, "; ")
}

func describeRequests(rs []request) string {
	if len(rs) == 0 {
		return "no request"
	}
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%s %s %d %s", r.Method, r.Target, r.Status, r.describeBody()))
	}
	return strings.Join(parts, "; ")
}

// describeBody renders a body briefly: compact JSON, or a form's fields.
func (r request) describeBody() string {
	const max = 400
	clip := func(s string) string {
		if len(s) > max {
			return s[:max] + "..."
		}
		return s
	}
	mt, params, _ := mime.ParseMediaType(r.ContentType)
	if mt == "multipart/form-data" {
		form, err := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"]).ReadForm(1 << 20)
		if err == nil {
			defer form.RemoveAll()
			var names []string
			for k := range form.Value {
				names = append(names, k)
			}
			sort.Strings(names)
			var parts []string
			for _, k := range names {
				parts = append(parts, fmt.Sprintf("%s=%q", k, form.Value[k][0]))
			}
			return clip("form{" + strings.Join(parts, " ") + "}")
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, r.Body) == nil {
		return clip(buf.String())
	}
	return clip(string(r.Body))
}

// paceOf is the pace of the suite's requests: half the service's default
// rate, one at a time, so that a loaded machine's jitter (requests handled
// closer together than they were sent) cannot draw a 429 from a simulator
// that enforces the limit to the millisecond. (Apply's own pacing is
// tested in engine, at the limit.)
func paceOf(svc *engine.Service) engine.Limiter {
	return engine.NewTokenBucket(svc.Defaults.RateLimit*0.5, 1)
}

// callsText is calls in JSON, for comparing.
func callsText(calls []engine.Call) string {
	b, err := json.Marshal(calls)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
