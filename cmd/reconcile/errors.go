package main

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/reconcile-dev/reconcile/engine/operation"
)

// maxFailuresShown bounds the failures listed after an apply or in a read
// error; the report has them all.
const maxFailuresShown = 10

// explain words the operations' typed errors for the command line.
func explain(err error) error {
	var (
		missing *operation.MissingCredentials
		foreign *operation.ForeignPlanError
		stale   *operation.StalePlanError
		refused *operation.RefusedError
		reads   *operation.ReadsFailedError
	)
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
	case errors.As(err, &foreign):
		return &exitError{code: 1, msg: fmt.Sprintf("the plan %s was made against another state (lineage %s; this state is %s). Plan again against this state: reconcile plan -out %s",
			foreign.PlanFile, foreign.PlanLineage, foreign.StateLineage, foreign.PlanFile)}
	case errors.As(err, &stale):
		addrs, more := stale.Addresses, ""
		if len(addrs) > 10 {
			more = fmt.Sprintf(" and %d more", len(addrs)-10)
			addrs = addrs[:10]
		}
		return &exitError{code: 1, msg: fmt.Sprintf("the plan %s is stale: the state changed since it was made for %s%s (an apply ran, perhaps this plan's). Nothing was changed. Plan again: reconcile plan -out %s",
			stale.PlanFile, strings.Join(addrs, ", "), more, stale.PlanFile)}
	case errors.As(err, &refused):
		return &exitError{code: 1, msg: "apply refused before any call:\n  " + strings.Join(refused.Problems, "\n  ")}
	case errors.As(err, &reads):
		var failed []string
		for _, r := range reads.Failed {
			failed = append(failed, fmt.Sprintf("  %s: %v", r.Address, r.Err))
		}
		sort.Strings(failed)
		more := ""
		if len(failed) > maxFailuresShown {
			more = fmt.Sprintf("\n  ... and %d more", len(failed)-maxFailuresShown)
			failed = failed[:maxFailuresShown]
		}
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d reads failed; nothing was planned or recorded from them:\n%s%s", len(failed), reads.Total, strings.Join(failed, "\n"), more)}
	}
	return err
}
