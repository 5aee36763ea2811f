// Package engine is reconcile's domain: the customer model and its schema,
// the state of what was last applied, the plan that diffs the two, and the
// Provider interface that services implement. It never imports a provider and
// never writes to the terminal: it returns plans, results and diagnostics,
// and the CLI renders them. Package engine/operation runs the protocols of
// plan, apply, refresh and import over it.
package engine
