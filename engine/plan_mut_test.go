package engine

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type planRow struct {
	Addr    string
	Action  Action
	Fields  []FieldChange
	Desired Fields
}

func planRows(p *Plan) []planRow {
	var out []planRow
	for _, ch := range p.Changes {
		r := planRow{Addr: ch.Address, Action: ch.Action, Fields: ch.Fields}
		if ch.Desired != nil {
			r.Desired = ch.Desired.Fields
		}
		out = append(out, r)
	}
	return out
}

// Removals: only the entries no manifest manages in that service are
// planned; a customer still managed elsewhere keeps its other entries;
// on_remove: disable disables where the service can (its Disable field),
// forgets elsewhere; -target limits removals too.
func TestRemovedPlansOnlyUnmanagedEntriesAndDisablesWhereAsked(t *testing.T) {
	const bq, tt = 1 << 0, 1 << 2
	desired := &Desired{Registry: testReg,
		Customers: []*Customer{customer("1", bq, Field{"name", String("A")})},
		Providers: map[string]ProviderConfig{BonifiQ: {OnRemove: OnRemoveDisable}, TomTicket: {OnRemove: OnRemoveDisable}},
	}
	st := NewState()
	st.Resources["bonifiq/1"] = &Entry{Provider: BonifiQ, ID: "1", Fields: Fields{{"name", String("A")}}}
	st.Resources["tomticket/1"] = &Entry{Provider: TomTicket, ID: "1", Fields: Fields{{"name", String("A")}}}
	st.Resources["bonifiq/2"] = &Entry{Provider: BonifiQ, ID: "2", Fields: Fields{{"enabled", Bool(true)}, {"name", String("B")}}}
	st.Resources["bonifiq/3"] = &Entry{Provider: BonifiQ, ID: "3", Fields: Fields{{"name", String("C")}}}
	st.Resources["invisiblecollector/1"] = &Entry{Provider: InvisibleCollector, ID: "1"}

	p, _ := MakePlan(desired, st, PlanOptions{})
	off := Fields{{"enabled", Bool(false)}}
	want := []planRow{
		{"bonifiq/2", ActionDisable, []FieldChange{{Name: "enabled", Before: ptr(Bool(true)), After: Bool(false)}}, off},
		{"bonifiq/3", ActionDisable, []FieldChange{{Name: "enabled", After: Bool(false)}}, off},
		{"invisiblecollector/1", ActionForget, nil, nil}, // on_remove: forget (no config: not disable)
		{"tomticket/1", ActionForget, nil, nil},          // tomticket has no Disable field
	}
	if diff := cmp.Diff(want, planRows(p)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Summary{Disable: 2, Forget: 2, NoOp: 1}, p.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}

	// on_remove: forget forgets where the service could disable.
	desired.Providers[BonifiQ] = ProviderConfig{OnRemove: OnRemoveForget}
	p, _ = MakePlan(desired, st, PlanOptions{Targets: []string{"bonifiq/*"}})
	want = []planRow{{"bonifiq/2", ActionForget, nil, nil}, {"bonifiq/3", ActionForget, nil, nil}}
	if diff := cmp.Diff(want, planRows(p)); diff != "" {
		t.Errorf("on_remove forget, -target bonifiq/* (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Summary{Forget: 2, NoOp: 1}, p.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	for _, ch := range p.Changes {
		if ch.Prior != st.Resources[ch.Address].Digest() || ch.ID == "" || ch.Provider != BonifiQ {
			t.Errorf("removal %+v lacks its entry's identity", ch)
		}
	}
}

// Removals get their calls planned by the provider, like every change.
func TestRemovedChangesGetTheirCalls(t *testing.T) {
	desired := &Desired{Registry: testReg, Providers: map[string]ProviderConfig{BonifiQ: {OnRemove: OnRemoveDisable}}}
	st := NewState()
	st.Resources["bonifiq/9"] = &Entry{Provider: BonifiQ, ID: "9", IDs: Fields{{"PublicId", String("p9")}}}
	p, _ := MakePlan(desired, st, PlanOptions{Providers: fakeProviders()})
	if len(p.Changes) != 1 || len(p.Changes[0].Calls) != 1 || p.Changes[0].Calls[0].Path != "/disable/9" {
		t.Fatalf("changes %+v", p.Changes)
	}
	if diff := cmp.Diff(Fields{{"PublicId", String("p9")}}, p.Changes[0].IDs); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	// Without a provider a change has no calls, never nil ones.
	p, _ = MakePlan(desired, st, PlanOptions{})
	if p.Changes[0].Calls == nil || len(p.Changes[0].Calls) != 0 {
		t.Errorf("calls %#v, want empty", p.Changes[0].Calls)
	}
}

// A customer whose fields all match the state is a no-op; one differing
// only in a parameter too; a field the state lacks is a change.
func TestDiffCustomerNoOpsAndChanges(t *testing.T) {
	const bq = 1 << 0
	desired := &Desired{Registry: testReg, Customers: []*Customer{
		customer("same", bq, Field{"name", String("A")}, Field{"bonifiq.status_reason", String("r")}),
		customer("new-field", bq, Field{"name", String("A")}, Field{"email", String("a@b.c")}),
		customer("changed", bq, Field{"name", String("B")}),
	}}
	st := NewState()
	for _, id := range []string{"same", "new-field", "changed"} {
		st.Resources["bonifiq/"+id] = &Entry{Provider: BonifiQ, ID: id, Fields: Fields{{"name", String("A")}}, IDs: Fields{{"PublicId", String("p-" + id)}}}
	}
	p, diags := MakePlan(desired, st, PlanOptions{})
	if len(diags) != 0 {
		t.Fatal(diags)
	}
	want := []planRow{
		{"bonifiq/changed", ActionUpdate, []FieldChange{{Name: "name", Before: ptr(String("A")), After: String("B")}}, Fields{{"name", String("B")}}},
		{"bonifiq/new-field", ActionUpdate, []FieldChange{{Name: "email", After: String("a@b.c")}}, Fields{{"email", String("a@b.c")}, {"name", String("A")}}},
	}
	if diff := cmp.Diff(want, planRows(p)); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Summary{Update: 2, NoOp: 1}, p.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	for _, ch := range p.Changes {
		if id, _ := ch.IDs.Get("PublicId"); id.S != "p-"+ch.ID {
			t.Errorf("%s: ids %v, want the state's", ch.Address, ch.IDs)
		}
		if ch.Source != "m.yaml:3" {
			t.Errorf("%s: source %q", ch.Address, ch.Source)
		}
	}
}

// A plan of many customers (diffed by several workers) is the same as one
// made by one: every change, in address order, the summary added up.
func TestMakePlanSplitAcrossWorkersLosesNothing(t *testing.T) {
	const bq = 1 << 0
	d := &Desired{Registry: testReg}
	st := NewState()
	for i := range 40000 {
		id := string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + string(rune('a'+i/17576))
		d.Customers = append(d.Customers, customer(id, bq, Field{"name", String("N")}))
		if i%2 == 0 {
			st.Resources["bonifiq/"+id] = &Entry{Provider: BonifiQ, ID: id, Fields: Fields{{"name", String("N")}}}
		}
	}
	st.Resources["bonifiq/zzzz-gone"] = &Entry{Provider: BonifiQ, ID: "zzzz-gone"}
	p, _ := MakePlan(d, st, PlanOptions{Targets: []string{"bonifiq/*", "bonifiq/a*"}})
	if diff := cmp.Diff(Summary{Create: 20000, NoOp: 20000, Forget: 1}, p.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if len(p.Changes) != 20001 {
		t.Fatalf("%d changes", len(p.Changes))
	}
	for i := 1; i < len(p.Changes); i++ {
		if p.Changes[i-1].Address >= p.Changes[i].Address {
			t.Fatalf("changes out of order at %d: %s, %s", i, p.Changes[i-1].Address, p.Changes[i].Address)
		}
	}
	if p.Changes[len(p.Changes)-1].Address != "bonifiq/zzzz-gone" {
		t.Errorf("last change %s", p.Changes[len(p.Changes)-1].Address)
	}
}

func TestGlobMatchesRunsOfAnyCharacters(t *testing.T) {
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"a*c", "abc", true}, {"a*c", "ac", true}, {"a*c", "abd", false}, {"*", "", true}, {"a*", "b", false},
		{"*x*y", "axbxy", true}, {"*x*y", "axbx", false}, {"a/b", "a/b", true}, {"a/b", "a/c", false},
		{"ab*b", "ab", false}, {"a*a", "a", false}, {"ab*b", "abb", true}, // the prefix is used up

	} {
		if got := Glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v", tt.pattern, tt.s, got)
		}
	}
	if !MatchesAny(nil, "x") || MatchesAny([]string{"a*", "b"}, "c") || !MatchesAny([]string{"a*", "c"}, "c") {
		t.Error("MatchesAny")
	}
}

// A refreshed plan: the ids the service shows join the state's; a field
// the state lacks is no drift; one it cannot read and the state lacks has
// no before; a customer the service lost is a create that keeps the
// state's ids and is marked missing.
func TestRefreshedPlanIDsDriftAndLostCustomers(t *testing.T) {
	const bq = 1
	desired := &Desired{Registry: testReg, Customers: []*Customer{
		customer("1", bq, Field{"name", String("Ana")}, Field{"email", String("a@x.y")}, Field{"bonifiq.tier.id", Int(3)}),
		customer("2", bq, Field{"name", String("Bia")}),
	}}
	st := NewState()
	st.Resources["bonifiq/1"] = &Entry{Provider: BonifiQ, ID: "1", Fields: Fields{{"name", String("Ana")}}, IDs: Fields{{"PublicId", String("old")}, {"keep", String("k")}}}
	st.Resources["bonifiq/2"] = &Entry{Provider: BonifiQ, ID: "2", Fields: Fields{{"name", String("Bia")}}, IDs: Fields{{"PublicId", String("p2")}}}
	refresh := map[string]ReadResult{
		"bonifiq/1": {Address: "bonifiq/1", Observed: &Observed{Fields: Fields{{"email", String("other@x.y")}, {"name", String("Ana")}}, IDs: Fields{{"PublicId", String("new")}}}},
		"bonifiq/2": {Address: "bonifiq/2", NotFound: true},
	}
	p, _ := MakePlan(desired, st, PlanOptions{Refresh: refresh})
	if len(p.Changes) != 2 {
		t.Fatalf("changes %+v", p.Changes)
	}
	c1, c2 := p.Changes[0], p.Changes[1]
	want := []FieldChange{
		{Name: "email", Before: ptr(String("other@x.y")), After: String("a@x.y")}, // not in the state: no drift
		{Name: "tier.id", After: Int(3), Unreadable: true},                        // unreadable, not in the state: no before
	}
	if diff := cmp.Diff(want, c1.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Fields{{"PublicId", String("new")}, {"keep", String("k")}}, c1.IDs); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if v, _ := st.Resources["bonifiq/1"].IDs.Get("PublicId"); v.S != "old" {
		t.Errorf("the state's ids were modified: %v", st.Resources["bonifiq/1"].IDs)
	}
	if c1.Action != ActionUpdate || c1.Prior != st.Resources["bonifiq/1"].Digest() {
		t.Errorf("change %+v", c1)
	}
	if c2.Action != ActionCreate || !c2.Missing || cmp.Diff(Fields{{"PublicId", String("p2")}}, c2.IDs) != "" || c2.Prior != st.Resources["bonifiq/2"].Digest() {
		t.Errorf("lost customer: %+v", c2)
	}
	if diff := cmp.Diff(Summary{Create: 1, Update: 1}, p.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

// An entry import found absent from the service is planned as a create
// tried as one (Missing), checked against the entry.
func TestAbsentEntryIsAMissingCreate(t *testing.T) {
	desired := &Desired{Registry: testReg, Customers: []*Customer{customer("1", 1, Field{"name", String("Ana")})}}
	st := NewState()
	st.Resources["bonifiq/1"] = &Entry{Provider: BonifiQ, ID: "1", IDs: Fields{{AbsentID, Bool(true)}}}
	p, _ := MakePlan(desired, st, PlanOptions{})
	if len(p.Changes) != 1 || p.Changes[0].Action != ActionCreate || !p.Changes[0].Missing || p.Changes[0].Prior != st.Resources["bonifiq/1"].Digest() {
		t.Fatalf("changes %+v", p.Changes)
	}
	if p.Summary.Forget != 0 {
		t.Errorf("an absent entry the manifests manage was planned for removal: %+v", p.Summary)
	}
}

// A -target that matches one of a customer's services does not hide its
// others: each address is matched on its own.
func TestTargetsMatchEachAddressOfACustomer(t *testing.T) {
	const bq, tt = 1 << 0, 1 << 2
	desired := &Desired{Registry: testReg, Customers: []*Customer{customer("1", bq|tt, Field{"name", String("A")})}}
	p, diags := MakePlan(desired, NewState(), PlanOptions{Targets: []string{"tomticket/*"}})
	if len(p.Changes) != 1 || p.Changes[0].Address != "tomticket/1" || len(diags) != 0 {
		t.Errorf("changes %+v, diags %v", p.Changes, diags)
	}
}

// A -target used only by the customers of one of the plan's workers is
// used: the workers' tallies are merged.
func TestTargetsUsedByAnyWorkerAreUsed(t *testing.T) {
	const bq = 1 << 0
	d := &Desired{Registry: testReg}
	var last string
	for i := range 30000 {
		id := "c" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)) + string(rune('a'+i/17576))
		d.Customers = append(d.Customers, customer(id, bq, Field{"name", String("N")}))
		last = id
	}
	first := d.Customers[0].ID
	p, diags := MakePlan(d, NewState(), PlanOptions{Targets: []string{"bonifiq/" + first, "bonifiq/" + last, "nothing/*"}})
	if len(p.Changes) != 2 {
		t.Fatalf("%d changes", len(p.Changes))
	}
	if len(diags) != 1 || diags[0].Summary != `-target "nothing/*" matches no address` {
		t.Errorf("diags %v, want only nothing/* unused", diags)
	}
}

// A customer unchanged in one service is still diffed in the others.
func TestNoOpInOneServiceStillDiffsTheOthers(t *testing.T) {
	const bq, tt = 1 << 0, 1 << 2
	desired := &Desired{Registry: testReg, Customers: []*Customer{customer("1", bq|tt, Field{"name", String("A")})}}
	st := NewState()
	st.Resources["bonifiq/1"] = &Entry{Provider: BonifiQ, ID: "1", Fields: Fields{{"name", String("A")}}}
	p, _ := MakePlan(desired, st, PlanOptions{})
	if len(p.Changes) != 1 || p.Changes[0].Address != "tomticket/1" || p.Summary.NoOp != 1 || p.Summary.Create != 1 {
		t.Errorf("changes %+v, summary %+v", p.Changes, p.Summary)
	}
}

// A create whose required field is managed but cleared lacks it too.
func TestCreateNeedsAClearedRequiredField(t *testing.T) {
	desired := &Desired{Registry: testReg, Customers: []*Customer{customer("1", 1<<0, Field{"name", Null()}, Field{"email", String("a@b.c")})}}
	_, diags := MakePlan(desired, NewState(), PlanOptions{})
	if len(diags) != 1 || !strings.Contains(diags[0].Summary, "creating this customer needs name") {
		t.Errorf("diags %v", diags)
	}
}
