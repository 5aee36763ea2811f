package conformance

import (
	"slices"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
)

// broken returns a copy of svc whose wire table edit changes. The client
// and the simulator still follow the service's own table, so the copy
// claims what the service does not do: the suite must say so.
func broken(svc *engine.Service, edit func(field string, k *engine.ServiceKey)) *engine.Service {
	out := *svc
	out.Keys = slices.Clone(svc.Keys)
	for i := range out.Keys {
		edit(out.Keys[i].Field, &out.Keys[i])
	}
	return &out
}

// wantFinding fails t unless f holds, for check and key, a problem that
// contains every one of parts.
func wantFinding(t *testing.T, f *Findings, check, key string, parts ...string) {
	t.Helper()
	for _, msg := range f.Get(check, key) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(msg, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("%s %s: want a problem containing %q; got %q", check, key, parts, f.Get(check, key))
}

// wantClean fails t if check found anything with key.
func wantClean(t *testing.T, f *Findings, check, key string) {
	t.Helper()
	if msgs := f.Get(check, key); len(msgs) > 0 {
		t.Errorf("%s %s: want no problem; got %q", check, key, msgs)
	}
}

func TestBrokenTablesFail(t *testing.T) {
	t.Run("bonifiq", func(t *testing.T) {
		t.Parallel()
		svc := broken(bonifiq.Service, func(field string, k *engine.ServiceKey) {
			switch field {
			case "email":
				k.Wire = "Mail" // the client sends Email
			case "enabled":
				k.Readable = true // the read shows no enabled flag
			case "name":
				k.Readable = false // the read shows the name
			}
		})
		f := Evaluate(t, svc)
		wantFinding(t, f, "settled", "email", "a create", `carries "Mail"`, "upsert")
		wantFinding(t, f, "settled", "email", "the update that changes only it", `carries "Mail"`)
		wantFinding(t, f, "clearable", "email", "the update that clears it", `carries "Mail" null or empty`)
		wantFinding(t, f, "readable", "enabled", "Read after the create does not return it")
		wantFinding(t, f, "readable", "name", "Read returns it", "marks it unreadable")
		wantClean(t, f, "settled", "phone")
		wantClean(t, f, "readable", "phone")
		wantClean(t, f, "clearable", "tier.comments")
	})
	t.Run("invisiblecollector", func(t *testing.T) {
		t.Parallel()
		svc := broken(invisiblecollector.Service, func(field string, k *engine.ServiceKey) {
			switch field {
			case "country":
				k.NotNull = false // the service needs a country
			case "zip_code":
				k.Wire = "zip"
			}
		})
		f := Evaluate(t, svc)
		wantFinding(t, f, "clearable", "country", "the update that clears it fails", "422")
		wantFinding(t, f, "settled", "zip_code", `carries "zip"`)
		wantClean(t, f, "settled", "city")
		wantClean(t, f, "clearable", "city")
	})
}

func TestDeclarations(t *testing.T) {
	svc := broken(bonifiq.Service, func(field string, k *engine.ServiceKey) {
		switch field {
		case "tier.comments":
			k.Call = ""
		case "phone":
			k.Wire = ""
		}
	})
	svc.CreateNeeds = []string{"name", "nickname"}
	svc.Credentials = nil
	svc.DefaultBaseURL = "http://api.bonifiq.com.br"
	svc.SandboxPrefix = ""
	svc.BaseURLVar = ""
	got := strings.Join(Declarations(svc), "\n")
	for _, want := range []string{
		"key tier.comments: Call is empty",
		"key phone: Wire is empty",
		"CreateNeeds nickname: not a key",
		"Credentials is empty",
		"BaseURLVar is empty",
		`DefaultBaseURL "http://api.bonifiq.com.br": not an https URL`,
		`SandboxPrefix ""`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Declarations: no %q in\n%s", want, got)
		}
	}
	for _, svc := range []*engine.Service{bonifiq.Service, invisiblecollector.Service} {
		if d := Declarations(svc); len(d) > 0 {
			t.Errorf("%s: Declarations = %q, want none", svc.Name, d)
		}
	}
}
