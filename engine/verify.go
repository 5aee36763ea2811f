package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Read-after-write verification (issue 16). After a write, apply compares
// what the service holds with what was sent, for every field the call
// settled that the service reads back (ServiceKey.Readable): from the
// write's own answer when it carries the record (Outcome.Held), or from a
// read (paced like every request). A field that did not stick is not
// recorded, so the next plan still shows it, and the change fails naming
// the field, what was sent and what the service holds. The canary (each
// service's first DefaultCanary changes) is always verified, and a
// mismatch there stops the service; -verify verifies every change.

// Mismatch is a field the service did not keep as it was sent.
type Mismatch struct {
	Field string
	Sent  Value
	// Held is what the service holds; Absent when its read does not show
	// the field at all (or the customer).
	Held   Value
	Absent bool
}

func (m Mismatch) String() string {
	held := string(m.Held.AppendJSON(nil))
	if m.Absent {
		held = "nothing"
	}
	return fmt.Sprintf("%s did not stick: sent %s, the service holds %s", m.Field, m.Sent.AppendJSON(nil), held)
}

func mismatchText(service string, ms []Mismatch) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return service + ": " + strings.Join(parts, "; ")
}

// verifies reports whether apply verifies it's writes.
func (a *applier) verifies(pr *providerRun, it *Item) bool {
	return it.Change.Desired != nil && (a.opts.VerifyAll || it.canary)
}

// isCanary reports whether item i is one of pr's canary changes.
func (pr *providerRun) isCanary(i int) bool {
	return slices.Contains(pr.idx[:pr.canary], i)
}

// verify compares what the service holds after call with what it was sent.
func (a *applier) verify(ctx context.Context, pr *providerRun, ch *Change, call Call, out Outcome) ([]Mismatch, error) {
	svc := a.opts.Registry.Service(pr.name)
	var check []string
	for _, name := range call.Fields {
		if k := svc.Key(name); k != nil && k.Readable && !k.Param {
			check = append(check, name)
		}
	}
	if len(check) == 0 {
		return nil, nil
	}
	var held *Observed
	if out.Held != nil {
		held = out.Held()
	}
	if held == nil {
		ids := ch.IDs.Clone()
		for _, id := range out.IDs {
			ids = ids.Set(id.Name, id.Value)
		}
		// Not guarded: the write was made, so its check is read even after
		// another change stopped the service.
		err := a.retry(ctx, pr, ch.Address, "verify", func(ctx context.Context) error {
			var err error
			held, err = pr.prov.Read(ctx, ch.Desired, ids)
			return err
		})
		switch {
		case errors.Is(err, ErrNotFound):
			held = &Observed{}
		case err != nil:
			return nil, err
		}
	}
	var lost []Mismatch
	for _, name := range check {
		sent, _ := ch.Desired.Fields.Get(name)
		got, ok := held.Fields.Get(name)
		if ok && sameHeld(svc.Key(name).Type, sent, got) {
			continue
		}
		lost = append(lost, Mismatch{Field: name, Sent: sent, Held: got, Absent: !ok})
	}
	return lost, nil
}

// sameHeld compares a sent value with the one the service holds, as the
// service writes values: e-mail addresses in any case.
func sameHeld(t Type, sent, held Value) bool {
	if sent == held {
		return true
	}
	return t == TypeEmail && sent.K == held.K && strings.EqualFold(sent.S, held.S)
}

// withoutFields drops the mismatched fields from a record's settled ones.
func withoutFields(set Fields, lost []Mismatch) Fields {
	if len(lost) == 0 {
		return set
	}
	out := set[:0:0]
	for _, f := range set {
		if !slices.ContainsFunc(lost, func(m Mismatch) bool { return m.Field == f.Name }) {
			out = append(out, f)
		}
	}
	return out
}
