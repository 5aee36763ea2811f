package manifest

import (
	"slices"
	"strings"

	"github.com/reconcile-dev/reconcile/engine"
)

// schemaNode is one level of the YAML customer record: the record itself,
// a provider block, bonifiq's tier. The tree is engine.Schema's paths split
// at the dots.
type schemaNode struct {
	// key is the leaf's schema entry, nil for a block.
	key      *engine.Key
	children map[string]*schemaNode
	// names lists the children, for "did you mean" hints.
	names []string
}

var schemaRoot = func() *schemaNode {
	root := &schemaNode{children: map[string]*schemaNode{}}
	for _, k := range engine.Schema {
		n := root
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
	}
	return root
}()

// Keys the record rules look at, by path; they are the schema's own strings.
var (
	keyID         = engine.LookupKey("id")
	pathEmail     = engine.LookupKey("email").Path
	pathPhone     = engine.LookupKey("phone").Path
	pathTierID    = engine.LookupKey("bonifiq.tier.id").Path
	pathTierGrace = engine.LookupKey("bonifiq.tier.grace_period_days").Path
	pathTierNote  = engine.LookupKey("bonifiq.tier.comments").Path
	pathCountry   = engine.LookupKey("invisiblecollector.country").Path
	pathIDType    = engine.LookupKey("tomticket.id_type").Path
	pathInternal  = engine.LookupKey("tomticket.internal_id").Path
)

// providerBit returns the Managed bit of k's provider, or 0 for a shared key.
func providerBit(k *engine.Key) uint8 {
	if k.Provider == "" {
		return 0
	}
	return 1 << engine.ProviderIndex(k.Provider)
}

// misplacedHint names where a key that is unknown at one level of a YAML
// record belongs, when it is a key of another level: "enrolled" at the
// customer level goes in the bonifiq block.
func misplacedHint(name, here string) string {
	if i := strings.IndexByte(name, '.'); i > 0 {
		if k := engine.LookupKey(name); k != nil || schemaRoot.children[name[:i]] != nil {
			return "nest the key instead of joining it with dots: " + nested(name)
		}
	}
	for _, k := range engine.Schema {
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

// nested renders a dotted path as nested YAML: "bonifiq: {tier: {id: ...}}".
func nested(path string) string {
	parts := strings.Split(path, ".")
	s := parts[len(parts)-1] + ": ..."
	for _, p := range slices.Backward(parts[:len(parts)-1]) {
		s = p + ": {" + s + "}"
	}
	return s
}
