package operation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/reconcile-dev/reconcile/engine"
)

// MissingCredentials is returned, before any call, when services that an
// operation would call cannot: their credentials are missing (each problem
// names the variables to set) or their settings are invalid.
type MissingCredentials struct {
	// Problems holds each such service's Ready error, in registry order.
	Problems []error
	// Reading is true when the services were to be read (refresh, import),
	// false when changes were to be applied.
	Reading bool
}

func (e *MissingCredentials) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Error()
	}
	outcome := "no call was made"
	if e.Reading {
		outcome = "nothing was read"
	}
	return strings.Join(msgs, "; ") + "; " + outcome
}

// ForeignPlanError refuses a saved plan made against another state (another
// lineage). Nothing was changed.
type ForeignPlanError struct {
	PlanFile     string
	PlanLineage  string
	StateLineage string
}

func (e *ForeignPlanError) Error() string {
	return fmt.Sprintf("the plan %s was made against another state (lineage %s; this state is %s)", e.PlanFile, e.PlanLineage, e.StateLineage)
}

// ForeignTargetError refuses a saved plan made for other services than
// those this apply would call (the sandbox's plan applied without -sandbox,
// or another base URL), or that does not record where it goes. Nothing was
// sent.
type ForeignTargetError struct {
	PlanFile string
	// Planned is the plan's target; nil when it records none.
	Planned *engine.PlanTarget
	// Here is where this apply's calls would go.
	Here engine.PlanTarget
}

func (e *ForeignTargetError) Error() string {
	if e.Planned == nil {
		return fmt.Sprintf("the plan %s does not record where it goes (an unknown target); this apply goes to %s", e.PlanFile, e.Here)
	}
	return fmt.Sprintf("the plan %s was made for %s; this apply goes to %s", e.PlanFile, e.Planned, e.Here)
}

// StalePlanError refuses a saved plan that touches addresses whose state
// entries changed since it was made. Nothing was changed.
type StalePlanError struct {
	PlanFile string
	// Addresses lists them all, in plan order.
	Addresses []string
}

func (e *StalePlanError) Error() string {
	return fmt.Sprintf("the plan %s is stale: the state changed since it was made for %s", e.PlanFile, strings.Join(e.Addresses, ", "))
}

// RefusedError is an apply the safety rails refuse, before any call.
type RefusedError struct {
	// Problems are engine.RailProblems: each says how to proceed.
	Problems []string
}

func (e *RefusedError) Error() string {
	return "apply refused before any call: " + strings.Join(e.Problems, "; ")
}

// ReadsFailedError says that reads failed (after their retries); nothing
// was planned or recorded from them.
type ReadsFailedError struct {
	// Failed holds the failed reads, in request order.
	Failed []engine.ReadResult
	// Total is how many reads were made.
	Total int
}

func (e *ReadsFailedError) Error() string {
	return fmt.Sprintf("%d of %d reads failed; nothing was planned or recorded from them", len(e.Failed), e.Total)
}

// ErrCancelled is an apply that was not confirmed. Nothing was changed.
var ErrCancelled = errors.New("apply cancelled: nothing was changed")
