// Package backendtest is the contract of engine.Backend as one test suite,
// run against every state backend (the file in engine/state, PostgreSQL in
// engine/state/pg): round trips, serial checks, locks held, waited for,
// timed out and forced, unreadable state refused, and journal records
// durable and folded.
package backendtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
)

// Store makes a fresh, empty store for one test and returns a function that
// opens a backend on it. Every call of that function opens another handle
// on the same store, as another process would.
type Store func(t *testing.T) func() engine.Backend

// Options says how a backend differs where the contract lets it.
type Options struct {
	// Conflict is the error that Save's refusals to overwrite another or a
	// newer state match (errors.Is).
	Conflict error
	// BreaksLiveLocks says that ForceUnlock of a lock whose holder is alive
	// takes the lock from it (a shared backend, whose holders may hang or
	// vanish without their session ending) rather than refusing (an OS lock,
	// which dies with its process).
	BreaksLiveLocks bool
	// Abandon makes the holder of u vanish without unlocking, as a killed
	// process does; nil skips the tests that need it.
	Abandon func(t *testing.T, u engine.Unlocker)
	// Corrupt makes the state in the store unreadable (an entry whose
	// fields are not valid), after a valid state was saved there, and
	// returns what Load's error must contain to say where; nil skips.
	Corrupt func(t *testing.T, open func() engine.Backend) (where string)
}

// Run runs the contract against the backend that store makes.
func Run(t *testing.T, store Store, o Options) {
	tests := []struct {
		name string
		f    func(*testing.T, func() engine.Backend, Options)
	}{
		{"EmptyLoad", testEmptyLoad},
		{"RoundTrip", testRoundTrip},
		{"SerialConflict", testSerialConflict},
		{"LineageConflict", testLineageConflict},
		{"LockHeld", testLockHeld},
		{"LockWaited", testLockWaited},
		{"LockTimedOut", testLockTimedOut},
		{"LockCancelled", testLockCancelled},
		{"ForceUnlockLive", testForceUnlockLive},
		{"LockAbandoned", testLockAbandoned},
		{"Corrupt", testCorrupt},
		{"JournalDurable", testJournalDurable},
		{"JournalConcurrent", testJournalConcurrent},
		{"JournalThenSave", testJournalThenSave},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f(t, store(t), o)
		})
	}
}

var stateCmp = []cmp.Option{cmpopts.EquateEmpty()}

func diffStates(want, got *engine.State) string {
	return cmp.Diff(want, got, stateCmp...)
}

// sample returns entries with every kind of value and awkward text.
func sample() map[string]*engine.Entry {
	return sortFields(map[string]*engine.Entry{
		"bonifiq/1001": {Provider: "bonifiq", ID: "1001",
			Fields: engine.Fields{
				{Name: "email", Value: engine.String("maria@example.com")},
				{Name: "enabled", Value: engine.Bool(true)},
				{Name: "enrolled", Value: engine.Bool(false)},
				{Name: "name", Value: engine.String("Maria \"Mãe\" Silva\n\t\\ 😀")},
				{Name: "phone", Value: engine.Null()},
				{Name: "tier.id", Value: engine.Int(3)},
				{Name: "tier.grace_period_days", Value: engine.Int(-9223372036854775808)},
			},
			IDs: engine.Fields{{Name: "PublicId", Value: engine.String("pub-1")}}},
		"invisiblecollector/1001": {Provider: "invisiblecollector", ID: "1001",
			Fields: engine.Fields{{Name: "country", Value: engine.String("PT")}},
			IDs:    engine.Fields{{Name: "gid", Value: engine.String("g-1")}}},
		"tomticket/a b/ç": {Provider: "tomticket", ID: "a b/ç",
			Fields: engine.Fields{{Name: "custom_fields.cf_plan", Value: engine.String("")}},
			IDs:    engine.Fields{{Name: "id_type", Value: engine.String("internal")}}},
		"tomticket/empty": {Provider: "tomticket", ID: "empty"},
	})
}

func sortFields(m map[string]*engine.Entry) map[string]*engine.Entry {
	for _, e := range m {
		e.Fields.Sort()
		e.IDs.Sort()
	}
	return m
}

func load(t *testing.T, b engine.Backend) *engine.State {
	t.Helper()
	s, err := b.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return s
}

func save(t *testing.T, b engine.Backend, s *engine.State) {
	t.Helper()
	if err := b.Save(t.Context(), s); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

func clone(s *engine.State) *engine.State {
	c := &engine.State{Lineage: s.Lineage, Serial: s.Serial, Resources: make(map[string]*engine.Entry, len(s.Resources))}
	for a, e := range s.Resources {
		c.Resources[a] = e.Clone()
	}
	return c
}

func testEmptyLoad(t *testing.T, open func() engine.Backend, _ Options) {
	s := load(t, open())
	if s.Serial != 0 || len(s.Resources) != 0 || len(s.Lineage) != 36 {
		t.Fatalf("empty store loads as lineage %q serial %d with %d resources; want a fresh lineage, serial 0, nothing", s.Lineage, s.Serial, len(s.Resources))
	}
	if open().String() == "" {
		t.Error("String() is empty")
	}
}

func testRoundTrip(t *testing.T, open func() engine.Backend, _ Options) {
	b := open()
	s := load(t, b)
	s.Resources = sample()
	save(t, b, s)
	if s.Serial != 1 {
		t.Fatalf("after the first Save, serial %d, want 1", s.Serial)
	}
	if d := diffStates(s, load(t, open())); d != "" {
		t.Fatalf("state read back differs (-saved +loaded):\n%s", d)
	}

	// Change one, remove one, add one, through the same handle.
	s.Resources["bonifiq/1001"].Fields = s.Resources["bonifiq/1001"].Fields.Set("email", engine.String("new@example.com"))
	delete(s.Resources, "invisiblecollector/1001")
	s.Resources["tomticket/2002"] = &engine.Entry{Provider: "tomticket", ID: "2002", Fields: engine.Fields{{Name: "name", Value: engine.String("João")}}}
	save(t, b, s)
	if s.Serial != 2 {
		t.Fatalf("after the second Save, serial %d, want 2", s.Serial)
	}
	got := load(t, open())
	if d := diffStates(s, got); d != "" {
		t.Fatalf("state read back differs (-saved +loaded):\n%s", d)
	}

	// A handle that loaded it saves it unchanged, then changed.
	b2 := open()
	s2 := load(t, b2)
	save(t, b2, s2)
	s2.Resources["tomticket/2002"].Fields = s2.Resources["tomticket/2002"].Fields.Set("name", engine.String("Joana"))
	save(t, b2, s2)
	if s2.Serial != 4 {
		t.Fatalf("serial %d, want 4", s2.Serial)
	}
	if d := diffStates(s2, load(t, open())); d != "" {
		t.Fatalf("state read back differs (-saved +loaded):\n%s", d)
	}

	// Everything removed.
	s2.Resources = map[string]*engine.Entry{}
	save(t, b2, s2)
	if got := load(t, open()); len(got.Resources) != 0 || got.Serial != 5 || got.Lineage != s.Lineage {
		t.Fatalf("after removing everything: lineage %s serial %d, %d resources", got.Lineage, got.Serial, len(got.Resources))
	}
}

func testSerialConflict(t *testing.T, open func() engine.Backend, o Options) {
	b := open()
	s := load(t, b)
	s.Resources = sample()
	save(t, b, s)

	a, c := open(), open()
	sa, sc := load(t, a), load(t, c)
	sa.Resources["tomticket/empty"].Fields = engine.Fields{{Name: "name", Value: engine.String("A")}}
	save(t, a, sa)
	sc.Resources["tomticket/empty"].Fields = engine.Fields{{Name: "name", Value: engine.String("C")}}
	err := c.Save(t.Context(), sc)
	if !errors.Is(err, o.Conflict) {
		t.Fatalf("Save over a state written since it was read: %v; want an error matching %v", err, o.Conflict)
	}
	if !strings.Contains(err.Error(), "written since") {
		t.Errorf("the refusal does not say why: %v", err)
	}
	if sc.Serial != 1 {
		t.Errorf("a refused Save changed the serial to %d", sc.Serial)
	}
	if d := diffStates(sa, load(t, open())); d != "" {
		t.Fatalf("the refused Save changed the stored state (-first writer +stored):\n%s", d)
	}
}

func testLineageConflict(t *testing.T, open func() engine.Backend, o Options) {
	b := open()
	s := load(t, b)
	s.Resources = sample()
	save(t, b, s)
	other := engine.NewState()
	other.Serial = 7
	if err := open().Save(t.Context(), other); !errors.Is(err, o.Conflict) {
		t.Fatalf("Save of another lineage: %v; want an error matching %v", err, o.Conflict)
	}
	if d := diffStates(s, load(t, open())); d != "" {
		t.Fatalf("the refused Save changed the stored state:\n%s", d)
	}
}

func lock(t *testing.T, b engine.Backend, op string, wait time.Duration) engine.Unlocker {
	t.Helper()
	u, err := b.Lock(t.Context(), op, wait)
	if err != nil {
		t.Fatalf("Lock(%q): %v", op, err)
	}
	return u
}

// lockedBy returns the error of a Lock that must find the lock held.
func lockedBy(t *testing.T, b engine.Backend, wait time.Duration) *engine.LockedError {
	t.Helper()
	u, err := b.Lock(t.Context(), "second", wait)
	if err == nil {
		u.Unlock()
		t.Fatal("a second Lock succeeded while the lock was held")
	}
	var le *engine.LockedError
	if !errors.As(err, &le) {
		t.Fatalf("second Lock: %v; want *engine.LockedError", err)
	}
	return le
}

func testLockHeld(t *testing.T, open func() engine.Backend, _ Options) {
	a, b := open(), open()
	u := lock(t, a, "apply", 0)
	le := lockedBy(t, b, 0)
	if le.Info.Operation != "apply" || le.Info.ID == "" || le.Info.ID == "?" || le.Info.Who == "" || le.Info.Created.IsZero() {
		t.Errorf("the holder's info: %+v; want operation apply, an id, who and when", le.Info)
	}
	if le.Waited != 0 {
		t.Errorf("Waited = %v with no timeout", le.Waited)
	}
	if !strings.Contains(le.Error(), le.Info.ID) || !strings.Contains(le.Error(), "force-unlock") {
		t.Errorf("message %q does not give the lock id and force-unlock", le.Error())
	}
	if err := u.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if err := u.Unlock(); err != nil {
		t.Fatalf("second Unlock: %v", err)
	}
	u2 := lock(t, b, "plan", 0)
	if le := lockedBy(t, a, 0); le.Info.Operation != "plan" {
		t.Errorf("the new holder's operation: %q, want plan", le.Info.Operation)
	}
	u2.Unlock()
}

func testLockWaited(t *testing.T, open func() engine.Backend, _ Options) {
	a, b := open(), open()
	u := lock(t, a, "apply", 0)
	done := make(chan error, 1)
	go func() {
		u2, err := b.Lock(context.Background(), "waiter", 30*time.Second)
		if err == nil {
			err = u2.Unlock()
		}
		done <- err
	}()
	time.Sleep(150 * time.Millisecond) // the waiter finds it held at least once
	select {
	case err := <-done:
		t.Fatalf("the waiter returned while the lock was held: %v", err)
	default:
	}
	if err := u.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
}

func testLockTimedOut(t *testing.T, open func() engine.Backend, _ Options) {
	a, b := open(), open()
	u := lock(t, a, "apply", 0)
	defer u.Unlock()
	le := lockedBy(t, b, 250*time.Millisecond)
	if le.Waited != 250*time.Millisecond || le.Info.Operation != "apply" {
		t.Errorf("LockedError %+v; want Waited 250ms and the holder's info", le)
	}
}

func testLockCancelled(t *testing.T, open func() engine.Backend, _ Options) {
	a, b := open(), open()
	u := lock(t, a, "apply", 0)
	defer u.Unlock()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := b.Lock(ctx, "waiter", time.Hour)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with a cancelled context: %v; want the context's error", err)
	}
}

func testForceUnlockLive(t *testing.T, open func() engine.Backend, o Options) {
	a, b := open(), open()
	u := lock(t, a, "apply", 0)
	defer u.Unlock()
	id := lockedBy(t, b, 0).Info.ID
	if err := b.ForceUnlock(t.Context(), "no-such-id"); err == nil || !strings.Contains(err.Error(), "no lock with ID no-such-id") {
		t.Errorf("ForceUnlock of another id: %v", err)
	}
	err := b.ForceUnlock(t.Context(), id)
	if o.BreaksLiveLocks {
		if err != nil {
			t.Fatalf("ForceUnlock of a live holder's lock: %v", err)
		}
		u2 := lock(t, b, "after force", 5*time.Second)
		u2.Unlock()
		_ = u.Unlock() // its session is gone; the error, if any, says so
	} else {
		if err == nil {
			t.Fatal("ForceUnlock took a live holder's lock")
		}
		if le := lockedBy(t, b, 0); le.Info.ID != id {
			t.Fatalf("after a refused ForceUnlock the lock is %s, want %s", le.Info.ID, id)
		}
		u.Unlock()
	}
	if err := b.ForceUnlock(t.Context(), id); err == nil || !strings.Contains(err.Error(), "not locked") {
		t.Errorf("ForceUnlock of a released lock: %v; want not locked", err)
	}
}

func testLockAbandoned(t *testing.T, open func() engine.Backend, o Options) {
	if o.Abandon == nil {
		t.Skip("the backend gives no way to abandon a lock")
	}
	a, b := open(), open()
	// A holder that vanishes releases the lock with it.
	u := lock(t, a, "crashed apply", 0)
	o.Abandon(t, u)
	u2 := lock(t, b, "next", 10*time.Second)
	if le := lockedBy(t, a, 0); le.Info.Operation != "next" {
		t.Errorf("the holder's info after the crashed one: %+v", le.Info)
	}
	u2.Unlock()

	// Its info, left behind, is cleared by ForceUnlock.
	u = lock(t, a, "crashed apply", 0)
	id := lockedBy(t, b, 0).Info.ID
	o.Abandon(t, u)
	if err := b.ForceUnlock(t.Context(), id); err != nil {
		t.Fatalf("ForceUnlock of an abandoned lock: %v", err)
	}
	if err := b.ForceUnlock(t.Context(), id); err == nil {
		t.Error("a second ForceUnlock found the lock again")
	}
	lock(t, b, "after", 10*time.Second).Unlock()
}

func testCorrupt(t *testing.T, open func() engine.Backend, o Options) {
	if o.Corrupt == nil {
		t.Skip("the backend gives no way to corrupt its state")
	}
	b := open()
	s := load(t, b)
	s.Resources = sample()
	save(t, b, s)
	where := o.Corrupt(t, open)
	_, err := open().Load(t.Context())
	if !errors.Is(err, engine.ErrStateCorrupt) {
		t.Fatalf("Load of a corrupt state: %v; want an error matching engine.ErrStateCorrupt", err)
	}
	if !strings.Contains(err.Error(), where) {
		t.Errorf("Load's error %q does not say where (%q)", err, where)
	}
	if err := open().Save(t.Context(), engine.NewState()); err == nil {
		t.Fatal("Save replaced a state that cannot be read")
	}
	if _, err := open().Load(t.Context()); !errors.Is(err, engine.ErrStateCorrupt) {
		t.Fatalf("after the refused Saves, Load: %v; want it still corrupt", err)
	}
}

// records returns records that touch sample(): a new address, a change, a
// dropped field, new ids and a deletion.
func records() []engine.Record {
	return []engine.Record{
		{Address: "tomticket/3003", Set: engine.Fields{{Name: "name", Value: engine.String("Nova")}}, IDs: engine.Fields{{Name: "id_type", Value: engine.String("internal")}}},
		{Address: "bonifiq/1001", Set: engine.Fields{{Name: "tier.id", Value: engine.Int(4)}}, Managed: []string{"email", "enabled", "enrolled", "name", "tier.id"}},
		{Address: "invisiblecollector/1001", IDs: engine.Fields{{Name: "gid", Value: engine.String("g-2")}}},
		{Address: "tomticket/empty", Delete: true},
	}
}

func testJournalDurable(t *testing.T, open func() engine.Backend, _ Options) {
	b := open()
	u := lock(t, b, "apply", 0)
	defer u.Unlock()
	s := load(t, b)
	s.Resources = sample()
	save(t, b, s)
	j, err := b.OpenJournal(t.Context(), s)
	if err != nil {
		t.Fatalf("OpenJournal: %v", err)
	}
	defer j.Close()
	want := clone(s)
	for i, rec := range records() {
		if err := j.Record(rec); err != nil {
			t.Fatalf("Record: %v", err)
		}
		want.ApplyRecord(rec)
		// Durable once Record returns: another process reads it, with the
		// journal still open (the apply may be killed now).
		if d := diffStates(want, load(t, open())); d != "" {
			t.Fatalf("after record %d, another handle loads (-want +got):\n%s", i, d)
		}
	}
	// The next command folds and saves it; the journal is then gone.
	c := open()
	got := load(t, c)
	if d := diffStates(want, got); d != "" {
		t.Fatalf("folded state (-want +got):\n%s", d)
	}
	save(t, c, got)
	if got.Serial != 2 {
		t.Errorf("serial after saving the folded state: %d, want 2", got.Serial)
	}
	want.Serial = 2
	if d := diffStates(want, load(t, open())); d != "" {
		t.Fatalf("saved folded state (-want +got):\n%s", d)
	}
	j2, err := c.OpenJournal(t.Context(), got)
	if err != nil {
		t.Fatalf("OpenJournal after the journal was saved: %v", err)
	}
	if err := j2.Close(); err != nil {
		t.Fatal(err)
	}
}

func testJournalConcurrent(t *testing.T, open func() engine.Backend, _ Options) {
	b := open()
	s := load(t, b)
	save(t, b, s)
	j, err := b.OpenJournal(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- j.Record(engine.Record{Address: fmt.Sprintf("bonifiq/%04d", i), Set: engine.Fields{{Name: "name", Value: engine.String(fmt.Sprint(i))}}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Record: %v", err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got := load(t, open())
	if len(got.Resources) != n {
		t.Fatalf("%d addresses folded, want %d", len(got.Resources), n)
	}
	if v, _ := got.Resources["bonifiq/0123"].Fields.Get("name"); v != engine.String("123") {
		t.Errorf("bonifiq/0123 name = %v", v)
	}
}

// testJournalThenSave is an apply's flow: Save, OpenJournal, Record while
// folding into the state, Close, Save.
func testJournalThenSave(t *testing.T, open func() engine.Backend, _ Options) {
	b := open()
	u := lock(t, b, "apply", 0)
	defer u.Unlock()
	s := load(t, b)
	s.Resources = sample()
	save(t, b, s)
	j, err := b.OpenJournal(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range records() {
		if err := j.Record(rec); err != nil {
			t.Fatal(err)
		}
		s.ApplyRecord(rec)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	save(t, b, s)
	got := load(t, open())
	if d := diffStates(s, got); d != "" {
		t.Fatalf("(-saved +loaded):\n%s", d)
	}
	// No journal is left to fold twice: a new journal opens, and the state
	// loads the same.
	j2, err := b.OpenJournal(t.Context(), s)
	if err != nil {
		t.Fatalf("OpenJournal after Save: %v", err)
	}
	j2.Close()
	if d := diffStates(s, load(t, open())); d != "" {
		t.Fatalf("(-saved +loaded):\n%s", d)
	}
}
