package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fuzzProvider plans one call per change, for plans made in seeds.
type fuzzProvider struct{ name string }

func (p fuzzProvider) Name() string { return p.name }
func (p fuzzProvider) Ready() error { return nil }
func (p fuzzProvider) Calls(ch *Change) []Call {
	return []Call{{Method: "POST", Path: "/" + string(ch.Action) + "/" + ch.ID}}
}
func (p fuzzProvider) Do(context.Context, *Change, Call) (Outcome, error) { return Outcome{}, nil }
func (p fuzzProvider) Read(context.Context, *Resource, Fields) (*Observed, error) {
	return nil, ErrNotFound
}

// planSeeds returns saved plans as WritePlanJSON makes them: creates,
// updates, a disable and a forget, with odd characters and cleared fields.
func planSeeds(f *testing.F) [][]byte {
	f.Helper()
	provs := map[string]Provider{}
	for _, n := range ProviderNames {
		provs[n] = fuzzProvider{n}
	}
	cust := func(id string, managed uint64, line int32, fields ...Field) *Customer {
		fs := Fields(fields)
		fs.Sort()
		return &Customer{ID: id, Pos: Pos{File: "m.yaml", Line: line, Col: 7}, Fields: fs, Managed: managed}
	}
	bqCfg := DefaultProviderConfig(BonifiQ)
	bqCfg.OnRemove = OnRemoveDisable
	desired := &Desired{Registry: testReg,
		Customers: []*Customer{
			cust("1001", 1|4, 3, Field{"name", String("Maria \"M\" <x> ção")}, Field{"email", String("m@example.com")},
				Field{"bonifiq.tier.id", Int(3)}, Field{"bonifiq.enabled", Bool(true)}, Field{"bonifiq.status_reason", String("why")},
				Field{"tomticket.language", String("pt-BR")}, Field{"phone", Null()}),
			cust("a/b c", 2, 9, Field{"name", String("Slash")}, Field{"invisiblecollector.country", String("PT")},
				Field{"invisiblecollector.vat_number", String("123")}),
		},
		Providers: map[string]ProviderConfig{BonifiQ: bqCfg, InvisibleCollector: DefaultProviderConfig(InvisibleCollector), TomTicket: DefaultProviderConfig(TomTicket)},
	}
	st := NewState()
	st.Resources["bonifiq/1001"] = &Entry{Provider: BonifiQ, ID: "1001", Fields: Fields{{"email", String("old@example.com")}, {"name", String("Maria")}}, IDs: Fields{{"PublicId", String("p-1")}}}
	st.Resources["bonifiq/gone"] = &Entry{Provider: BonifiQ, ID: "gone", Fields: Fields{{"enabled", Bool(true)}}}
	st.Resources["tomticket/gone"] = &Entry{Provider: TomTicket, ID: "gone", Fields: Fields{{"name", String("x")}}}
	var seeds [][]byte
	for _, targets := range [][]string{nil, {"bonifiq/*"}} {
		p, diags := MakePlan(desired, st, PlanOptions{Providers: provs, Targets: targets})
		if diags.HasErrors() {
			f.Fatal(diags)
		}
		for _, saved := range []bool{true, false} {
			var b bytes.Buffer
			if err := WritePlanJSON(&b, p, saved); err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, b.Bytes())
		}
	}
	for _, s := range []string{
		"",
		"\x00\x01binary",
		`{"changes":[]}`,
		`{"format_version":"1","state_lineage":"x","providers":{},"changes":[null]}`,
		`{"format_version":"1","state_lineage":"x","providers":{"bonifiq":{"rate_limit":1,"burst":1,"concurrency":1,"max_retries":0,"timeout":"1s","on_remove":"forget"}},"changes":[{"address":"bonifiq/1","provider":"bonifiq","id":"1","action":"forget","prior":"x"}]}`,
		`{"format_version":"1","state_lineage":"x","providers":{},"changes":[{"address":"bonifiq/1","provider":"bonifiq","id":"1","action":"create","source":"m.yaml:3","prior":"absent","desired":{"fields":{"a":1,"b":true,"c":null,"d":"x"},"params":{}},"ids":{"gid":"g"},"fields":[{"name":"a","before":2,"after":1}]}]}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// FuzzReadPlanFile feeds arbitrary bytes to the saved-plan reader: it never
// panics or hangs, fails only with errors wrapping ErrPlanFile, and a plan
// it accepts is written and read back unchanged.
func FuzzReadPlanFile(f *testing.F) {
	for _, s := range planSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		var p *Plan
		var err error
		go func() {
			defer close(done)
			p, err = ReadPlanFile(testReg, bytes.NewReader(data))
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("ReadPlanFile did not finish in 20s on %d bytes", len(data))
		}
		if err != nil {
			if !errors.Is(err, ErrPlanFile) {
				t.Fatalf("ReadPlanFile: %v (%T), want an error wrapping ErrPlanFile", err, err)
			}
			if msg := strings.TrimPrefix(err.Error(), ErrPlanFile.Error()+": "); msg == "" || msg == err.Error() {
				t.Fatalf("ReadPlanFile: unclear error %q", err)
			}
			return
		}
		if p == nil {
			t.Fatal("ReadPlanFile returned neither a plan nor an error")
		}
		var b bytes.Buffer
		if err := WritePlanJSON(&b, p, true); err != nil {
			t.Fatalf("ReadPlanFile accepts %q, but WritePlanJSON fails: %v", data, err)
		}
		again, err := ReadPlanFile(testReg, bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("ReadPlanFile accepts %q, but not what WritePlanJSON makes of it: %v\n%s", data, err, b.Bytes())
		}
		if diff := cmp.Diff(p, again, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b *Registry) bool { return a == b }), cmpopts.IgnoreUnexported(Plan{})); diff != "" {
			t.Fatalf("%q: the plan changes once written and read back (-read +again):\n%s", data, diff)
		}
	})
}
