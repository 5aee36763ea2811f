package operation

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
)

// The tests run the operations on a state file against fake services
// whose clients record every call and read from what those calls wrote.

// fakeService is the data of one service and the client reconcile uses.
type fakeService struct {
	name  string
	ready error
	// base is where its requests go (BaseURL), for saved plans' target.
	base string
	// onDo runs before each call is made, with the call's address.
	onDo func(addr string)

	mu    sync.Mutex
	calls []string // "PUT svc/1"
	held  map[string]engine.Fields
}

func (s *fakeService) Name() string    { return s.name }
func (s *fakeService) BaseURL() string { return s.base }
func (s *fakeService) Ready() error    { return s.ready }

func (s *fakeService) Calls(ch *engine.Change) []engine.Call {
	if ch.Action == engine.ActionForget || ch.Desired == nil {
		return nil
	}
	var fields []string
	for _, f := range ch.Desired.Fields {
		fields = append(fields, f.Name)
	}
	return []engine.Call{{Method: "PUT", Path: "/customers/" + ch.ID, Op: "upsert", Fields: fields}}
}

func (s *fakeService) Do(_ context.Context, ch *engine.Change, call engine.Call) (engine.Outcome, error) {
	if s.onDo != nil {
		s.onDo(ch.Address)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call.Method+" "+ch.Address)
	s.held[ch.ID] = ch.Desired.Fields.Clone()
	return engine.Outcome{Status: 200}, nil
}

func (s *fakeService) Read(_ context.Context, r *engine.Resource, _ engine.Fields) (*engine.Observed, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, "GET "+r.Address())
	fs, ok := s.held[r.ID]
	if !ok {
		return nil, engine.ErrNotFound
	}
	return &engine.Observed{Fields: fs.Clone()}, nil
}

func (s *fakeService) made() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// fixture is a Runner on a state file in a temporary directory, and one
// fake service, "crm".
type fixture struct {
	t       *testing.T
	reg     *engine.Registry
	svc     *fakeService
	path    string
	runner  *Runner
	connect int // how many times Connect was called
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{t: t, svc: &fakeService{name: "crm", held: map[string]engine.Fields{}}}
	f.reg = engine.MustRegistry(&engine.Service{
		Name: "crm",
		Keys: []engine.ServiceKey{
			{Field: "name", Shared: true, Type: engine.TypeString, Call: "upsert", Readable: true},
			{Field: "email", Shared: true, Type: engine.TypeEmail, Call: "upsert", Readable: true},
		},
		Defaults: engine.ProviderConfig{RateLimit: 1000, Burst: 100, Concurrency: 4, Timeout: time.Minute, OnRemove: engine.OnRemoveForget},
		New:      func(engine.ClientOptions) (engine.Provider, error) { return f.svc, nil },
	})
	f.path = filepath.Join(t.TempDir(), "s.json")
	providers := func(map[string]engine.ProviderConfig) (map[string]engine.Provider, error) {
		return map[string]engine.Provider{"crm": f.svc}, nil
	}
	f.runner = &Runner{
		Registry:     f.reg,
		Backend:      probed{state.NewFile(f.path, "crm")},
		NewProviders: providers,
		Connect: func(context.Context) (ProviderFactory, func(), error) {
			f.connect++
			return providers, nil, nil
		},
	}
	return f
}

// probed is the file state with the journal probe the CLI gives it.
type probed struct{ *state.File }

func (p probed) LeftoverJournal(context.Context) (bool, error) {
	_, err := os.Stat(p.String() + ".journal")
	return err == nil, nil
}

// desired returns the manifests' customers: id=name pairs, each with an
// e-mail.
func (f *fixture) desired(names ...string) *engine.Desired {
	d := &engine.Desired{Registry: f.reg, Providers: map[string]engine.ProviderConfig{"crm": f.reg.DefaultConfig("crm")}}
	for i := 0; i < len(names); i += 2 {
		id, name := names[i], names[i+1]
		d.Customers = append(d.Customers, &engine.Customer{ID: id, Managed: 1, Fields: engine.Fields{
			{Name: "email", Value: engine.String(id + "@example.com")},
			{Name: "name", Value: engine.String(name)},
		}})
	}
	return d
}

func (f *fixture) manifests(names ...string) func() (*engine.Desired, error) {
	return func() (*engine.Desired, error) { return f.desired(names...), nil }
}

// load reads the state as the next command would.
func (f *fixture) load() *engine.State {
	f.t.Helper()
	s, err := state.NewFile(f.path, "crm").Load(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// serial reads the serial in the state file itself, journal aside.
func (f *fixture) serial() int64 {
	f.t.Helper()
	fh, err := os.Open(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return -1
	}
	if err != nil {
		f.t.Fatal(err)
	}
	defer fh.Close()
	s, err := state.Read(context.Background(), fh, f.path, "crm")
	if err != nil {
		f.t.Fatal(err)
	}
	return s.Serial
}

func (f *fixture) journalExists() bool {
	_, err := os.Stat(f.path + ".journal")
	return err == nil
}

func (f *fixture) apply(req ApplyRequest) (*ApplyResult, error) {
	return f.runner.Apply(context.Background(), req)
}

func TestApplySavesTheStateBeforeTheFirstCallAndRecordsEachCall(t *testing.T) {
	f := newFixture(t)
	var during []string
	f.svc.onDo = func(addr string) {
		// While calls are made, the state file is saved (serial 1) and a
		// journal extends it with every call completed so far.
		if f.serial() != 1 || !f.journalExists() {
			t.Errorf("calling %s: state serial %d, journal there %v; want the state saved and a journal beside it", addr, f.serial(), f.journalExists())
		}
		during = append(during, addr)
	}
	var shown, confirmed, applying bool
	out, err := f.apply(ApplyRequest{
		Manifests: f.manifests("1", "Ana", "2", "Bruno"),
		Rails:     engine.Rails{MaxDisable: 10},
		Hooks: ApplyHooks{
			ShowPlan: func(p *engine.Plan, n int) error {
				shown = true
				if p.Summary.Create != 2 || n != 0 {
					t.Errorf("shown plan %+v against %d addresses, want 2 creates against 0", p.Summary, n)
				}
				return nil
			},
			Confirm: func(*engine.Plan) bool {
				confirmed = true
				if f.serial() != -1 {
					t.Errorf("asked for confirmation after the state was written")
				}
				return true
			},
			Applying: func(_ context.Context, totals map[string]int) Calls {
				applying = true
				if totals["crm"] != 2 {
					t.Errorf("totals %v, want crm 2", totals)
				}
				return Calls{}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !shown || !confirmed || !applying {
		t.Errorf("hooks called: show %v, confirm %v, applying %v; want all", shown, confirmed, applying)
	}
	if out.Result == nil || out.Result.Created != 2 || out.Result.Failed != 0 {
		t.Fatalf("result %+v, want 2 created", out.Result)
	}
	if len(during) != 2 {
		t.Errorf("calls made: %v", during)
	}
	if f.journalExists() {
		t.Errorf("the journal is still there after the apply saved the state")
	}
	if s := f.load(); s.Serial != 2 || len(s.Resources) != 2 {
		t.Errorf("state serial %d with %d addresses, want serial 2 (saved before and after) with 2", s.Serial, len(s.Resources))
	}
	if f.connect != 1 {
		t.Errorf("Connect called %d times, want 1", f.connect)
	}
}

// leaveJournal makes the state an apply interrupted after one call
// leaves: the state saved, and a journal holding the call's record.
func (f *fixture) leaveJournal(rec engine.Record) {
	f.t.Helper()
	ctx := context.Background()
	b := state.NewFile(f.path, "crm")
	s, err := b.Load(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := b.Save(ctx, s); err != nil {
		f.t.Fatal(err)
	}
	j, err := b.OpenJournal(ctx, s)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := j.Record(rec); err != nil {
		f.t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		f.t.Fatal(err)
	}
}

func TestApplyWithNoChangesSavesAFoldedJournal(t *testing.T) {
	f := newFixture(t)
	f.leaveJournal(engine.Record{Address: "crm/1", Set: engine.Fields{
		{Name: "email", Value: engine.String("1@example.com")},
		{Name: "name", Value: engine.String("Ana")},
	}, Managed: []string{"email", "name"}})
	before := f.serial()
	out, err := f.apply(ApplyRequest{Manifests: f.manifests("1", "Ana")})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result != nil || out.Plan.Summary.Changes() != 0 {
		t.Fatalf("plan %+v, want no changes (the journal holds the only call)", out.Plan.Summary)
	}
	if f.journalExists() {
		t.Errorf("an apply with no changes left the journal it folded behind")
	}
	if got := f.serial(); got != before+1 {
		t.Errorf("state file serial %d, want %d: the folded journal saved into it", got, before+1)
	}
	if s := f.load(); s.Resources["crm/1"] == nil {
		t.Errorf("the journal's record is not in the saved state")
	}

	// With nothing folded, no changes write nothing.
	before = f.serial()
	if _, err := f.apply(ApplyRequest{Manifests: f.manifests("1", "Ana")}); err != nil {
		t.Fatal(err)
	}
	if got := f.serial(); got != before {
		t.Errorf("an apply with no changes and no journal wrote the state (serial %d, was %d)", got, before)
	}
	if calls := f.svc.made(); len(calls) != 0 {
		t.Errorf("calls made: %v", calls)
	}
}

func TestApplyRefusesBeforeAnyCall(t *testing.T) {
	four := []string{"1", "Ana", "2", "Bruno", "3", "Carla", "4", "Davi"}
	renamed := []string{"1", "Ana Maria", "2", "Bruno", "3", "Carla", "4", "Davi"}
	creds := errors.New("crm: credentials missing: set CRM_TOKEN")
	for _, tt := range []struct {
		name string
		// req returns the apply to refuse, given a state of four.
		req   func(f *fixture) ApplyRequest
		check func(t *testing.T, err error)
	}{
		{"missing credentials", func(f *fixture) ApplyRequest {
			f.svc.ready = creds
			return ApplyRequest{Manifests: f.manifests(renamed...)}
		}, func(t *testing.T, err error) {
			var mc *MissingCredentials
			if !errors.As(err, &mc) || mc.Reading || len(mc.Problems) != 1 || mc.Problems[0] != creds {
				t.Errorf("error %v, want MissingCredentials with crm's problem", err)
			}
		}},
		{"rails", func(f *fixture) ApplyRequest {
			return ApplyRequest{Manifests: f.manifests("1", "Ana")}
		}, func(t *testing.T, err error) {
			var re *RefusedError
			if !errors.As(err, &re) || len(re.Problems) != 1 || !strings.Contains(re.Problems[0], "forgets 3 of the state's 4 addresses") {
				t.Errorf("error %v, want RefusedError for forgetting 3 of 4", err)
			}
		}},
		{"not confirmed", func(f *fixture) ApplyRequest {
			return ApplyRequest{Manifests: f.manifests(renamed...), Hooks: ApplyHooks{Confirm: func(*engine.Plan) bool { return false }}}
		}, func(t *testing.T, err error) {
			if !errors.Is(err, ErrCancelled) {
				t.Errorf("error %v, want ErrCancelled", err)
			}
		}},
		{"stale plan", func(f *fixture) ApplyRequest {
			planFile := filepath.Join(t.TempDir(), "plan.json")
			res, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired(renamed...), Out: planFile})
			if err != nil || res.Plan.Summary.Update != 1 {
				t.Fatalf("plan: %v", err)
			}
			// Another apply changes crm/1 meanwhile.
			if _, err := f.apply(ApplyRequest{Manifests: f.manifests("1", "Ana Clara", "2", "Bruno", "3", "Carla", "4", "Davi")}); err != nil {
				t.Fatal(err)
			}
			return ApplyRequest{PlanFile: planFile}
		}, func(t *testing.T, err error) {
			var se *StalePlanError
			if !errors.As(err, &se) || !slices.Equal(se.Addresses, []string{"crm/1"}) {
				t.Errorf("error %v, want StalePlanError naming crm/1", err)
			}
		}},
		{"plan for another base URL", func(f *fixture) ApplyRequest {
			planFile := filepath.Join(t.TempDir(), "plan.json")
			f.svc.base = "https://staging.crm.example"
			if _, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired(renamed...), Out: planFile}); err != nil {
				t.Fatal(err)
			}
			f.svc.base = "https://crm.example"
			return ApplyRequest{PlanFile: planFile}
		}, func(t *testing.T, err error) {
			var fe *ForeignTargetError
			if !errors.As(err, &fe) || fe.Planned == nil || fe.Planned.String() != "crm at https://staging.crm.example" || fe.Here.String() != "crm at https://crm.example" {
				t.Errorf("error %v, want ForeignTargetError naming both base URLs", err)
			}
		}},
		{"plan for the sandbox", func(f *fixture) ApplyRequest {
			planFile := filepath.Join(t.TempDir(), "plan.json")
			f.svc.base = "https://crm.example"
			f.runner.Sandbox = true
			if _, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired(renamed...), Out: planFile}); err != nil {
				t.Fatal(err)
			}
			f.runner.Sandbox = false
			return ApplyRequest{PlanFile: planFile}
		}, func(t *testing.T, err error) {
			var fe *ForeignTargetError
			if !errors.As(err, &fe) || fe.Planned == nil || !fe.Planned.Sandbox || fe.Here.Sandbox ||
				err.Error() != "the plan "+fe.PlanFile+" was made for the sandbox; this apply goes to crm at https://crm.example" {
				t.Errorf("error %v, want ForeignTargetError naming the sandbox and the base URL", err)
			}
		}},
		{"plan that records no target", func(f *fixture) ApplyRequest {
			res, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired(renamed...)})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := engine.WritePlanJSON(&b, res.Plan, true); err != nil {
				t.Fatal(err)
			}
			planFile := filepath.Join(t.TempDir(), "plan.json")
			if err := os.WriteFile(planFile, []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			return ApplyRequest{PlanFile: planFile}
		}, func(t *testing.T, err error) {
			var fe *ForeignTargetError
			if !errors.As(err, &fe) || fe.Planned != nil || !strings.Contains(err.Error(), "does not record where it goes") {
				t.Errorf("error %v, want ForeignTargetError for an unknown target", err)
			}
		}},
		{"plan of another state", func(f *fixture) ApplyRequest {
			other := newFixture(t)
			if _, err := other.apply(ApplyRequest{Manifests: other.manifests("9", "Zé")}); err != nil {
				t.Fatal(err)
			}
			planFile := filepath.Join(t.TempDir(), "plan.json")
			if _, err := other.runner.Plan(context.Background(), PlanRequest{Desired: other.desired(renamed...), Out: planFile}); err != nil {
				t.Fatal(err)
			}
			return ApplyRequest{PlanFile: planFile}
		}, func(t *testing.T, err error) {
			var fe *ForeignPlanError
			if !errors.As(err, &fe) || fe.PlanLineage == fe.StateLineage {
				t.Errorf("error %v, want ForeignPlanError", err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if _, err := f.apply(ApplyRequest{Manifests: f.manifests(four...)}); err != nil {
				t.Fatal(err)
			}
			req := tt.req(f)
			serial, calls := f.serial(), len(f.svc.made())
			_, err := f.apply(req)
			tt.check(t, err)
			if got := f.svc.made(); len(got) != calls {
				t.Errorf("calls made despite the refusal: %v", got[calls:])
			}
			if f.serial() != serial || f.journalExists() {
				t.Errorf("the refused apply wrote the state (serial %d, was %d; journal %v)", f.serial(), serial, f.journalExists())
			}
		})
	}
}

func TestApplyStopsAndSavesWhatCompleted(t *testing.T) {
	f := newFixture(t)
	stop := make(chan struct{})
	var once sync.Once
	f.svc.onDo = func(string) { once.Do(func() { close(stop) }) }
	f.runner.Registry.Service("crm").Defaults.Concurrency = 1
	out, err := f.apply(ApplyRequest{
		Manifests:   f.manifests("1", "Ana", "2", "Bruno", "3", "Carla"),
		Parallelism: 1,
		Hooks: ApplyHooks{Applying: func(context.Context, map[string]int) Calls {
			return Calls{Stop: stop}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Result
	if r.Created != 1 || r.NotAttempted != 2 {
		t.Fatalf("created %d, not attempted %d; want 1 and 2 (stopped after the first call)", r.Created, r.NotAttempted)
	}
	if s := f.load(); len(s.Resources) != 1 || f.journalExists() {
		t.Errorf("state holds %d addresses (journal there: %v), want the one completed, saved", len(s.Resources), f.journalExists())
	}
}

func TestPlanConnectsOnlyToRefresh(t *testing.T) {
	f := newFixture(t)
	if _, err := f.apply(ApplyRequest{Manifests: f.manifests("1", "Ana", "2", "Bruno")}); err != nil {
		t.Fatal(err)
	}
	f.connect = 0
	res, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired("1", "Ana", "2", "Bruno")})
	if err != nil || res.Plan.Summary.Changes() != 0 || res.StateAddresses != 2 {
		t.Fatalf("offline plan: %v, %+v", err, res)
	}
	if f.connect != 0 {
		t.Errorf("an offline plan connected to the services")
	}

	// Someone renames Bruno in the service: a refresh sees it as drift.
	f.svc.held["2"] = f.svc.held["2"].Set("name", engine.String("Bruna"))
	var read, missing int
	res, err = f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired("1", "Ana", "2", "Bruno"), Refresh: true,
		Hooks: Hooks{Refreshed: func(r, m int) { read, missing = r, m }}})
	if err != nil {
		t.Fatal(err)
	}
	if f.connect != 1 || read != 2 || missing != 0 {
		t.Errorf("refresh connected %d times, read %d (%d missing); want 1, 2, 0", f.connect, read, missing)
	}
	if len(res.Plan.Changes) != 1 || res.Plan.Changes[0].Address != "crm/2" || !res.Plan.Changes[0].Fields[0].Drift {
		t.Errorf("refreshed plan %+v, want crm/2's name as drift", res.Plan.Changes)
	}
}

func TestRefreshReportsFailedReads(t *testing.T) {
	f := newFixture(t)
	if _, err := f.apply(ApplyRequest{Manifests: f.manifests("1", "Ana")}); err != nil {
		t.Fatal(err)
	}
	f.svc.ready = errors.New("crm: credentials missing: set CRM_TOKEN")
	_, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired("1", "Ana"), Refresh: true})
	var mc *MissingCredentials
	if !errors.As(err, &mc) || !mc.Reading {
		t.Errorf("error %v, want MissingCredentials for reading", err)
	}
}

func TestImportAdoptsWhatTheServicesHold(t *testing.T) {
	f := newFixture(t)
	if _, err := f.apply(ApplyRequest{Manifests: f.manifests("1", "Ana")}); err != nil {
		t.Fatal(err)
	}
	// The service already has 2, under another name; it does not have 3.
	f.svc.held["2"] = engine.Fields{{Name: "email", Value: engine.String("2@example.com")}, {Name: "name", Value: engine.String("Bruna")}}
	var totals map[string]int
	res, err := f.runner.Import(context.Background(), ImportRequest{
		Manifests: f.manifests("1", "Ana", "2", "Bruno", "3", "Carla"),
		Hooks: Hooks{Reading: func(t map[string]int) (func(engine.Event), func()) {
			totals = t
			return func(engine.Event) {}, func() {}
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Imported, []string{"crm/2"}) || !slices.Equal(res.Absent, []string{"crm/3"}) || !slices.Equal(res.Skipped, []string{"crm/1"}) || res.Failed != 0 {
		t.Errorf("import %+v", res)
	}
	if totals["crm"] != 2 {
		t.Errorf("reads %v, want crm 2 (what the state does not hold)", totals)
	}
	e := f.load().Resources["crm/2"]
	if v, _ := e.Fields.Get("name"); e == nil || v != engine.String("Bruna") {
		t.Errorf("imported entry %+v, want the service's name", e)
	}
	// The first plan shows only the real difference.
	p, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired("1", "Ana", "2", "Bruno", "3", "Carla")})
	if err != nil {
		t.Fatal(err)
	}
	if s := p.Plan.Summary; s.Create != 1 || s.Update != 1 || s.NoOp != 1 {
		t.Errorf("plan after import %+v, want 1 create, 1 update, 1 no-op", s)
	}
}

func TestLockIsHeldWhileConnected(t *testing.T) {
	f := newFixture(t)
	var lockErr error
	providers := f.runner.NewProviders
	f.runner.Connect = func(ctx context.Context) (ProviderFactory, func(), error) {
		_, lockErr = state.NewFile(f.path).Lock(ctx, "other", 0)
		return providers, nil, nil
	}
	if _, err := f.apply(ApplyRequest{Manifests: f.manifests("1", "Ana")}); err != nil {
		t.Fatal(err)
	}
	var le *engine.LockedError
	if !errors.As(lockErr, &le) || le.Info.Operation != "apply" {
		t.Errorf("locking while apply is connected: %v, want the lock held by apply", lockErr)
	}
}

// TestSavedPlanAppliesAtItsTarget: a saved plan records where its calls go
// (each called service's base URL, or the sandbox), and applies where the
// clients still go there, on another runner of the same state.
func TestSavedPlanAppliesAtItsTarget(t *testing.T) {
	for _, sandbox := range []bool{false, true} {
		f := newFixture(t)
		f.svc.base = "https://crm.example/"
		f.runner.Sandbox = sandbox
		planFile := filepath.Join(t.TempDir(), "plan.json")
		if _, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired("1", "Ana"), Out: planFile}); err != nil {
			t.Fatal(err)
		}
		_, target, err := ReadPlanFile(f.reg, planFile)
		if err != nil {
			t.Fatal(err)
		}
		want := engine.PlanTarget{BaseURLs: map[string]string{"crm": "https://crm.example/"}}
		if sandbox {
			want = engine.PlanTarget{Sandbox: true}
		}
		if target == nil || !target.Equal(want) || target.Sandbox != sandbox {
			t.Fatalf("sandbox %v: the saved plan's target is %+v, want %+v", sandbox, target, want)
		}
		// Another runner (the merge job's) on the same state, whose client
		// resolves the same URL, written without the trailing slash.
		f.svc.base = "https://crm.example"
		out, err := f.apply(ApplyRequest{PlanFile: planFile})
		if err != nil || out.Result.Created != 1 {
			t.Fatalf("sandbox %v: applying the saved plan at its target: %v", sandbox, err)
		}
	}
}

// TestPlanStreamsTheStateOrLoadsIt: a plan streams a state saved in address
// order, and loads one it cannot stream (entries out of order, a journal
// left by a crash, folded in); all three plan the same changes.
func TestPlanStreamsTheStateOrLoadsIt(t *testing.T) {
	f := newFixture(t)
	if _, err := f.apply(ApplyRequest{Manifests: f.manifests("1", "Ann", "2", "Bob", "3", "Cy")}); err != nil {
		t.Fatal(err)
	}
	plan := func() []string {
		t.Helper()
		res, err := f.runner.Plan(context.Background(), PlanRequest{Desired: f.desired("1", "Ann", "2", "Rob", "4", "Di")})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ch := range res.Plan.Changes {
			got = append(got, string(ch.Action)+" "+ch.Address+" "+ch.Prior)
		}
		if res.StateAddresses != 3 {
			t.Errorf("StateAddresses = %d, want 3", res.StateAddresses)
		}
		return got
	}
	sorted := plan()
	if len(sorted) != 3 || !strings.HasPrefix(sorted[0], "update crm/2 ") || !strings.HasPrefix(sorted[1], "forget crm/3 ") || sorted[2] != "create crm/4 absent" {
		t.Fatalf("plan = %q", sorted)
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines[1], lines[3] = lines[3], lines[1] // crm/3 before crm/1
	if err := os.WriteFile(f.path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := plan(); !slices.Equal(got, sorted) {
		t.Errorf("unsorted state: plan = %q, want %q", got, sorted)
	}
	if err := os.WriteFile(f.path+".journal", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got := plan(); !slices.Equal(got, sorted) {
		t.Errorf("state with a journal: plan = %q, want %q", got, sorted)
	}
}
