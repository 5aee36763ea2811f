// Package conformance checks a service's declaration (engine.Service)
// against its own client and simulator, using nothing but the Service
// value, so that it runs alike over every registered service and over a
// test's own:
//
//   - declarations: the wire table and the variables are coherent;
//   - settled: every key that reaches the service (each non-Param key; one
//     member of a family) is in the Fields of a call its Calls plans, for a
//     create and for an update that changes only that key, and is in that
//     call's request body, under its Wire name, with the value written;
//   - readable: every key marked Readable is returned by Read with the value
//     written (in the engine's canonical form) after the create and after
//     its update, and Read returns no key the table marks unreadable;
//   - clearable: every key that is neither NotNull nor Param clears: an
//     update to null sends it null or empty, and Read then returns null.
//
// Values come from the keys' types and bounds (an e-mail, an ISO country,
// dates, times with an offset, enum members, integers within Min..Max), go
// through the manifest loader, so they are what a plan sends and what Read
// must return, and satisfy the service's Rules, with CreateNeeds on every
// create. One customer carries every key the Rules allow together; a key
// whose update or clear the Rules refuse there (TomTicket's email, which
// must equal the id under id_type email) runs on a customer of its own. A
// create that fails is narrowed down to the key that makes it fail.
//
// The simulator is served by httptest on loopback with the service's
// sandbox credentials; its base URL reaches the client only through
// BaseURLVar, and a request anywhere else fails. Requests are paced at the
// service's default limits, so a 429 is a finding too.
//
// What the suite cannot see: whether a key marked unreadable could be read
// (the read answer is the client's business), and a wrong Wire that the
// simulator accepts and Read does not check.
package conformance

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
)

// The checks, as subtests and messages name them.
const (
	checkDeclarations = "declarations"
	checkSettled      = "settled"
	checkReadable     = "readable"
	checkClearable    = "clearable"
)

// Member is the member of a Prefix family the checks use: custom_fields
// is exercised as custom_fields.cf_conf.
const Member = "cf_conf"

// Run checks svc: its declarations, then its client against its simulator.
// Each check is a subtest with one subtest per key, and each failure names
// the service, the key and the check.
func Run(t *testing.T, svc *engine.Service, opts ...Option) {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if svc == nil {
		t.Fatal("conformance: nil service")
	}
	decl := Declarations(svc)
	var f *Findings
	if svc.New != nil && svc.Sim != nil {
		f = Evaluate(t, svc)
	} else {
		f = &Findings{}
		t.Errorf("%s: %s: no client constructor or no simulator: the wire checks cannot run", svc.Name, checkDeclarations)
	}
	f.touch(checkDeclarations, "service")
	for _, p := range decl {
		f.add(checkDeclarations, "service", "%s", p)
	}
	for _, check := range []string{checkDeclarations, checkSettled, checkReadable, checkClearable} {
		t.Run(check, func(t *testing.T) {
			for _, name := range f.Keys(check) {
				t.Run(name, func(t *testing.T) {
					msgs := f.Get(check, name)
					why, known := o.known[check+"|"+name]
					for _, msg := range msgs {
						if known {
							t.Logf("known (%s): %s %s: %s: %s", why, svc.Name, name, check, msg)
							continue
						}
						t.Errorf("%s %s: %s: %s", svc.Name, name, check, msg)
					}
					if known && len(msgs) == 0 {
						t.Errorf("%s %s: %s: passes, but is declared Known (%s): remove the declaration", svc.Name, name, check, why)
					}
				})
			}
		})
	}
	for k, why := range o.known {
		check, name, _ := strings.Cut(k, "|")
		if !slices.Contains(f.Keys(check), name) {
			t.Errorf("%s %s: %s: declared Known (%s), but the suite has no such check of such a key", svc.Name, name, check, why)
		}
	}
}

// Option changes what Run expects.
type Option func(*options)

type options struct {
	known map[string]string
}

// Known declares that check fails for key for a reason reported elsewhere
// (why): Run logs the failure instead of failing, and fails once the check
// passes, so that the declaration goes when the finding is fixed.
func Known(check, key, why string) Option {
	return func(o *options) {
		if o.known == nil {
			o.known = map[string]string{}
		}
		o.known[check+"|"+key] = why
	}
}

// Evaluate runs the wire checks of svc against its simulator and returns
// what they found, without failing t (it stops t only when the suite itself
// cannot go on). Run reports it; the suite's own tests inspect it.
func Evaluate(t *testing.T, svc *engine.Service) *Findings {
	t.Helper()
	reg, err := engine.NewRegistry(svc)
	if err != nil {
		t.Fatalf("%s: %s: %v", svc.Name, checkDeclarations, err)
	}
	h := newHarness(t, svc, reg)
	h.exercise()
	return &h.findings
}

// Declarations returns the incoherences in svc's declaration, one sentence
// each, naming the key or the variable.
func Declarations(svc *engine.Service) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if svc.Name == "" {
		add("Name is empty")
	}
	if svc.Title == "" {
		add("Title is empty")
	}
	seen := map[string]bool{}
	for i := range svc.Keys {
		k := &svc.Keys[i]
		name := k.Field
		if seen[name] {
			add("key %s: declared twice", name)
		}
		seen[name] = true
		if !k.Param {
			if k.Call == "" {
				add("key %s: Call is empty: no call settles it", name)
			}
			if k.Wire == "" {
				add("key %s: Wire is empty: it reaches the service but has no name in a request body", name)
			}
		}
		if k.Param && k.Readable {
			add("key %s: a Param is never diffed, so Readable means nothing on it", name)
		}
		if k.Prefix && strings.Count(k.Wire, "%s") != 1 {
			add("key %s: a family's Wire needs one %%s for the member (%q)", name, k.Wire)
		}
		if !k.Prefix && strings.Contains(k.Wire, "%") {
			add("key %s: Wire %q has a verb but the key is no family", name, k.Wire)
		}
		switch k.Type {
		case engine.TypeEnum:
			if len(k.Enum) == 0 {
				add("key %s: an enum without members", name)
			}
		case engine.TypeInt:
			if k.Max <= k.Min {
				add("key %s: integer bounds %d..%d admit at most one value", name, k.Min, k.Max)
			}
		}
		if k.MaxLen > 0 && k.MinLen > k.MaxLen {
			add("key %s: MinLen %d above MaxLen %d", name, k.MinLen, k.MaxLen)
		}
	}
	for _, f := range svc.CreateNeeds {
		k := svc.Key(f)
		switch {
		case k == nil:
			add("CreateNeeds %s: not a key of the service", f)
		case k.Param:
			add("CreateNeeds %s: a Param, never sent as a field", f)
		}
	}
	if svc.Example != "" && svc.Key(svc.Example) == nil {
		add("Example %s: not a key of the service", svc.Example)
	}
	if svc.Disable != nil {
		if k := svc.Key(svc.Disable.Name); k == nil || k.Param {
			add("Disable %s: not a field of the service", svc.Disable.Name)
		}
	}
	for i, r := range svc.Rules {
		if r.Check == nil {
			add("Rules[%d]: no Check", i)
		}
		for _, f := range r.Fields {
			if svc.Key(f) == nil {
				add("Rules[%d]: field %s is not a key of the service", i, f)
			}
		}
	}
	if len(svc.Credentials) == 0 {
		add("Credentials is empty: the redactor and Ready know no variable")
	}
	vars := map[string]bool{}
	for _, c := range svc.Credentials {
		switch {
		case c.Var == "":
			add("a credential has no variable")
		case vars[c.Var]:
			add("credential %s: listed twice", c.Var)
		}
		vars[c.Var] = true
		if c.Sandbox == "" {
			add("credential %s: no sandbox value", c.Var)
		}
	}
	if svc.BaseURLVar == "" {
		add("BaseURLVar is empty: the base URL cannot be pointed at the sandbox")
	} else if vars[svc.BaseURLVar] {
		add("BaseURLVar %s is also a credential", svc.BaseURLVar)
	}
	if u, err := url.Parse(svc.DefaultBaseURL); err != nil || u.Scheme != "https" || u.Host == "" {
		add("DefaultBaseURL %q: not an https URL", svc.DefaultBaseURL)
	}
	if !strings.HasPrefix(svc.SandboxPrefix, "/") || len(svc.SandboxPrefix) < 2 {
		add("SandboxPrefix %q: the sandbox needs a path such as /%s", svc.SandboxPrefix, svc.Name)
	}
	if svc.New == nil {
		add("New is nil")
	}
	if svc.Sim == nil {
		add("Sim is nil")
	}
	if svc.Fault == nil {
		add("Fault is nil: the sandbox cannot inject failures in the service's shape")
	}
	return out
}

// Findings are the problems each check found, by key, in the order the
// keys are first named. Every key a check covers is named, problems or not.
type Findings struct {
	order map[string][]string
	msgs  map[string]map[string][]string
}

func (f *Findings) touch(check, name string) {
	if f.msgs == nil {
		f.order, f.msgs = map[string][]string{}, map[string]map[string][]string{}
	}
	if f.msgs[check] == nil {
		f.msgs[check] = map[string][]string{}
	}
	if _, ok := f.msgs[check][name]; !ok {
		f.msgs[check][name] = nil
		f.order[check] = append(f.order[check], name)
	}
}

func (f *Findings) add(check, name, format string, args ...any) {
	f.touch(check, name)
	msg := fmt.Sprintf(format, args...)
	if !slices.Contains(f.msgs[check][name], msg) {
		f.msgs[check][name] = append(f.msgs[check][name], msg)
	}
}

// Keys lists the keys check covers: "settled", "readable", "clearable",
// "declarations".
func (f *Findings) Keys(check string) []string { return f.order[check] }

// Get returns the problems check found with key.
func (f *Findings) Get(check, key string) []string { return f.msgs[check][key] }
