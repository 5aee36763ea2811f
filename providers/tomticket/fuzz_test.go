package tomticket

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
		Seeds:    [][]byte{[]byte(`{"error":"false","message":"ok","data":{"name":"A","email":1,"create_tickets":"sim","active":"1","language":null}}`)},
	})
}

const fuzzToken = "fuzz-token-tt"

func fuzzClient(srv *httptest.Server) (*Client, error) {
	env := map[string]string{EnvToken: fuzzToken, EnvBaseURL: srv.URL + "/v2.0"}
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
	fields := engine.Fields{{Name: "name", Value: engine.String("Maria")}, {Name: "email", Value: engine.String("m@example.com")}, {Name: "phone", Value: engine.Null()}, {Name: "internal_id", Value: engine.String("i-1")}, {Name: "language", Value: engine.String("pt-BR")}, {Name: "create_tickets", Value: engine.Bool(true)}, {Name: "organization_id", Value: engine.String("o")}, {Name: "custom_fields.cf_x", Value: engine.String("x")}}
	fields.Sort()
	var changes []engine.FieldChange
	for _, f := range fields {
		changes = append(changes, engine.FieldChange{Name: f.Name, After: f.Value})
	}
	id := "c/1 ç"
	return &engine.Change{
		Address: Name + "/" + id, Provider: Name, ID: id, Action: action, Fields: changes,
		Desired: &engine.Resource{Provider: Name, ID: id, Fields: fields, Params: engine.Fields{{Name: "id_type", Value: engine.String("email")}}},
		IDs:     engine.Fields{{Name: "id_type", Value: engine.String("email")}},
	}
}
