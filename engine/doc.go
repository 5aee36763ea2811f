// Package engine is reconcile's domain: the customer model, the services as
// data, the state of what was last applied, the plan that diffs the two, and
// apply and reads. It never imports a provider and never writes to the
// terminal: it returns plans, results and diagnostics, and the CLI renders
// them.
//
// The shape, from the data to the calls:
//
//   - A Service (service.go) is everything one service means, declared by
//     its package under providers/: its wire table (ServiceKey: each key's
//     type and rules, its name on the wire, the call that settles it,
//     whether the service reads it back), the record rules that span keys,
//     what a create needs, what on_remove: disable sets, its default limits
//     and limiter kind, its credential and base-URL variables, and how to
//     build its client (a Provider) and its simulator. A Registry
//     (registry.go) lists the services and derives the manifest schema from
//     their tables; the product's is providers/registry, tests build their
//     own. No service is named in this package: the plan, apply, reads, the
//     manifest loader (engine/manifest), the sandbox and the CLI iterate
//     over the registry.
//   - MakePlan (plan.go) diffs the manifests' Desired customers with the
//     State, on every core; each change's calls come from its service's
//     Provider.Calls, offline. A saved plan (planfile.go) keeps its calls.
//   - Apply (apply.go) and ReadAll (read.go) share one scheduler: per
//     service, workers up to its concurrency; a credential probe (one call
//     at a time until one is answered without a 401/403, none after one);
//     retries with backoff, Retry-After and adaptive rate. Every request a
//     provider sends is admitted through the apply's Gate (gate.go,
//     slots.go) by the one HTTP layer all providers use
//     (providers/internal/httpx): a -parallelism slot first (free slots go to
//     the services in turn), then the service's rate-limit token, right
//     before the request goes out, and its timeout starts only then. No
//     token is taken early and spent late, so a sliding window (TomTicket's
//     3 in any second) holds however full -parallelism is.
//   - Every completed call is given to a Recorder before it counts as
//     done; engine/state journals it durably. engine/operation runs the
//     whole protocol (lock, load and fold the journal, plan or read a saved
//     plan, staleness check, save, journal, apply, save, report) for the CLI.
package engine
