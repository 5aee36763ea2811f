// Package operation is reconcile's protocol: how a plan, an apply and an
// import read the manifests, the state and the services, and in what order
// they write the state, so that no interruption loses what was applied.
//
// A Runner holds what every operation needs: the services (a Registry),
// the state (an engine.Backend), how to build the services' clients, and a
// logger. The caller supplies the rest per request: the manifests, the
// flags' values, and hooks to show the plan, ask for confirmation and follow
// the calls. The package imports only the engine: no service, no command
// line, no terminal. Refusals come back as typed errors (MissingCredentials,
// StalePlanError, RefusedError, ...) that the caller words.
//
// # Plan
//
// Plan diffs the manifests against the state: the state is loaded without
// the lock (a plan writes nothing), the clients are built offline (they only
// say which calls each change becomes), and with Refresh the targeted
// customers the state holds are read from their services first (Connect is
// called then: reading needs the services) and the plan is made against
// what they hold. The same pipeline (clients, refresh, MakePlan) makes the
// plan of an apply.
//
// # Apply
//
// An apply, in order:
//
//  1. takes the state lock, then loads the state; the load folds in the
//     journal of an apply that did not finish (see below);
//  2. connects to the services (Connect);
//  3. reads the saved plan and refuses it if it was made for other
//     services (its target: the sandbox, or each service's base URL; a
//     plan that records none is refused too), against another state (its
//     lineage), or if any entry it touches changed since (the digest it
//     keeps of each), or else plans as Plan does;
//  4. shows the plan; with no changes it ends there, saving the state
//     first when the load folded a journal in, so that no journal lingers;
//  5. refuses, before any call, a plan the rails refuse, and one whose
//     services lack their credentials (naming every missing variable);
//  6. asks for confirmation;
//  7. saves the state, so that the journal opened next always extends the
//     state file beside it, then opens the journal;
//  8. applies: every completed call is written to the journal before it
//     counts as done, and folded into the state in memory;
//  9. closes the journal and saves the state, even after a cancellation;
//     the save discards the journal, whose records the state now holds;
//  10. releases the lock and returns the result, for the report.
//
// # Crash safety
//
// Whenever the process ends, by a crash, kill -9 or power loss, the stored
// state is whole (backends replace it atomically), and the journal beside
// it holds every call that completed since the last save: a call counts as
// done only once its record is in the operating system's hands. The next
// command's load folds the journal in, so the next plan shows exactly what
// is still to do, plus at most the calls in flight at the crash, which are
// sent again (every call is an update or a create-or-update). Step 7 means a
// journal never extends a state older than the one it was opened for, and
// the lock means only one command writes a state at a time. An error while
// saving at step 9 leaves the journal in place: the next command folds it
// in, and nothing is lost.
//
// A backend can say whether a journal is waiting before the state is loaded
// (JournalProber); one that cannot, folds the journal again on every load
// until a save that includes it, which is harmless: records hold absolute
// values.
//
// # Import
//
// Import takes the lock, loads the state, connects, reads from their
// services the targeted customers of the manifests that the state does not
// hold yet, and records what the services hold for each customer found, in
// one save (made as well when nothing was imported but the load folded a
// journal in). Customers the services do not have are left to apply's
// creates; addresses already in the state are skipped.
package operation
