package bonifiq

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/fuzzkit"
)

// FuzzResponses fuzzes the client's answers to every call and read; see
// fuzzkit.Run.
func FuzzResponses(f *testing.F) {
	fuzzkit.Run(f, fuzzkit.Target{
		Provider: Name,
		Secret:   fuzzToken,
		New:      func(srv *httptest.Server) (engine.Provider, error) { return fuzzClient(srv) },
		Change:   fuzzChange,
		Seeds:    [][]byte{[]byte(`{"Result":{"Name":"A","Email":null,"BirthdayDate":"1990-01-02T00:00:00","SignupDate":"2020-01-02T03:04:05.123-03:00","IsEnrolled":true,"PublicId":12},"HasError":false,"Severity":"Warning","HasWarning":true}`)},
	})
}

const (
	fuzzToken = "fuzz-token-b"
	fuzzKey   = "fuzz-key-b"
)

func fuzzClient(srv *httptest.Server) (*Client, error) {
	env := map[string]string{EnvToken: fuzzToken, EnvKey: fuzzKey, EnvBaseURL: srv.URL + "/base"}
	return New(Options{Config: engine.ProviderConfig{Timeout: 5 * time.Second}, Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()})
}

// fuzzChange returns a create (what % 4 == 0), an update (1) or a disable
// (2) of one customer managing every field; 3 asks for a Read of it.
func fuzzChange(what uint8) *engine.Change {
	action := engine.ActionCreate
	switch what % 4 {
	case 1:
		action = engine.ActionUpdate
	case 2:
		action = engine.ActionDisable
	}
	fields := engine.Fields{{Name: "name", Value: engine.String("Maria")}, {Name: "email", Value: engine.String("m@example.com")}, {Name: "phone", Value: engine.Null()}, {Name: "document", Value: engine.String("111")}, {Name: "enrolled", Value: engine.Bool(true)}, {Name: "birthday", Value: engine.String("1990-01-02")}, {Name: "signup_date", Value: engine.String("2020-01-02T03:04:05Z")}, {Name: "enabled", Value: engine.Bool(true)}, {Name: "tier.id", Value: engine.Int(3)}, {Name: "tier.grace_period_days", Value: engine.Int(30)}, {Name: "tier.comments", Value: engine.Null()}}
	fields.Sort()
	var changes []engine.FieldChange
	for _, f := range fields {
		changes = append(changes, engine.FieldChange{Name: f.Name, After: f.Value})
	}
	id := "c/1 ç"
	return &engine.Change{
		Address: Name + "/" + id, Provider: Name, ID: id, Action: action, Fields: changes,
		Desired: &engine.Resource{Provider: Name, ID: id, Fields: fields, Params: engine.Fields{{Name: "status_reason", Value: engine.String("why")}}},
		IDs:     engine.Fields{{Name: "PublicId", Value: engine.String("p-1")}},
	}
}
