package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// ANSI colours, used only on a terminal.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

func actionColor(a engine.Action) string {
	switch a {
	case engine.ActionCreate:
		return ansiGreen
	case engine.ActionUpdate:
		return ansiYellow
	}
	return ansiRed
}

// renderPlan writes the human plan: each change with its fields, the
// summary line, then the call estimate and notes. flags are the target's,
// for the commands the notes suggest (target.flags).
func renderPlan(w io.Writer, p *engine.Plan, color bool, stateAddresses int, flags string) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	err := p.WriteChanges(bw, func(b []byte, ch *engine.Change) []byte { return appendChange(b, ch, color) })
	if err != nil {
		return err
	}
	if p.Len() > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString(summaryLine(p))
	bw.WriteString("\n")
	writeNotes(bw, p, stateAddresses, flags)
	return bw.Flush()
}

// appendChange renders one change the way SPEC 3.3 shows it.
func appendChange(b []byte, ch *engine.Change, color bool) []byte {
	b = append(b, "  "...)
	if color {
		b = append(b, actionColor(ch.Action)...)
	}
	b = append(b, ch.Action.Symbol()...)
	if color {
		b = append(b, ansiReset...)
	}
	b = append(b, ' ')
	b = append(b, ch.Address...)
	switch ch.Action {
	case engine.ActionDisable:
		b = append(b, " (disable: gone from the manifests; on_remove: disable)"...)
	case engine.ActionForget:
		b = append(b, " (forget: gone from the manifests; dropped from the state, no API call)"...)
	case engine.ActionCreate:
		if ch.Skip {
			b = append(b, " (skipped: not in the service, and on_missing: skip)"...)
		}
	}
	b = append(b, '\n')
	if ch.Fields == nil && ch.Action == engine.ActionCreate && ch.Desired != nil {
		// A create's fields are its desired ones (Change.FieldChanges),
		// rendered without building them.
		for _, f := range ch.Desired.Fields {
			b = appendFieldChange(b, engine.FieldChange{Name: f.Name, After: f.Value}, color)
		}
		return b
	}
	for _, f := range ch.Fields {
		b = appendFieldChange(b, f, color)
	}
	return b
}

// appendFieldChange renders one field of a change.
func appendFieldChange(b []byte, f engine.FieldChange, color bool) []byte {
	b = append(b, "      "...)
	sym := "~"
	if f.Before == nil {
		sym = "+"
	}
	if color {
		if sym == "+" {
			b = append(b, ansiGreen...)
		} else {
			b = append(b, ansiYellow...)
		}
	}
	b = append(b, sym...)
	if color {
		b = append(b, ansiReset...)
	}
	b = append(b, ' ')
	b = append(b, f.Name...)
	b = append(b, " = "...)
	if f.Before != nil {
		b = appendValue(b, *f.Before)
		b = append(b, " -> "...)
	}
	b = appendValue(b, f.After)
	switch {
	case f.Drift:
		b = append(b, "  # changed outside reconcile"...)
	case f.Unreadable:
		b = append(b, "  # the service cannot read this back: planned from the state"...)
	}
	b = append(b, '\n')
	return b
}

func appendValue(b []byte, v engine.Value) []byte {
	switch v.K {
	case engine.KindNull:
		return append(b, "null"...)
	case engine.KindString:
		if plainASCII(v.S) {
			// What AppendQuote makes of it, without its per-rune work.
			return append(append(append(b, '"'), v.S...), '"')
		}
		return strconv.AppendQuote(b, v.S)
	}
	return append(b, v.S...)
}

// plainASCII reports whether strconv.Quote would quote s as it is: printable
// ASCII with no quote or backslash.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// summaryLine is the plan's last line; its counts are plain digits, for
// scripts.
func summaryLine(p *engine.Plan) string {
	s := p.Summary
	if s.Changes() == 0 {
		return "No changes. The services match the manifests."
	}
	line := fmt.Sprintf("Plan: %d to create, %d to update, %d to disable, %d to forget.", s.Create, s.Update, s.Disable, s.Forget)
	if s.Skip > 0 {
		line += fmt.Sprintf(" %d of the creates will be skipped (not in the service, on_missing: skip).", s.Skip)
	}
	return line
}

// writeNotes writes, under the summary, the calls and time apply will
// need per provider, what the safety rails will refuse, and what a create
// means.
func writeNotes(w io.Writer, p *engine.Plan, stateAddresses int, flags string) {
	stats := p.CallStats()
	if len(stats) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Apply will make:")
		twice := false
		for _, st := range stats {
			fmt.Fprintf(w, "  %s\n", callEstimate(st))
			twice = twice || st.MaxRequests > st.MinRequests
		}
		if twice {
			fmt.Fprintln(w, "  (a create takes a second request when the customer turns out to exist, or not: apply")
			fmt.Fprintln(w, "  starts with the request most creates so far needed, or the one a refresh saw)")
		}
	}
	urls := p.ManifestBaseURLs()
	for _, name := range p.Registry.Names() {
		if u, ok := urls[name]; ok {
			fmt.Fprintln(w)
			fmt.Fprintf(w, "Note: the manifests send %s to %s, not to its own host; credentials go there only if the\n", name, u)
			fmt.Fprintln(w, "operator allows it (RECONCILE_ALLOW_BASE_URLS, or the service's base URL variable).")
		}
	}
	// stateAddresses < 0: unknown (a saved plan shown without its state).
	for _, problem := range engine.RailProblems(p, max(stateAddresses, 0), engine.Rails{MaxDisable: engine.DefaultMaxDisable}) {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Warning: %s.\n", problem)
	}
	for _, r := range resent(p) {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Note: %s the %s to %s customers whose %s the state does not hold (%s cannot read it\n",
			plural(r.n, "update sends", "updates send"), r.key.ResendNoun, r.svc.Name, r.key.ResendNoun, r.svc.Title)
		fmt.Fprintln(w, "back, e.g. after reconcile import): "+r.key.ResendEffect)
	}
	for _, name := range p.Registry.Names() {
		if p.Providers[name].OnMissing != engine.OnMissingSkip {
			continue
		}
		n := 0
		if ps := p.PerProvider()[name]; ps != nil {
			n = ps.Create
		}
		for _, ch := range p.Built() { // the creates not built skip nothing
			if ch.Provider == name && ch.Action == engine.ActionCreate && ch.Skip {
				n--
			}
		}
		if n > 0 {
			fmt.Fprintln(w)
			fmt.Fprintf(w, "Note: %s's on_missing is skip: %s update the customers it has and skip the others (never created).\n", name, plural(n, "create may", "creates may"))
		}
	}
	if n := p.Summary.Create; n > 0 {
		fmt.Fprintln(w)
		fmt.Fprintf(w, "Note: %s %s as create-or-update: a customer that already exists in the service\n", plural(n, "create", "creates"), isAre(n))
		fmt.Fprintln(w, "is overwritten without its current values being shown. Run `reconcile import"+flags+"` first to see real differences.")
	}
}

// resend is a count of updates that send a key the service cannot read
// back and the state does not hold (Service.Keys' ResendNoun).
type resend struct {
	svc *engine.Service
	key *engine.ServiceKey
	n   int
}

// resent counts, per such key, the updates that send it with no value in
// the state, in the registry's order.
func resent(p *engine.Plan) []resend {
	var out []resend
	for _, svc := range p.Registry.Services() {
		for i := range svc.Keys {
			k := &svc.Keys[i]
			if k.ResendNoun == "" {
				continue
			}
			r := resend{svc: svc, key: k}
			for _, ch := range p.Built() { // every update
				if ch.Provider != svc.Name || ch.Action != engine.ActionUpdate {
					continue
				}
				for _, f := range ch.FieldChanges() {
					if f.Name == k.Field && f.Before == nil {
						r.n++
						break
					}
				}
			}
			if r.n > 0 {
				out = append(out, r)
			}
		}
	}
	return out
}

func isAre(n int) string {
	if n == 1 {
		return "runs"
	}
	return "run"
}

// callEstimate renders "tomticket: 12,400 calls, about 1h 9m at 3/s", or,
// when some calls may take a second request, "tomticket: 300 calls,
// 300–600 requests, about 1m 40s–3m 20s at 3/s".
func callEstimate(st engine.ProviderCalls) string {
	rate := strconv.FormatFloat(st.Rate, 'f', -1, 64)
	verify := ""
	if st.VerifyReads > 0 {
		verify = fmt.Sprintf(" (%s to verify writes)", plural(st.VerifyReads, "read", "reads"))
	}
	switch {
	case st.MaxRequests > st.MinRequests:
		return fmt.Sprintf("%s: %s, %s–%s requests%s, about %s at %s/s", st.Provider, plural(st.Calls, "call", "calls"),
			thousands(st.MinRequests), thousands(st.MaxRequests), verify, durationRange(st.Duration, st.MaxDuration), rate)
	case st.MinRequests != st.Calls:
		return fmt.Sprintf("%s: %s, %s%s, about %s at %s/s", st.Provider, plural(st.Calls, "call", "calls"),
			plural(st.MinRequests, "request", "requests"), verify, humanDuration(st.Duration), rate)
	}
	return fmt.Sprintf("%s: %s, about %s at %s/s", st.Provider, plural(st.Calls, "call", "calls"), humanDuration(st.Duration), rate)
}

// durationRange renders "1m 40s–3m 20s", or one duration when both are
// the same once rendered.
func durationRange(lo, hi time.Duration) string {
	a, b := humanDuration(lo), humanDuration(hi)
	if a == b {
		return a
	}
	return a + "–" + b
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return thousands(n) + " " + many
}

// thousands renders n with comma separators: 12,400.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 || len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// humanDuration renders d coarsely: "40s", "2m 5s", "1h 9m".
func humanDuration(d time.Duration) string {
	secs := int64((d + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	switch {
	case secs < 60:
		return fmt.Sprintf("%ds", secs)
	case secs < 3600:
		if secs%60 == 0 {
			return fmt.Sprintf("%dm", secs/60)
		}
		return fmt.Sprintf("%dm %ds", secs/60, secs%60)
	}
	mins := (secs + 30) / 60
	if mins%60 == 0 {
		return fmt.Sprintf("%dh", mins/60)
	}
	return fmt.Sprintf("%dh %dm", mins/60, mins%60)
}

// markdownLimit keeps a plan comment under GitHub's 65,536-character limit,
// with room for what a workflow adds around it.
const markdownLimit = 65000

// renderMarkdown writes the plan as a pull-request comment: a summary
// table, then the changes in a collapsible block (with no changes, just
// the summary line). Beyond the size limit it shows the first changes of
// each action and says how many more there are. flags are the target's,
// for the commands it suggests.
func renderMarkdown(w io.Writer, p *engine.Plan, flags string) error {
	var head strings.Builder
	s := p.Summary
	head.WriteString("### reconcile plan\n\n")
	head.WriteString(mdEscape(summaryLine(p)) + "\n")
	if s.NoOp > 0 {
		fmt.Fprintf(&head, "\n%s unchanged.\n", plural(s.NoOp, "address", "addresses"))
	}
	if p.Len() == 0 {
		_, err := io.WriteString(w, head.String())
		return err
	}
	head.WriteString("\n| provider | create | update | disable | forget | calls | time at rate limit |\n")
	head.WriteString("|---|---:|---:|---:|---:|---:|---|\n")
	per := p.PerProvider()
	stats := map[string]engine.ProviderCalls{}
	for _, st := range p.CallStats() {
		stats[st.Provider] = st
	}
	// The services run side by side: the whole apply takes as long as the
	// slowest.
	var calls int
	var slowest, slowestMax time.Duration
	for _, name := range p.Registry.Names() {
		ps := per[name]
		if ps == nil {
			continue
		}
		st := stats[name]
		dur := "—"
		if st.Calls > 0 {
			dur = "about " + durationRange(st.Duration, st.MaxDuration)
			calls += st.Calls
			slowest, slowestMax = max(slowest, st.Duration), max(slowestMax, st.MaxDuration)
		}
		fmt.Fprintf(&head, "| %s | %d | %d | %d | %d | %d | %s |\n", name, ps.Create, ps.Update, ps.Disable, ps.Forget, st.Calls, dur)
	}
	total := "—"
	if calls > 0 {
		total = "about " + durationRange(slowest, slowestMax)
	}
	fmt.Fprintf(&head, "| **total** | %d | %d | %d | %d | %d | %s |\n", s.Create, s.Update, s.Disable, s.Forget, calls, total)
	if s.Create > 0 {
		head.WriteString("\n> Creates run as create-or-update: customers that already exist are overwritten. Run `reconcile import" + flags + "` first to see real differences.\n")
	}
	urls := p.ManifestBaseURLs()
	for _, name := range p.Registry.Names() {
		if u, ok := urls[name]; ok {
			fmt.Fprintf(&head, "\n> **The manifests send %s to `%s`**, not to its own host: credentials go there only if the operator allows it (`RECONCILE_ALLOW_BASE_URLS`).\n", name, u)
		}
	}

	// Keep as many changes as fit, spreading the budget over the actions in
	// turn. No more rows of an action can fit than the budget holds of the
	// shortest row: only those first ones are candidates, and a lazy plan
	// is built only as far as it takes to find them.
	const tableHead = "| | address | fields | source |\n|---|---|---|---|\n"
	const foot = "\n</details>\n"
	detailsHead := fmt.Sprintf("\n<details><summary>%s</summary>\n\n", plural(p.Len(), "change", "changes"))
	budget := markdownLimit - head.Len() - len(tableHead) - len(foot) - len(detailsHead) - 2000 // room for "more" lines
	order := []engine.Action{engine.ActionCreate, engine.ActionUpdate, engine.ActionDisable, engine.ActionForget}
	counts := map[engine.Action]int{engine.ActionCreate: s.Create, engine.ActionUpdate: s.Update, engine.ActionDisable: s.Disable, engine.ActionForget: s.Forget}
	maxRows := max(0, budget/len("| + | `` |  |  |\n")) // shorter than any row
	// The candidates' rows are rendered as the segments are read: a lazy
	// plan's segments are built in reused memory, and none is kept.
	type candidate struct {
		seq int // place in the plan
		row string
	}
	cands := map[engine.Action][]candidate{}
	enough := func() bool {
		for _, a := range order {
			if len(cands[a]) < min(maxRows, counts[a]) {
				return false
			}
		}
		return true
	}
	seq := 0
	p.VisitSegments(func(changes []*engine.Change) bool {
		for _, ch := range changes {
			if len(cands[ch.Action]) < maxRows {
				cands[ch.Action] = append(cands[ch.Action], candidate{seq, markdownRow(ch)})
			}
			seq++
		}
		return !enough()
	})
	// next[a] is a's next candidate.
	next := map[engine.Action]int{}
	keep := map[int]string{}
	for progress := true; progress; {
		progress = false
		for _, a := range order {
			if next[a] >= len(cands[a]) {
				continue
			}
			c := cands[a][next[a]]
			if len(c.row) > budget {
				continue
			}
			budget -= len(c.row)
			keep[c.seq] = c.row
			next[a]++
			progress = true
		}
	}
	var b strings.Builder
	b.WriteString(head.String())
	b.WriteString(detailsHead)
	b.WriteString(tableHead)
	idx := make([]int, 0, len(keep))
	for i := range keep {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	for _, i := range idx {
		b.WriteString(keep[i])
	}
	var more []string
	for _, a := range order {
		if n := counts[a] - next[a]; n > 0 {
			more = append(more, fmt.Sprintf("%d more to %s", n, a))
		}
	}
	if len(more) > 0 {
		fmt.Fprintf(&b, "\n_Too many changes for one comment: %s not shown. Run `reconcile plan%s` for the full list._\n", strings.Join(more, ", "), flags)
	}
	b.WriteString(foot)
	_, err := io.WriteString(w, b.String())
	return err
}

func markdownRow(ch *engine.Change) string {
	var fields []string
	for _, f := range ch.FieldChanges() {
		var s string
		if f.Before != nil {
			s = fmt.Sprintf("%s: %s → %s", f.Name, f.Before.GoString(), f.After.GoString())
		} else {
			s = fmt.Sprintf("%s: %s", f.Name, f.After.GoString())
		}
		if f.Drift {
			s += " (changed outside reconcile)"
		}
		fields = append(fields, mdEscape(s))
	}
	desc := strings.Join(fields, "<br>")
	if ch.Action == engine.ActionForget {
		desc = "dropped from the state, no API call"
	}
	return fmt.Sprintf("| %s | `%s` | %s | %s |\n", ch.Action.Symbol(), mdCode(ch.Address), desc, mdEscape(ch.Source))
}

// mdEscape makes text safe in a markdown table cell: &, < and > as HTML
// entities, markdown punctuation and pipes escaped, no line breaks.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

// mdEscaper and mdCoder are made once: a Replacer builds tables (tens of
// kilobytes) that the rows of a comment reuse.
var (
	mdEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `\`, `\\`, "|", `\|`, "\n", " ", "\r", " ", "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`)
	mdCoder   = strings.NewReplacer("`", "'", "|", `\|`, "\n", " ")
)

// mdCode makes text safe inside a code span in a table cell.
func mdCode(s string) string { return mdCoder.Replace(s) }
