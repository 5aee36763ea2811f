package engine

import "fmt"

// DefaultMaxDisable is how many customers an apply may disable unless
// -max-disable raises it.
const DefaultMaxDisable = 10

// Rails are the safety checks an apply passes before making any call.
type Rails struct {
	// MaxDisable is the most customers one apply may disable.
	MaxDisable int
	// AllowMassForget lets an apply forget more than half of the state's
	// addresses (a truncated spreadsheet must not silently drop everyone).
	AllowMassForget bool
}

// RailProblems lists what in p the rails refuse, given how many addresses
// the state holds; empty when p may be applied. Each message says how to
// proceed.
func RailProblems(p *Plan, stateAddresses int, r Rails) []string {
	var out []string
	if d := p.Summary.Disable; d > r.MaxDisable {
		out = append(out, fmt.Sprintf("the plan disables %d customers, more than -max-disable %d: check that the manifests are complete, then apply with -max-disable %d", d, r.MaxDisable, d))
	}
	if f := p.Summary.Forget; !r.AllowMassForget && stateAddresses > 0 && 2*f > stateAddresses {
		out = append(out, fmt.Sprintf("the plan forgets %d of the state's %d addresses, more than half: a truncated spreadsheet or a wrong -f looks like this; if it is intended, apply with -allow-mass-forget", f, stateAddresses))
	}
	return out
}
