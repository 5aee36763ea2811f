package manifest

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/reconcile-dev/reconcile/engine"
)

// schemaNode is one level of the YAML customer record: the record itself,
// a service's block, bonifiq's tier. The tree is the registry's key paths
// split at the dots.
type schemaNode struct {
	// key is the leaf's schema entry, nil for a block.
	key      *engine.Key
	children map[string]*schemaNode
	// names lists the children, for "did you mean" hints.
	names []string
}

// schema is what the loader knows of a registry's keys, worked out once per
// registry.
type schema struct {
	reg  *engine.Registry
	root *schemaNode
	// headerPaths lists the canonical CSV headers for hints: every key path
	// except a family's, which needs a field id.
	headerPaths []string
	// examples are keys users recognise, one per service, for hints:
	// "bonifiq.enrolled".
	examples []string
	// rules are each service's record rules, by registry index.
	rules [][]serviceRule
	// lenChecks are, by registry index, the shared keys on which each
	// service puts a stricter bound (MaxLen) than the key's own.
	lenChecks [][]*engine.ServiceKey
}

// serviceRule is one of a service's record rules, with the manifest paths
// whose presence can break it (none: every customer managed there).
type serviceRule struct {
	svc   *engine.Service
	rule  engine.Rule
	paths []string
}

var schemas sync.Map // *engine.Registry → *schema

func schemaOf(reg *engine.Registry) *schema {
	if sc, ok := schemas.Load(reg); ok {
		return sc.(*schema)
	}
	sc := &schema{reg: reg, root: &schemaNode{children: map[string]*schemaNode{}}}
	for _, k := range reg.Keys() {
		n := sc.root
		for part := range strings.SplitSeq(k.Path, ".") {
			c := n.children[part]
			if c == nil {
				c = &schemaNode{children: map[string]*schemaNode{}}
				n.children[part] = c
				n.names = append(n.names, part)
			}
			n = c
		}
		n.key = k
		if !k.Prefix {
			sc.headerPaths = append(sc.headerPaths, k.Path)
		}
	}
	sc.rules = make([][]serviceRule, len(reg.Services()))
	sc.lenChecks = make([][]*engine.ServiceKey, len(reg.Services()))
	for i, svc := range reg.Services() {
		for j := range svc.Keys {
			sk := &svc.Keys[j]
			if !sk.Shared || sk.MaxLen == 0 {
				continue
			}
			if k := reg.LookupKey(sk.Field); k != nil && k.MaxLen != 0 && k.MaxLen <= sk.MaxLen {
				continue // the manifest-level bound already holds it
			}
			sc.lenChecks[i] = append(sc.lenChecks[i], sk)
		}
		if svc.Example != "" {
			sc.examples = append(sc.examples, svc.Name+"."+svc.Example)
		}
		for _, r := range svc.Rules {
			sr := serviceRule{svc: svc, rule: r}
			for _, f := range r.Fields {
				sr.paths = append(sr.paths, reg.Path(svc.Name, f))
			}
			sc.rules[i] = append(sc.rules[i], sr)
		}
	}
	actual, _ := schemas.LoadOrStore(reg, sc)
	return actual.(*schema)
}

// providerBit returns the Managed bit of k's service, or 0 for a shared key.
func (sc *schema) providerBit(k *engine.Key) uint64 {
	if k.Provider == "" {
		return 0
	}
	return 1 << sc.reg.Index(k.Provider)
}

// serviceList names the services: "bonifiq, invisiblecollector or tomticket".
func (sc *schema) serviceList(conj string) string {
	names := sc.reg.Names()
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + conj + " " + names[len(names)-1]
}

// exampleColumns renders the examples for a hint: "bonifiq.enrolled or
// tomticket.language" (the first and the last service's).
func (sc *schema) exampleColumns() string {
	switch len(sc.examples) {
	case 0:
		return "a service's key"
	case 1:
		return sc.examples[0]
	}
	return sc.examples[0] + " or " + sc.examples[len(sc.examples)-1]
}

// misplacedHint names where a key that is unknown at one level of a YAML
// record belongs, when it is a key of another level: "enrolled" at the
// customer level goes in the bonifiq block.
func (sc *schema) misplacedHint(name, here string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		if k := sc.reg.LookupKey(name); k != nil || sc.root.children[name[:i]] != nil {
			return "nest the key instead of joining it with dots: " + nested(name)
		}
	}
	for _, k := range sc.reg.Keys() {
		if k.Prefix || k.Path == "id" {
			continue
		}
		parent, last := "", k.Path
		if i := strings.LastIndexByte(k.Path, '.'); i >= 0 {
			parent, last = k.Path[:i], k.Path[i+1:]
		}
		if last != name || parent == here {
			continue
		}
		if parent == "" {
			return name + " is a shared key: put it at the customer level, beside id"
		}
		return name + " belongs in " + nested(parent+"."+name)
	}
	return ""
}

// keyPathHint is the hint for an unknown dotted key path (a CSV header, a
// sources column or default).
func (sc *schema) keyPathHint(word string) string {
	if h := didYouMean(word, sc.headerPaths); h != "" {
		return h
	}
	for _, k := range sc.reg.Keys() {
		if strings.HasPrefix(k.Path, word+".") && !k.Prefix {
			return fmt.Sprintf("did you mean %q?", k.Path)
		}
	}
	for _, k := range sc.reg.Keys() {
		if k.Provider != "" && (k.Field == word || strings.HasSuffix(k.Field, "."+word)) {
			return fmt.Sprintf("did you mean %q?", k.Path)
		}
	}
	for _, k := range sc.reg.Keys() {
		if k.Prefix && strings.HasPrefix(word, k.Path) {
			return "a custom field is " + k.Path + ".FIELD_ID"
		}
	}
	return ""
}

// nested renders a dotted path as nested YAML: "bonifiq: {tier: {id: ...}}".
func nested(path string) string {
	parts := strings.Split(path, ".")
	s := parts[len(parts)-1] + ": ..."
	for _, p := range slices.Backward(parts[:len(parts)-1]) {
		s = p + ": {" + s + "}"
	}
	return s
}

// disablers names the services that support on_remove: disable.
func (sc *schema) disablers() string {
	var names []string
	for _, svc := range sc.reg.Services() {
		if svc.Disable != nil {
			names = append(names, svc.Name)
		}
	}
	if len(names) == 0 {
		return "no service"
	}
	return strings.Join(names, ", ")
}
