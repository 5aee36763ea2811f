package invisiblecollector

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
		Seeds:    [][]byte{[]byte(`{"code":"409","message":"Customer already registered","gid":"g-1","externalId":"c/1 ç","name":"Maria","mobile":"+351"}`)},
	})
}

const fuzzToken = "fuzz-token-ic"

func fuzzClient(srv *httptest.Server) (*Client, error) {
	env := map[string]string{EnvToken: fuzzToken, EnvBaseURL: srv.URL}
	return New(Options{Config: engine.ProviderConfig{Timeout: 5 * time.Second}, Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()})
}

// fuzzChange returns a create (what % 4 == 0), an update (1) or a create
// (2) of one customer managing every field; 3 asks for a Read of it.
func fuzzChange(what uint8) *engine.Change {
	action := engine.ActionCreate
	switch what % 4 {
	case 1:
		action = engine.ActionUpdate
	case 2:
		action = engine.ActionCreate
	}
	fields := engine.Fields{{Name: "name", Value: engine.String("Maria")}, {Name: "email", Value: engine.String("m@example.com")}, {Name: "phone", Value: engine.Null()}, {Name: "vat_number", Value: engine.String("123")}, {Name: "country", Value: engine.String("PT")}, {Name: "address", Value: engine.String("Rua")}, {Name: "zip_code", Value: engine.String("1000")}, {Name: "city", Value: engine.String("Lisboa")}, {Name: "locale", Value: engine.String("pt")}}
	fields.Sort()
	var changes []engine.FieldChange
	for _, f := range fields {
		changes = append(changes, engine.FieldChange{Name: f.Name, After: f.Value})
	}
	id := "c/1 ç"
	return &engine.Change{
		Address: Name + "/" + id, Provider: Name, ID: id, Action: action, Fields: changes,
		Desired: &engine.Resource{Provider: Name, ID: id, Fields: fields, Params: engine.Fields{}},
		IDs:     engine.Fields{},
	}
}
