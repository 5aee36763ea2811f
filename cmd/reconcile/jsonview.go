package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/operation"
)

// jsonStream writes the machine-readable output of apply -json and import
// -json: one JSON object per line on stdout, from the first line to the
// last, each with a "type" (as terraform's machine-readable UI), an
// "@level", an "@message" for people and an "@timestamp":
//
//	version          the first line: reconcile's version
//	diagnostic       a warning or an error, with its summary and position
//	read_start       reads are about to be made: "reads" per service
//	read_progress    a read done ("done"/"total"), or retried ("retry")
//	read_complete    the reads of a refresh are over: "read", "missing"
//	planned_change   one change of the plan: "change", as plan -json has it
//	change_summary   the plan's counts: "changes", "operation": "plan"
//	apply_start      the calls are about to start: "changes", "calls"
//	apply_progress   a call done ("done"/"total"), or retried ("retry")
//	apply_complete   a change made: "change" with its status
//	apply_errored    a change failed, or not attempted: "change"
//	import_result    one address of an import: "address", "status"
//	summary          the last line: "operation", "outcome", "counts",
//	                 "exit_status"
//
// Nothing else goes to stdout; no prompt is ever shown (apply -json needs
// -auto-approve or a plan file).
type jsonStream struct {
	c         *cli
	operation string
	mu        sync.Mutex
	w         io.Writer
	now       func() time.Time
}

// uiVersion is the version of the JSON lines' format.
const uiVersion = "1.0"

func (c *cli) newJSONStream(operation string) *jsonStream {
	s := &jsonStream{c: c, operation: operation, w: c.stdout, now: time.Now}
	s.emit("info", "version", "reconcile "+buildVersion().version, map[string]any{"reconcile": buildVersion().version, "ui": uiVersion})
	return s
}

// emit writes one line of type typ.
func (s *jsonStream) emit(level, typ, msg string, fields map[string]any) {
	m := make(map[string]any, len(fields)+4)
	for k, v := range fields {
		m[k] = v
	}
	m["@level"], m["@message"], m["@timestamp"], m["type"] = level, s.c.redact(msg), s.now().UTC().Format(time.RFC3339Nano), typ
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		b.Reset()
		fmt.Fprintf(&b, "{\"type\":\"diagnostic\",\"@level\":\"error\",\"@message\":%q}\n", err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Write(b.Bytes())
}

// diagnostics writes each of ds as a diagnostic line.
func (s *jsonStream) diagnostics(ds engine.Diagnostics) {
	for _, d := range ds {
		level := "warn"
		sev := "warning"
		switch d.Severity {
		case engine.Error:
			level, sev = "error", "error"
		case engine.Note:
			level, sev = "info", "note"
		}
		diag := map[string]any{"severity": sev, "summary": d.Summary}
		if d.Detail != "" {
			diag["detail"] = d.Detail
		}
		if d.Pos.File != "" {
			diag["range"] = map[string]any{"filename": d.Pos.File, "line": d.Pos.Line, "column": d.Pos.Col, "position": d.Pos.String()}
		}
		s.emit(level, "diagnostic", d.String(), map[string]any{"diagnostic": diag})
	}
}

// failure writes the diagnostics of err, the error a command ends with.
func (s *jsonStream) failure(err error) {
	if err == nil {
		return
	}
	var ds engine.Diagnostics
	if errors.As(err, &ds) {
		s.diagnostics(ds)
		return
	}
	err = s.c.explain(err)
	var ee *exitError
	if errors.As(err, &ee) && ee.msg == "" {
		return // the command has said what it had to say
	}
	msg := s.c.withHintFlags(err.Error())
	s.emit("error", "diagnostic", msg, map[string]any{"diagnostic": map[string]any{"severity": "error", "summary": s.c.redact(msg)}})
}

// summary writes the last line.
func (s *jsonStream) summary(msg, outcome string, counts map[string]int, err error) {
	s.emit(map[bool]string{true: "info", false: "error"}[exitStatus(err) == 0], "summary", msg, map[string]any{
		"operation": s.operation, "outcome": outcome, "counts": counts, "exit_status": exitStatus(err),
	})
}

// hooks are the reads' and warnings' lines, for apply -json -refresh and
// import -json.
func (s *jsonStream) hooks() operation.Hooks {
	return operation.Hooks{
		Warnings: func(ds engine.Diagnostics) {
			s.diagnostics(ds)
			for _, dg := range ds {
				fmt.Fprintln(s.c.stderr, dg.String())
			}
		},
		Reading: func(totals map[string]int) (func(engine.Event), func()) {
			s.emit("info", "read_start", "Reading "+perService(s.c, totals, "read", "reads"), map[string]any{"reads": totals})
			pg := &jsonProgress{s: s, kind: "read", totals: totals, done: map[string]int{}}
			return pg.event, func() {}
		},
		Refreshed: func(read, missing int) {
			s.emit("info", "read_complete", fmt.Sprintf("Refreshed %s from the services; %d no longer there", plural(read, "customer", "customers"), missing),
				map[string]any{"read": read, "missing": missing})
		},
	}
}

// perService renders "bonifiq 12 calls, tomticket 6 calls".
func perService(c *cli, totals map[string]int, one, many string) string {
	var parts []string
	for _, name := range c.reg.Names() {
		if n := totals[name]; n > 0 {
			parts = append(parts, name+" "+plural(n, one, many))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// jsonProgress writes the progress of calls or reads as JSON lines.
type jsonProgress struct {
	s *jsonStream
	// kind is "apply" or "read", the prefix of the lines' types.
	kind   string
	mu     sync.Mutex
	totals map[string]int
	done   map[string]int
}

func (pg *jsonProgress) start() {}
func (pg *jsonProgress) stop()  {}

// say writes a message (an interruption) to stderr and as a diagnostic.
func (pg *jsonProgress) say(msg string) {
	fmt.Fprintln(pg.s.c.stderr, msg)
	pg.s.emit("warn", "diagnostic", strings.TrimSpace(msg), map[string]any{"diagnostic": map[string]any{"severity": "warning", "summary": strings.TrimSpace(msg)}})
}

func (pg *jsonProgress) event(ev engine.Event) {
	c := pg.s.c
	c.logEvent(ev)
	switch ev.Kind {
	case engine.EventCall:
		pg.mu.Lock()
		pg.done[ev.Provider]++
		done, total := pg.done[ev.Provider], pg.totals[ev.Provider]
		pg.mu.Unlock()
		pg.s.emit("info", pg.kind+"_progress", fmt.Sprintf("%s: %s done (%s %d/%d)", ev.Address, ev.Op, ev.Provider, done, total), map[string]any{
			"provider": ev.Provider, "address": ev.Address, "op": ev.Op, "done": done, "total": total,
		})
	case engine.EventRetry:
		reason := retryReason(ev.Err)
		retry := map[string]any{"attempt": ev.Attempt, "wait_seconds": ev.Wait.Seconds(), "reason": reason, "error": c.redact(ev.Err.Error())}
		msg := fmt.Sprintf("%s: %s failed (%s), retrying in %s", ev.Address, ev.Op, reasonText(reason), shortDuration(ev.Wait))
		if ev.RetryAfter > ev.Wait {
			retry["asked_seconds"] = ev.RetryAfter.Seconds()
			msg += fmt.Sprintf(" (the service asked for %s; reconcile waits at most %s)", shortDuration(ev.RetryAfter), shortDuration(engine.MaxRetryAfter))
		}
		pg.s.emit("warn", pg.kind+"_progress", msg, map[string]any{"provider": ev.Provider, "address": ev.Address, "op": ev.Op, "retry": retry})
	case engine.EventChange:
		pg.s.change(ev.Item)
	}
}

// changeDoc is one change's outcome in apply_complete and apply_errored.
type changeDoc struct {
	Address    string `json:"address"`
	Provider   string `json:"provider"`
	ID         string `json:"id"`
	Action     string `json:"action"`
	Status     string `json:"status"`
	HTTPStatus int    `json:"http_status,omitempty"`
	Message    string `json:"message,omitempty"`
	Source     string `json:"source,omitempty"`
}

// change writes a finished change's line.
func (s *jsonStream) change(it *engine.Item) {
	ch := it.Change
	doc := changeDoc{Address: ch.Address, Provider: ch.Provider, ID: ch.ID, Action: string(ch.Action), Status: string(it.Status),
		HTTPStatus: it.HTTPStatus, Message: s.c.redact(s.c.withHintFlags(it.Message)), Source: ch.Source}
	switch it.Status {
	case engine.StatusOK, engine.StatusWarning:
		msg := fmt.Sprintf("%s: %s complete", ch.Address, ch.Action)
		if it.Status == engine.StatusWarning {
			msg += ": " + doc.Message
		}
		s.emit("info", "apply_complete", msg, map[string]any{"change": doc})
	default:
		msg := fmt.Sprintf("%s: %s failed: %s", ch.Address, ch.Action, doc.Message)
		if it.Status == engine.StatusNotAttempted {
			msg = fmt.Sprintf("%s: %s not attempted", ch.Address, ch.Action)
			if doc.Message != "" {
				msg += ": " + doc.Message
			}
		}
		s.emit("error", "apply_errored", msg, map[string]any{"change": doc})
	}
}

// jsonApplyView is apply -json.
type jsonApplyView struct {
	s *jsonStream
	// res and interrupted are what the calls did, for the summary.
	res         *engine.Result
	interrupted bool
	// planned says the plan was shown (a plan with no changes ends there).
	planned bool
	changes int
}

func (v *jsonApplyView) plan(p *engine.Plan, _ int) error {
	v.planned, v.changes = true, len(p.Changes)
	var b []byte
	for _, ch := range p.Changes {
		b = engine.AppendChangeJSON(b[:0], ch)
		v.s.emit("info", "planned_change", fmt.Sprintf("%s: plan to %s", ch.Address, ch.Action), map[string]any{"change": json.RawMessage(b)})
	}
	sum := p.Summary
	v.s.emit("info", "change_summary", summaryLine(p), map[string]any{
		"operation":     "plan",
		"changes":       map[string]int{"create": sum.Create, "update": sum.Update, "disable": sum.Disable, "forget": sum.Forget, "no_op": sum.NoOp},
		"state_lineage": p.StateLineage,
		"state_serial":  p.StateSerial,
	})
	return nil
}

func (v *jsonApplyView) hooks() operation.Hooks { return v.s.hooks() }

func (v *jsonApplyView) progress(totals map[string]int) progressView {
	v.s.emit("info", "apply_start", fmt.Sprintf("Applying %s: %s", plural(v.changes, "change", "changes"), perService(v.s.c, totals, "call", "calls")),
		map[string]any{"changes": v.changes, "calls": totals})
	return &jsonProgress{s: v.s, kind: "apply", totals: totals, done: map[string]int{}}
}

func (v *jsonApplyView) done(res *engine.Result, interrupted bool) {
	v.res, v.interrupted = res, interrupted
	// Changes never started get their line too: every change has one.
	for _, it := range res.Items {
		if it.Status == engine.StatusNotAttempted {
			v.s.change(it)
		}
	}
	for _, r := range credentialRefusals(v.s.c.reg, res) {
		msg := r.String()
		v.s.emit("error", "diagnostic", msg, map[string]any{"diagnostic": map[string]any{"severity": "error", "summary": msg}})
	}
}

func (v *jsonApplyView) finish(err error) {
	v.s.failure(err)
	if v.res == nil {
		outcome, msg := "error", "Apply failed before any call: nothing was changed."
		if err == nil {
			outcome, msg = "no_changes", "No changes. The services match the manifests."
		}
		v.s.summary(msg, outcome, map[string]int{}, err)
		return
	}
	head, outcome := applyHeadline(v.res, v.interrupted)
	v.s.summary(head, outcome, resultCounts(v.res), err)
}

// resultCounts are the counts of an apply's summary line.
func resultCounts(res *engine.Result) map[string]int {
	return map[string]int{
		"changes": len(res.Items), "created": res.Created, "updated": res.Updated, "disabled": res.Disabled, "forgotten": res.Forgotten,
		"failed": res.Failed, "warnings": res.Warnings, "not_attempted": res.NotAttempted,
	}
}
