package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// readingProvider answers reads from a table and counts them.
type readingProvider struct {
	scriptedProvider
	held  map[string]Fields // id → what the service holds
	reads atomic.Int64
}

func (r *readingProvider) Read(ctx context.Context, res *Resource, _ Fields) (*Observed, error) {
	release, err := Admit(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	r.reads.Add(1)
	fs, ok := r.held[res.ID]
	if !ok {
		return nil, ErrNotFound
	}
	return &Observed{Fields: fs}, nil
}

func TestReadAllMakesOneReadPerCustomer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		prov := &readingProvider{scriptedProvider: scriptedProvider{name: BonifiQ}, held: map[string]Fields{}}
		var reqs []ReadRequest
		for i := range 250 {
			id := string(rune('A'+i%26)) + string(rune('a'+i/26))
			if i%5 != 0 {
				prov.held[id] = Fields{{Name: "name", Value: String(id)}}
			}
			reqs = append(reqs, ReadRequest{Resource: &Resource{Provider: BonifiQ, ID: id}})
		}
		res := ReadAll(context.Background(), reqs, ApplyOptions{Registry: testReg,
			Providers: map[string]Provider{BonifiQ: prov},
			Configs:   map[string]ProviderConfig{BonifiQ: {RateLimit: 200, Burst: 1, Concurrency: 8, MaxRetries: 5, Timeout: time.Second}},
		})
		if n := prov.reads.Load(); n != 250 {
			t.Errorf("%d reads for 250 customers, want 250", n)
		}
		missing := 0
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("%s: %v", r.Address, r.Err)
			}
			if r.NotFound {
				missing++
			} else if v, _ := r.Observed.Fields.Get("name"); v != String(reqs[i].Resource.ID) {
				t.Fatalf("%s: results out of order: %v", r.Address, v)
			}
		}
		if missing != 50 {
			t.Errorf("%d not found, want 50", missing)
		}
	})
}

func TestRefreshedPlan(t *testing.T) {
	const bq = 1
	desired := &Desired{Registry: testReg, Customers: []*Customer{
		customer("1", bq, Field{"name", String("Ana")}, Field{"email", String("ana@example.com")}, Field{"bonifiq.enabled", Bool(true)}, Field{"bonifiq.tier.id", Int(3)}),
		customer("2", bq, Field{"name", String("Bia")}),
		customer("3", bq, Field{"name", String("Caio")}),
	}}
	st := NewState()
	st.Resources["bonifiq/1"] = &Entry{Provider: BonifiQ, ID: "1", Fields: Fields{{"email", String("ana@example.com")}, {"enabled", Bool(true)}, {"name", String("Ana")}, {"tier.id", Int(2)}}}
	st.Resources["bonifiq/2"] = &Entry{Provider: BonifiQ, ID: "2", Fields: Fields{{"name", String("Bia")}}}
	st.Resources["bonifiq/3"] = &Entry{Provider: BonifiQ, ID: "3", Fields: Fields{{"name", String("Caio")}}}
	refresh := map[string]ReadResult{
		// An admin changed the e-mail; the tier cannot be read back.
		"bonifiq/1": {Address: "bonifiq/1", Observed: &Observed{Fields: Fields{{"email", String("ana@admin.example")}, {"name", String("Ana")}}}},
		"bonifiq/2": {Address: "bonifiq/2", NotFound: true},
		"bonifiq/3": {Address: "bonifiq/3", Observed: &Observed{Fields: Fields{{"name", String("Caio")}}}},
	}
	p, diags := MakePlan(desired, st, PlanOptions{Refresh: refresh})
	if len(diags) != 0 {
		t.Fatal(diags)
	}
	if !p.Refreshed || len(p.Changes) != 2 || p.Summary.NoOp != 1 {
		t.Fatalf("plan: %+v", p)
	}
	want := []FieldChange{
		{Name: "email", Before: ptr(String("ana@admin.example")), After: String("ana@example.com"), Drift: true},
		{Name: "tier.id", Before: ptr(Int(2)), After: Int(3), Unreadable: true},
	}
	if diff := cmp.Diff(want, p.Changes[0].Fields); diff != "" {
		t.Errorf("refreshed fields (-want +got):\n%s", diff)
	}
	if ch := p.Changes[1]; ch.Action != ActionCreate || ch.Prior != st.Resources["bonifiq/2"].Digest() {
		t.Errorf("a customer the service lost: %+v, want a create checked against the state entry", ch)
	}
}
