package stub

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// Fields builds sorted engine.Fields from name, value pairs; a value is
// nil (cleared), a string, a bool, an int or an engine.Value.
func Fields(kv ...any) engine.Fields {
	var fs engine.Fields
	for i := 0; i < len(kv); i += 2 {
		var v engine.Value
		switch x := kv[i+1].(type) {
		case nil:
			v = engine.Null()
		case string:
			v = engine.String(x)
		case bool:
			v = engine.Bool(x)
		case int:
			v = engine.Int(int64(x))
		case engine.Value:
			v = x
		}
		fs = fs.Set(kv[i].(string), v)
	}
	return fs
}

// Change builds a change of provider's customer id. Its changing fields
// are the changed names, or, for a create with none named, every desired
// field.
func Change(provider string, action engine.Action, id string, desired, params, ids engine.Fields, changed ...string) *engine.Change {
	ch := &engine.Change{Address: provider + "/" + id, Provider: provider, ID: id, Action: action, IDs: ids,
		Desired: &engine.Resource{Provider: provider, ID: id, Fields: desired, Params: params}}
	if action == engine.ActionCreate && changed == nil {
		for _, f := range desired {
			changed = append(changed, f.Name)
		}
	}
	for _, n := range changed {
		v, _ := desired.Get(n)
		ch.Fields = append(ch.Fields, engine.FieldChange{Name: n, After: v})
	}
	return ch
}

// WantErr describes the *engine.CallError a call should fail with.
type WantErr struct {
	Status     int
	Message    string // a substring of the error's message
	Retryable  bool
	Fatal      bool
	RetryAfter time.Duration
}

// CheckErr fails t unless err is nil and want is nil, or err is the
// *engine.CallError want describes; and whenever err shows one of secrets.
func CheckErr(t *testing.T, err error, want *WantErr, secrets ...string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("error = %v, want none", err)
		}
		return
	}
	var ce *engine.CallError
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v (%T), want a *engine.CallError", err, err)
	}
	if ce.Status != want.Status || ce.Retryable != want.Retryable || ce.Fatal != want.Fatal || ce.RetryAfter != want.RetryAfter ||
		!strings.Contains(ce.Message, want.Message) {
		t.Errorf("error = %+v, want %+v", ce, want)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error leaks a credential: %v", err)
		}
	}
}
