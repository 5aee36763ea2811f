package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeProvider plans one call per change, naming its action.
type fakeProvider struct{ name string }

func (f fakeProvider) Name() string { return f.name }
func (f fakeProvider) Ready() error { return nil }
func (f fakeProvider) Calls(ch *Change) []Call {
	return []Call{{Method: "POST", Path: "/" + string(ch.Action) + "/" + ch.ID, Op: string(ch.Action), Fields: ch.Changed()}}
}
func (f fakeProvider) Do(context.Context, *Change, Call) (Outcome, error) { return Outcome{}, nil }
func (f fakeProvider) Read(context.Context, *Resource, Fields) (*Observed, error) {
	return nil, ErrNotFound
}

func fakeProviders() map[string]Provider {
	m := map[string]Provider{}
	for _, n := range ProviderNames {
		m[n] = fakeProvider{n}
	}
	return m
}

func customer(id string, managed uint64, fields ...Field) *Customer {
	fs := Fields(fields)
	fs.Sort()
	return &Customer{ID: id, Pos: Pos{File: "m.yaml", Line: 3, Col: 7}, Fields: fs, Managed: managed}
}

func ptr(v Value) *Value { return &v }

func TestMakePlan(t *testing.T) {
	const bq, tt = 1 << 0, 1 << 2
	desired := &Desired{Registry: testReg,
		Customers: []*Customer{
			customer("1001", bq|tt,
				Field{"name", String("Maria")}, Field{"email", String("maria@example.com")},
				Field{"bonifiq.tier.id", Int(3)}, Field{"bonifiq.status_reason", String("why")},
				Field{"tomticket.language", String("pt-BR")}),
			customer("1002", tt, Field{"name", String("João")}, Field{"phone", Null()}),
			customer("1003", bq, Field{"name", String("Same")}),
		},
		Providers: map[string]ProviderConfig{BonifiQ: DefaultProviderConfig(BonifiQ), TomTicket: DefaultProviderConfig(TomTicket)},
	}
	st := NewState()
	st.Resources["bonifiq/1001"] = &Entry{Provider: BonifiQ, ID: "1001", Fields: Fields{
		{"email", String("maria@old.example")}, {"name", String("Maria")}, {"tier.id", Int(2)},
	}}
	st.Resources["bonifiq/1003"] = &Entry{Provider: BonifiQ, ID: "1003", Fields: Fields{{"name", String("Same")}, {"phone", String("old")}}}
	st.Resources["tomticket/9999"] = &Entry{Provider: TomTicket, ID: "9999", Fields: Fields{{"name", String("Gone")}}}

	p, diags := MakePlan(desired, st, PlanOptions{Providers: fakeProviders()})
	if len(diags) != 0 {
		t.Fatalf("diagnostics: %v", diags)
	}
	type row struct {
		Addr   string
		Action Action
		Fields []FieldChange
	}
	var got []row
	for _, ch := range p.Changes {
		got = append(got, row{ch.Address, ch.Action, ch.FieldChanges()})
	}
	want := []row{
		{"bonifiq/1001", ActionUpdate, []FieldChange{
			{Name: "email", Before: ptr(String("maria@old.example")), After: String("maria@example.com")},
			{Name: "tier.id", Before: ptr(Int(2)), After: Int(3)},
		}},
		{"tomticket/1001", ActionCreate, []FieldChange{
			{Name: "email", After: String("maria@example.com")},
			{Name: "language", After: String("pt-BR")},
			{Name: "name", After: String("Maria")},
		}},
		{"tomticket/1002", ActionCreate, []FieldChange{
			{Name: "name", After: String("João")},
			{Name: "phone", After: Null()},
		}},
		{"tomticket/9999", ActionForget, nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(Summary{Create: 2, Update: 1, Forget: 1, NoOp: 1}, p.Summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	// The parameter status_reason is carried, not diffed.
	if v, _ := p.Changes[0].Desired.Params.Get("status_reason"); v != String("why") {
		t.Errorf("status_reason param = %v", v)
	}
	if p.Changes[0].Prior != st.Resources["bonifiq/1001"].Digest() || p.Changes[1].Prior != "absent" {
		t.Errorf("prior digests not recorded: %q %q", p.Changes[0].Prior, p.Changes[1].Prior)
	}
	if got := p.Changes[0].Calls[0].Path; got != "/update/1001" {
		t.Errorf("calls not planned by the provider: %q", got)
	}
}

func TestMakePlanTargetsDisableAndCreateNeeds(t *testing.T) {
	desired := &Desired{Registry: testReg,
		Customers: []*Customer{
			customer("1", 1<<1, Field{"name", String("A")}), // invisiblecollector without vat_number, country
			customer("2", 1<<0, Field{"name", String("B")}),
		},
		Providers: map[string]ProviderConfig{BonifiQ: {RateLimit: 5, OnRemove: OnRemoveDisable}},
	}
	st := NewState()
	st.Resources["bonifiq/3"] = &Entry{Provider: BonifiQ, ID: "3", Fields: Fields{{"enabled", Bool(true)}}}

	p, diags := MakePlan(desired, st, PlanOptions{Targets: []string{"bonifiq/*", "nothing/*"}})
	if len(p.Changes) != 2 || p.Changes[0].Address != "bonifiq/2" || p.Changes[1].Action != ActionDisable {
		t.Fatalf("targets/disable: got %+v", p.Changes)
	}
	if diff := cmp.Diff([]FieldChange{{Name: "enabled", Before: ptr(Bool(true)), After: Bool(false)}}, p.Changes[1].Fields); diff != "" {
		t.Errorf("disable fields (-want +got):\n%s", diff)
	}
	if len(diags) != 1 || diags[0].Severity != Warning || diags[0].Summary != `-target "nothing/*" matches no address` {
		t.Errorf("diags = %v", diags)
	}

	_, diags = MakePlan(desired, st, PlanOptions{})
	want := "m.yaml:3:7: invisiblecollector/1: creating this customer needs vat_number, country (the service requires them to create a customer; add them to the manifest)"
	if len(diags) != 1 || diags[0].String() != want {
		t.Errorf("create needs: got %v\nwant %s", diags, want)
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"tomticket/*", "tomticket/1", true},
		{"tomticket/*", "bonifiq/1", false},
		{"*/10*", "bonifiq/1001", true},
		{"*", "a/b/c", true},
		{"bonifiq/1001", "bonifiq/1001", true},
		{"bonifiq/1001", "bonifiq/10012", false},
		{"*@example.com", "tomticket/a@example.com", true},
	} {
		if got := Glob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v", tc.pattern, tc.s, got)
		}
	}
}

func TestPlanFileRoundTrip(t *testing.T) {
	desired := &Desired{Registry: testReg,
		Customers: []*Customer{customer("1001", 1, Field{"name", String("Maria \"M\" <x>")}, Field{"phone", Null()}, Field{"bonifiq.status_reason", String("r")})},
		Providers: map[string]ProviderConfig{BonifiQ: DefaultProviderConfig(BonifiQ)},
	}
	st := NewState()
	p, _ := MakePlan(desired, st, PlanOptions{Providers: fakeProviders()})
	var buf bytes.Buffer
	if err := WritePlanJSON(&buf, p, true); err != nil {
		t.Fatal(err)
	}
	got, err := ReadPlanFile(testReg, &buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range p.Changes {
		ch.Desired.Source.Col = 0 // a plan points at lines; the calls are kept as planned
	}
	if diff := cmp.Diff(p, got, cmp.Comparer(func(a, b *Registry) bool { return a == b }), cmpopts.IgnoreUnexported(Plan{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}

	// -json output has exactly SPEC 3.3's keys.
	buf.Reset()
	p, _ = MakePlan(desired, st, PlanOptions{Providers: fakeProviders()})
	if err := WritePlanJSON(&buf, p, false); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	if diff := cmp.Diff([]string{"changes", "format_version", "state_lineage", "state_serial", "summary"}, keys(doc), cmpSorted); diff != "" {
		t.Errorf("top-level keys (-want +got):\n%s", diff)
	}
	ch := doc["changes"].([]any)[0].(map[string]any)
	if diff := cmp.Diff([]string{"action", "address", "calls", "fields", "id", "provider", "source"}, keys(ch), cmpSorted); diff != "" {
		t.Errorf("change keys (-want +got):\n%s", diff)
	}
	if f := ch["fields"].([]any)[1].(map[string]any); f["after"] != nil || f["name"] != "phone" {
		t.Errorf("cleared field: %v", f)
	} else if _, has := f["before"]; has {
		t.Errorf("before present on a create: %v", f)
	}
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestReadPlanFileRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          "",
		"not json":       "\x00\x01binary",
		"no version":     `{"changes":[]}`,
		"future version": `{"format_version":"9","state_lineage":"x","changes":[],"providers":{}}`,
		"json view":      `{"format_version":"1","state_lineage":"x","changes":[]}`,
		"bad address":    `{"format_version":"1","state_lineage":"x","providers":{},"changes":[{"address":"bonifiq/1","provider":"tomticket","id":"1","action":"create","prior":"absent","desired":{"fields":{}}}]}`,
		"bad action":     `{"format_version":"1","state_lineage":"x","providers":{},"changes":[{"address":"bonifiq/1","provider":"bonifiq","id":"1","action":"explode","prior":"absent"}]}`,
		"null change":    `{"format_version":"1","state_lineage":"x","providers":{},"changes":[null]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ReadPlanFile(testReg, bytes.NewReader([]byte(in))); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestAbsentEntryPlansACreateTriedAsOne: an entry that only records that
// the service has no such customer (import saw it missing) is planned as a
// create marked Missing (its first request is the create), and the first
// completed call drops the mark.
func TestAbsentEntryPlansACreateTriedAsOne(t *testing.T) {
	desired := &Desired{Registry: testReg, Customers: []*Customer{customer("7", 1<<2, Field{"name", String("Ana")})},
		Providers: map[string]ProviderConfig{TomTicket: DefaultProviderConfig(TomTicket)}}
	st := NewState()
	st.Resources["tomticket/7"] = AbsentEntry(TomTicket, "7")
	p, diags := MakePlan(desired, st, PlanOptions{Providers: fakeProviders()})
	if diags.HasErrors() || len(p.Changes) != 1 {
		t.Fatalf("plan: %v %v", p.Changes, diags)
	}
	ch := p.Changes[0]
	if ch.Action != ActionCreate || !ch.Missing || ch.Prior != st.Resources["tomticket/7"].Digest() {
		t.Errorf("change %+v: want a create marked Missing, with the absent entry's digest", ch)
	}
	if p.Summary.Create != 1 || p.Summary.Forget != 0 {
		t.Errorf("summary %+v", p.Summary)
	}
	st.ApplyRecord(Record{Address: "tomticket/7", Set: Fields{{"name", String("Ana")}}})
	if e := st.Resources["tomticket/7"]; e.Absent() || len(e.IDs) != 0 {
		t.Errorf("entry after a completed call: %+v, want the mark dropped", e)
	}
}

// TestReadPlanFileStreamsItsChanges: a saved plan's changes are checked as
// they are read, and the document's own problems are reported first.
func TestReadPlanFileStreamsItsChanges(t *testing.T) {
	reg := testReg
	bad := `{"address":"bonifiq/1","provider":"bonifiq","id":"1","action":"update","calls":[]}` // no desired fields
	for _, tt := range []struct{ name, file, want string }{
		{"empty", " \n\t", "the file is empty"},
		{"not an object", `[1]`, "not a reconcile plan (a JSON object is expected, not [)"},
		{"printed with -json", `{"format_version":"1","state_lineage":"x","state_serial":1,"changes":[` + bad + `],"summary":{}}`, "it was printed with -json, not saved with -out"},
		{"other version", `{"format_version":"9","changes":[` + bad + `]}`, `format_version "9"`},
		{"bad change", `{"format_version":"1","state_lineage":"x","state_serial":1,"changes":[` + bad + `],"summary":{},"providers":{}}`, "changes[0]: bonifiq/1 has no desired fields"},
		{"cut short", `{"format_version":"1","changes":[` + bad, "not a reconcile plan (unexpected EOF)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPlanFile(reg, strings.NewReader(tt.file))
			if !errors.Is(err, ErrPlanFile) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadPlanFile = %v, want an ErrPlanFile saying %q", err, tt.want)
			}
		})
	}
}
