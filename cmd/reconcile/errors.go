package main

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/operation"
)

// maxFailuresShown bounds the failures listed after an apply or in a read
// error; the report has them all.
const maxFailuresShown = 10

// explain words the operations' typed errors for the command line. The
// commands it suggests carry the flags of the command's target.
func (c *cli) explain(err error) error {
	var (
		missing *operation.MissingCredentials
		target  *operation.ForeignTargetError
		foreign *operation.ForeignPlanError
		stale   *operation.StalePlanError
		refused *operation.RefusedError
		reads   *operation.ReadsFailedError
	)
	t := target0(c.resolved)
	switch {
	case errors.As(err, &missing):
		msgs := make([]string, len(missing.Problems))
		for i, p := range missing.Problems {
			msgs[i] = p.Error()
		}
		outcome := "No call was made."
		if missing.Reading {
			outcome = "Reading the services needs their credentials; nothing was read."
		}
		return &exitError{code: 1, msg: strings.Join(msgs, "\n       ") + "\n" + outcome + " (To try reconcile without an account, use -sandbox.)"}
	case errors.As(err, &target):
		if target.Planned == nil {
			return &exitError{code: 1, msg: fmt.Sprintf("the plan %s does not record where it goes (an unknown target: saved by an older reconcile), and this apply goes to %s. Nothing was sent. Plan again for this target: %s",
				target.PlanFile, target.Here, t.command("plan", "-out", target.PlanFile))}
		}
		hint := "Plan again for this target: " + t.command("plan", "-out", target.PlanFile)
		if target.Planned.Sandbox {
			hint = "To apply it to the sandbox, run: " + t.withSandbox(true).command("apply", target.PlanFile) + "; to apply these changes here, plan again: " + t.command("plan", "-out", target.PlanFile)
		} else if target.Here.Sandbox {
			hint = "To apply it where it was made for, run it without -sandbox: " + t.withSandbox(false).command("apply", target.PlanFile) + "; to apply these changes to the sandbox, plan again: " + t.command("plan", "-out", target.PlanFile)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("the plan %s was made for %s, but this apply goes to %s. Nothing was sent. %s",
			target.PlanFile, target.Planned, target.Here, hint)}
	case errors.As(err, &foreign):
		return &exitError{code: 1, msg: fmt.Sprintf("the plan %s was made against another state (lineage %s; this state is %s). Plan again against this state: %s",
			foreign.PlanFile, foreign.PlanLineage, foreign.StateLineage, t.command("plan", "-out", foreign.PlanFile))}
	case errors.As(err, &stale):
		addrs, more := stale.Addresses, ""
		if len(addrs) > 10 {
			more = fmt.Sprintf(" and %d more", len(addrs)-10)
			addrs = addrs[:10]
		}
		return &exitError{code: 1, msg: fmt.Sprintf("the plan %s is stale: the state changed since it was made for %s%s (an apply ran, perhaps this plan's). Nothing was changed. Plan again: %s",
			stale.PlanFile, strings.Join(addrs, ", "), more, t.command("plan", "-out", stale.PlanFile))}
	case errors.As(err, &refused):
		return &exitError{code: 1, msg: "apply refused before any call:\n  " + strings.Join(refused.Problems, "\n  ")}
	case errors.As(err, &reads):
		return &exitError{code: 1, msg: c.readsFailed(reads)}
	}
	return err
}

// readsFailed words failed reads: one message per service that refused the
// credentials (its other reads were not made), then the others by address.
func (c *cli) readsFailed(e *operation.ReadsFailedError) string {
	refusedBy := map[string]int{} // service -> HTTP status
	for _, r := range e.Failed {
		var ce *engine.CallError
		if errors.As(r.Err, &ce) && ce.Fatal && refusedStatus(ce.Status) {
			if prov, _, ok := engine.SplitAddress(r.Address); ok && refusedBy[prov] == 0 {
				refusedBy[prov] = ce.Status
			}
		}
	}
	notRead := map[string]int{}
	var failed []string
	for _, r := range e.Failed {
		prov, _, _ := engine.SplitAddress(r.Address)
		if refusedBy[prov] != 0 {
			var ce *engine.CallError
			if errors.Is(r.Err, engine.ErrProviderStopped) || errors.As(r.Err, &ce) && refusedStatus(ce.Status) {
				notRead[prov]++
				continue
			}
		}
		failed = append(failed, fmt.Sprintf("  %s: %s", r.Address, c.withHintFlags(r.Err.Error())))
	}
	sort.Strings(failed)
	var lines []string
	for _, name := range c.reg.Names() {
		if st := refusedBy[name]; st != 0 {
			svc := c.reg.Service(name)
			lines = append(lines, fmt.Sprintf("  %s refused the credentials (%d %s): check %s. %s not made.",
				name, st, http.StatusText(st), joinAnd(svc.CredentialVars(), ", "), plural(notRead[name], "read", "reads")))
		}
	}
	more := ""
	if len(failed) > maxFailuresShown {
		more = fmt.Sprintf("\n  ... and %d more", len(failed)-maxFailuresShown)
		failed = failed[:maxFailuresShown]
	}
	lines = append(lines, failed...)
	return fmt.Sprintf("%d of %d reads failed; nothing was planned or recorded from them:\n%s%s", len(e.Failed), e.Total, strings.Join(lines, "\n"), more)
}

// target0 is *t, or the zero target (the defaults) before any.
func target0(t *target) target {
	if t == nil {
		return target{}
	}
	return *t
}

// withSandbox is t with -sandbox on or off (its state the default one of
// that choice, unless -state was given).
func (t target) withSandbox(on bool) target {
	t.sandbox = on
	return t
}
