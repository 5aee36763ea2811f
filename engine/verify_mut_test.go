package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The verification tests use one service whose name and email the service
// reads back; note it does not; ref is a parameter that addresses.
const vsvc = "svc"

var verifyReg = MustRegistry(testService(vsvc, TokenBucket, 0,
	ServiceKey{Field: "name", Type: TypeString, Readable: true},
	ServiceKey{Field: "email", Type: TypeEmail, Readable: true},
	ServiceKey{Field: "note", Type: TypeString},
	ServiceKey{Field: "ref", Type: TypeString, Param: true, Readable: true, Addresses: true}))

// holdingProvider writes every call and holds, per customer id, what its
// reads return (a missing id: ErrNotFound). Every request is admitted
// through the gate.
type holdingProvider struct {
	mu      sync.Mutex
	held    map[string]Fields
	inWrite bool     // the write's answer carries the record (Outcome.Held)
	readErr []error  // the reads' failures, in order, before they succeed
	ids     Fields   // the ids each write returns
	reads   []string // ids read, in order
	readIDs []Fields // the ids each read was given
	writes  []string // ids written
	writeAt map[string]time.Time
	onRead  func(n int)   // called before each read
	delay   time.Duration // each read's time
}

func (h *holdingProvider) Name() string { return vsvc }
func (h *holdingProvider) Ready() error { return nil }
func (h *holdingProvider) Calls(ch *Change) []Call {
	return []Call{{Method: "PUT", Path: "/" + ch.ID, Op: "put", Fields: ch.Changed()}}
}
func (h *holdingProvider) Do(ctx context.Context, ch *Change, call Call) (Outcome, error) {
	release, err := Admit(ctx)
	if err != nil {
		return Outcome{}, err
	}
	defer release()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = append(h.writes, ch.ID)
	if h.writeAt == nil {
		h.writeAt = map[string]time.Time{}
	}
	h.writeAt[ch.ID] = time.Now()
	out := Outcome{Status: 200, IDs: h.ids}
	if h.inWrite {
		held := &Observed{Fields: h.held[ch.ID]}
		out.Held = func() *Observed { return held }
	}
	return out, nil
}
func (h *holdingProvider) Read(ctx context.Context, r *Resource, ids Fields) (*Observed, error) {
	release, err := Admit(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if h.delay > 0 {
		time.Sleep(h.delay)
	}
	h.mu.Lock()
	n := len(h.reads)
	h.reads = append(h.reads, r.ID)
	h.readIDs = append(h.readIDs, ids)
	var fail error
	if n < len(h.readErr) {
		fail = h.readErr[n]
	}
	fs, ok := h.held[r.ID]
	h.mu.Unlock()
	if h.onRead != nil {
		h.onRead(n)
	}
	if fail != nil {
		return nil, fail
	}
	if !ok {
		return nil, ErrNotFound
	}
	return &Observed{Fields: fs}, nil
}

// vchanges makes updates of customers ids, each setting the given fields.
func vchanges(prov Provider, fields Fields, ids ...string) *Plan {
	p := &Plan{Registry: verifyReg}
	for _, id := range ids {
		ch := &Change{Address: vsvc + "/" + id, Provider: vsvc, ID: id, Action: ActionUpdate, Desired: &Resource{Provider: vsvc, ID: id, Fields: fields}}
		for _, f := range fields {
			ch.Fields = append(ch.Fields, FieldChange{Name: f.Name, After: f.Value})
		}
		ch.Calls = prov.Calls(ch)
		p.Changes = append(p.Changes, ch)
	}
	return p
}

func vapply(t *testing.T, p *Plan, prov Provider, opts ApplyOptions) (*Result, *memRecorder) {
	t.Helper()
	rec := &memRecorder{}
	opts.Registry, opts.Recorder, opts.Providers = verifyReg, rec, map[string]Provider{vsvc: prov}
	if opts.Configs == nil {
		opts.Configs = map[string]ProviderConfig{vsvc: {Concurrency: 1, MaxRetries: 3}}
	}
	res, err := Apply(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res, rec
}

func recordOf(rec *memRecorder, addr string) *Record {
	for i := range rec.recs {
		if rec.recs[i].Address == addr {
			return &rec.recs[i]
		}
	}
	return nil
}

// A canary change whose field did not stick fails naming it, is recorded
// without it, and stops the service: the changes after the canary are not
// attempted.
func TestVerifyCanaryMismatchStopsTheServiceAndIsNotRecorded(t *testing.T) {
	want := Fields{{Name: "email", Value: String("a@x.y")}, {Name: "name", Value: String("A")}, {Name: "note", Value: String("n")}}
	prov := &holdingProvider{held: map[string]Fields{
		"c1": {{Name: "email", Value: String("a@x.y")}, {Name: "name", Value: String("B")}},
		"c2": want, "c3": want, "c4": want, "c5": want,
	}}
	p := vchanges(prov, want, "c1", "c2", "c3", "c4", "c5")
	res, rec := vapply(t, p, prov, ApplyOptions{Canary: 3})
	it := res.Items[0]
	if it.Status != StatusFailed || len(it.Mismatches) != 1 || it.Mismatches[0].Field != "name" {
		t.Fatalf("canary item %+v, want failed on name", it)
	}
	if msg := `svc: name did not stick: sent "A", the service holds "B"`; it.Message != msg {
		t.Errorf("message %q, want %q", it.Message, msg)
	}
	if r := recordOf(rec, "svc/c1"); r == nil || cmp.Diff(Fields{{Name: "email", Value: String("a@x.y")}, {Name: "note", Value: String("n")}}, r.Set) != "" {
		t.Errorf("record %+v, want email and note (name did not stick)", r)
	}
	// One worker: the canaries run in order, and the first stops the rest.
	for i, st := range []Status{StatusFailed, StatusNotAttempted, StatusNotAttempted, StatusNotAttempted, StatusNotAttempted} {
		if res.Items[i].Status != st {
			t.Errorf("item %d: %s (%s), want %s", i, res.Items[i].Status, res.Items[i].Message, st)
		}
	}
	if len(prov.writes) != 1 || len(prov.reads) != 1 {
		t.Errorf("writes %v, reads %v: want the first canary only", prov.writes, prov.reads)
	}
	if res.Failed != 1 || res.Updated != 0 || res.NotAttempted != 4 || res.Calls != 0 {
		t.Errorf("result %+v", res)
	}
}

// The canary changes run before any other: with one worker, in order; and
// without VerifyAll only they are read back.
func TestVerifyOnlyTheCanaryUnlessVerifyAll(t *testing.T) {
	f := Fields{{Name: "name", Value: String("A")}}
	held := map[string]Fields{"c1": f, "c2": f, "c3": f, "c4": f}
	prov := &holdingProvider{held: held}
	res, _ := vapply(t, vchanges(prov, f, "c1", "c2", "c3", "c4"), prov, ApplyOptions{Canary: 2})
	if res.Updated != 4 || cmp.Diff([]string{"c1", "c2"}, prov.reads) != "" {
		t.Errorf("result %+v, reads %v: want the two canaries read", res, prov.reads)
	}
	prov = &holdingProvider{held: held}
	res, _ = vapply(t, vchanges(prov, f, "c1", "c2", "c3", "c4"), prov, ApplyOptions{Canary: 0, VerifyAll: true})
	if res.Updated != 4 || len(prov.reads) != 4 {
		t.Errorf("VerifyAll: result %+v, reads %v", res, prov.reads)
	}
	prov = &holdingProvider{held: held}
	res, _ = vapply(t, vchanges(prov, f, "c1", "c2", "c3", "c4"), prov, ApplyOptions{Canary: 0})
	if res.Updated != 4 || len(prov.reads) != 0 {
		t.Errorf("no canary: result %+v, reads %v", res, prov.reads)
	}
	// The default canary (a negative Canary) is DefaultCanary changes.
	prov = &holdingProvider{held: held}
	res, _ = vapply(t, vchanges(prov, f, "c1", "c2", "c3", "c4"), prov, ApplyOptions{Canary: -1})
	if res.Updated != 4 || len(prov.reads) != DefaultCanary {
		t.Errorf("default canary: result %+v, reads %v", res, prov.reads)
	}
}

// No non-canary change starts before every canary change has ended.
func TestVerifyCanaryEndsBeforeTheRestStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := Fields{{Name: "name", Value: String("A")}}
		prov := &holdingProvider{held: map[string]Fields{"c1": f, "c2": f, "c3": f, "c4": f, "c5": f}, delay: time.Second}
		res, _ := vapply(t, vchanges(prov, f, "c1", "c2", "c3", "c4", "c5"), prov, ApplyOptions{Canary: 2,
			Configs: map[string]ProviderConfig{vsvc: {Concurrency: 4, MaxRetries: 3}}})
		if res.Updated != 5 {
			t.Fatalf("result %+v", res)
		}
		// c1 and c2 write at once, read for a second; only then c3..c5.
		if len(prov.writes) != 5 {
			t.Fatalf("writes %v", prov.writes)
		}
		start := prov.writeAt["c1"]
		for id, want := range map[string]time.Duration{"c1": 0, "c2": 0, "c3": time.Second, "c4": time.Second, "c5": time.Second} {
			if got := prov.writeAt[id].Sub(start); got != want {
				t.Errorf("%s written at %v, want %v", id, got, want)
			}
		}
	})
}

// An e-mail address the service holds in another case stuck; other text
// must match exactly; a field the service does not show at all is held as
// nothing; a cleared value is not an empty text.
func TestVerifyComparesAsTheServiceWritesValues(t *testing.T) {
	sent := Fields{{Name: "email", Value: String("Ana@X.org")}, {Name: "name", Value: String("Ana")}}
	tests := []struct {
		name string
		held Fields
		want []Mismatch
	}{
		{"email in another case", Fields{{Name: "email", Value: String("ana@x.ORG")}, {Name: "name", Value: String("Ana")}}, nil},
		{"name in another case", Fields{{Name: "email", Value: String("Ana@X.org")}, {Name: "name", Value: String("ANA")}},
			[]Mismatch{{Field: "name", Sent: String("Ana"), Held: String("ANA")}}},
		{"email absent", Fields{{Name: "name", Value: String("Ana")}},
			[]Mismatch{{Field: "email", Sent: String("Ana@X.org"), Absent: true}}},
		{"other email", Fields{{Name: "email", Value: String("bob@x.org")}, {Name: "name", Value: String("Ana")}},
			[]Mismatch{{Field: "email", Sent: String("Ana@X.org"), Held: String("bob@x.org")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prov := &holdingProvider{held: map[string]Fields{"c": tt.held}}
			res, _ := vapply(t, vchanges(prov, sent, "c"), prov, ApplyOptions{VerifyAll: true})
			if diff := cmp.Diff(tt.want, res.Items[0].Mismatches); diff != "" {
				t.Errorf("mismatches (-want +got):\n%s", diff)
			}
		})
	}
	if sameHeld(TypeEmail, Null(), String("")) {
		t.Error("a cleared e-mail held as empty text compared equal")
	}
	if !sameHeld(TypeString, Null(), Null()) {
		t.Error("two cleared values differ")
	}
	if got := (Mismatch{Field: "email", Sent: String("a"), Absent: true}).String(); got != `email did not stick: sent "a", the service holds nothing` {
		t.Errorf("absent mismatch reads %q", got)
	}
	if got := mismatchText("svc", []Mismatch{{Field: "a", Sent: String("1"), Held: String("2")}, {Field: "b", Sent: String("3"), Absent: true}}); !strings.Contains(got, `svc: a did not stick: sent "1", the service holds "2"; b did not stick`) {
		t.Errorf("mismatch text %q", got)
	}
}

// A write whose answer carries the record is verified from it: no read.
func TestVerifyFromTheWritesAnswerMakesNoRead(t *testing.T) {
	f := Fields{{Name: "name", Value: String("A")}}
	prov := &holdingProvider{held: map[string]Fields{"c": {{Name: "name", Value: String("Z")}}}, inWrite: true}
	res, _ := vapply(t, vchanges(prov, f, "c"), prov, ApplyOptions{VerifyAll: true})
	if len(prov.reads) != 0 || len(res.Items[0].Mismatches) != 1 {
		t.Errorf("reads %v, item %+v: want the answer's record compared, no read", prov.reads, res.Items[0])
	}
}

// A call that settles only fields the service does not read back (or
// parameters) is not verified.
func TestVerifyNothingReadableMakesNoRead(t *testing.T) {
	f := Fields{{Name: "note", Value: String("n")}, {Name: "ref", Value: String("r")}}
	prov := &holdingProvider{held: map[string]Fields{}}
	res, _ := vapply(t, vchanges(prov, f, "c"), prov, ApplyOptions{VerifyAll: true})
	if len(prov.reads) != 0 || res.Items[0].Status != StatusOK {
		t.Errorf("reads %v, item %+v", prov.reads, res.Items[0])
	}
}

// The read that verifies a write uses the ids the write returned, over
// those the state held.
func TestVerifyReadsByTheIDsTheWriteReturned(t *testing.T) {
	f := Fields{{Name: "name", Value: String("A")}}
	prov := &holdingProvider{held: map[string]Fields{"c": f}, ids: Fields{{Name: "gid", Value: String("new")}}}
	p := vchanges(prov, f, "c")
	p.Changes[0].IDs = Fields{{Name: "gid", Value: String("old")}, {Name: "other", Value: String("o")}}
	res, rec := vapply(t, p, prov, ApplyOptions{VerifyAll: true})
	if res.Updated != 1 || len(prov.readIDs) != 1 {
		t.Fatalf("result %+v, reads %v", res, prov.reads)
	}
	if diff := cmp.Diff(Fields{{Name: "gid", Value: String("new")}, {Name: "other", Value: String("o")}}, prov.readIDs[0]); diff != "" {
		t.Errorf("read ids (-want +got):\n%s", diff)
	}
	if p.Changes[0].IDs[0].Value != String("old") {
		t.Errorf("the change's ids were modified: %v", p.Changes[0].IDs)
	}
	if r := recordOf(rec, "svc/c"); r == nil || cmp.Diff(Fields{{Name: "gid", Value: String("new")}}, r.IDs) != "" {
		t.Errorf("record %+v", r)
	}
}

// A customer the verifying read does not find holds none of the fields.
func TestVerifyCustomerNotFoundIsAMismatchOfEveryField(t *testing.T) {
	f := Fields{{Name: "email", Value: String("a@b.c")}, {Name: "name", Value: String("A")}}
	prov := &holdingProvider{held: map[string]Fields{}}
	res, rec := vapply(t, vchanges(prov, f, "c"), prov, ApplyOptions{VerifyAll: true})
	it := res.Items[0]
	if it.Status != StatusFailed || len(it.Mismatches) != 2 || !it.Mismatches[0].Absent || !it.Mismatches[1].Absent {
		t.Errorf("item %+v", it)
	}
	if r := recordOf(rec, "svc/c"); r == nil || len(r.Set) != 0 {
		t.Errorf("record %+v, want nothing settled", r)
	}
}

// A verifying read that fails fails the change, unrecorded; one that fails
// with a retryable error is retried.
func TestVerifyReadFailure(t *testing.T) {
	f := Fields{{Name: "name", Value: String("A")}}
	synctest.Test(t, func(t *testing.T) {
		prov := &holdingProvider{held: map[string]Fields{"c": f}, readErr: []error{&CallError{Provider: vsvc, Status: 400, Message: "bad read"}}}
		res, rec := vapply(t, vchanges(prov, f, "c"), prov, ApplyOptions{VerifyAll: true})
		it := res.Items[0]
		if it.Status != StatusFailed || !strings.HasPrefix(it.Message, "the write could not be verified: ") || !strings.Contains(it.Message, "bad read") {
			t.Errorf("item %+v", it)
		}
		if len(rec.recs) != 0 {
			t.Errorf("recorded %+v: an unverified write", rec.recs)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		prov := &holdingProvider{held: map[string]Fields{"c": f}, readErr: []error{&CallError{Provider: vsvc, Status: 503, Retryable: true}}}
		res, rec := vapply(t, vchanges(prov, f, "c"), prov, ApplyOptions{VerifyAll: true})
		if res.Updated != 1 || len(prov.reads) != 2 || len(rec.recs) != 1 {
			t.Errorf("result %+v, reads %v", res, prov.reads)
		}
	})
}

// A stop or a cancellation while the verifying read waits to be retried:
// the write is neither recorded nor failed (planned again).
func TestVerifyStoppedOrCancelledIsNotRecorded(t *testing.T) {
	f := Fields{{Name: "name", Value: String("A")}}
	for _, how := range []string{"stop", "cancel"} {
		t.Run(how, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				stop := make(chan struct{})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				prov := &holdingProvider{held: map[string]Fields{"c": f}, readErr: []error{&CallError{Provider: vsvc, Status: 503, Retryable: true}},
					onRead: func(int) {
						if how == "stop" {
							close(stop)
						} else {
							cancel()
						}
					}}
				rec := &memRecorder{}
				p := vchanges(prov, f, "c")
				res, err := Apply(ctx, p, ApplyOptions{Registry: verifyReg, Recorder: rec, Providers: map[string]Provider{vsvc: prov},
					VerifyAll: true, Stop: stop, BackoffInitial: time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				if len(rec.recs) != 0 || res.Items[0].Status != StatusNotAttempted {
					t.Errorf("records %+v, item %+v", rec.recs, res.Items[0])
				}
			})
		})
	}
}

func TestWithoutFieldsKeepsTheOthers(t *testing.T) {
	set := Fields{{Name: "a", Value: String("1")}, {Name: "b", Value: String("2")}, {Name: "c", Value: String("3")}}
	got := withoutFields(set, []Mismatch{{Field: "b"}})
	if diff := cmp.Diff(Fields{{Name: "a", Value: String("1")}, {Name: "c", Value: String("3")}}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if set[1].Name != "b" {
		t.Errorf("the settled fields were modified: %v", set)
	}
	if got := withoutFields(set, nil); len(got) != 3 {
		t.Errorf("nothing lost: %v", got)
	}
}

var _ = errors.New
