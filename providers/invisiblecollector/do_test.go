package invisiblecollector

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

const secretToken = "s3cr3t-token"

// vectorsDir holds the SDK fixtures: the CI clone has shared/ beside the
// repository.
const vectorsDir = "../../../shared/vectors/invisiblecollector/ruby-sdk-fixtures/customer"

// vector returns a fixture's body; a missing fixture fails the test.
func vector(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatalf("conformance vector missing (shared/ must sit beside the repository): %v", err)
	}
	return string(b)
}

func stubClient(t *testing.T, srv *stub.Server, timeout time.Duration) *Client {
	t.Helper()
	env := map[string]string{EnvToken: secretToken, EnvBaseURL: srv.URL}
	c, err := New(Options{Config: engine.ProviderConfig{Timeout: timeout}, Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// want is one expected request: method, escaped path and exact JSON body
// ("" for none).
type want struct{ method, path, body string }

func checkRequests(t *testing.T, got []stub.Request, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		for _, r := range got {
			t.Logf("got %s %s %s", r.Method, r.Path, r.Body)
		}
		t.Fatalf("%d requests, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		r := got[i]
		if r.Method != w.method || r.Path != w.path {
			t.Errorf("request %d = %s %s, want %s %s", i, r.Method, r.Path, w.method, w.path)
		}
		if a := r.Header.Get("Authorization"); a != "Bearer "+secretToken {
			t.Errorf("request %d: Authorization = %q", i, a)
		}
		if w.body == "" {
			if len(r.Body) != 0 {
				t.Errorf("request %d: body %s, want none", i, r.Body)
			}
			continue
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("request %d: Content-Type = %q", i, ct)
		}
		var gb, wb any
		if err := json.Unmarshal(r.Body, &gb); err != nil {
			t.Fatalf("request %d: body %s: %v", i, r.Body, err)
		}
		if err := json.Unmarshal([]byte(w.body), &wb); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wb, gb); diff != "" {
			t.Errorf("request %d: body (-want +got):\n%s", i, diff)
		}
	}
}

// checkErr checks err against want (stub.CheckErr), and that it shows no credential.
func checkErr(t *testing.T, err error, want *stub.WantErr) {
	t.Helper()
	stub.CheckErr(t, err, want, secretToken)
}

// john is the customer of the SDK fixtures, as a manifest would declare it.
var john = fields("name", "John Doe Inc.", "vat_number", "PT543219876", "address", "Invisible Avenue, 456", "zip_code", "1234-543",
	"city", "Lisbon", "country", "PT", "email", "potatoes@farm.com", "phone", "351557424678")

const johnJSON = `{"externalId":"100001","name":"John Doe Inc.","vatNumber":"PT543219876","address":"Invisible Avenue, 456",
	"zipCode":"1234-543","city":"Lisbon","country":"PT","email":"potatoes@farm.com","phone":"351557424678"}`

const gidJohn = "061d2feb-81c2-4694-a74a-13cecbe7d2ce"

func TestDo(t *testing.T) {
	create := change(engine.ActionCreate, "100001", john, nil, nil)
	update := change(engine.ActionUpdate, "100001", john, nil, fields("gid", gidJohn), "city")
	gidOutcome := engine.Outcome{Status: 200, IDs: fields("gid", gidJohn)}
	changedJohn := john.Clone().Set("city", engine.String("Porto"))
	changedJSON := strings.Replace(johnJSON, `"Lisbon"`, `"Porto"`, 1)
	tests := []struct {
		name    string
		ch      *engine.Change
		replies []stub.Reply
		want    []want
		out     engine.Outcome
		err     *stub.WantErr
	}{
		{name: "create is a PUT by id", ch: create,
			replies: []stub.Reply{{Body: vector(t, "update.json")}},
			want:    []want{{"PUT", "/customers/100001", johnJSON}}, out: gidOutcome},
		{name: "update by the state's gid", ch: update,
			replies: []stub.Reply{{Body: vector(t, "update.json")}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}}, out: gidOutcome},
		{name: "cleared and unmanaged fields", ch: change(engine.ActionUpdate, "7", fields("country", "ES", "name", "N", "locale", nil), nil, nil, "locale"),
			replies: []stub.Reply{{Body: `{"gid":"g7","externalId":"7","name":"N","country":"ES","locale":null}`}},
			want:    []want{{"PUT", "/customers/7", `{"externalId":"7","country":"ES","name":"N","locale":null}`}},
			out:     engine.Outcome{Status: 200, IDs: fields("gid", "g7")}},
		{name: "create falls back to POST on 404", ch: create,
			replies: []stub.Reply{{Status: 404, Body: vector(t, "not_found.json")}, {Body: vector(t, "post.json")}},
			want:    []want{{"PUT", "/customers/100001", johnJSON}, {"POST", "/customers", johnJSON}}, out: gidOutcome},
		{name: "update answered 404 makes no POST", ch: update,
			replies: []stub.Reply{{Status: 404, Body: vector(t, "not_found.json")}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}},
			err:     &stub.WantErr{Status: 404, Message: "Customer not found"}},
		// The fixture's customer has a mobile but no phone (a different
		// field): adopted, and updated by gid to set the phone.
		{name: "409, same customer: adopted", ch: create,
			replies: []stub.Reply{{Status: 404, Body: vector(t, "not_found.json")}, {Status: 409, Body: vector(t, "conflict.json")}, {Body: vector(t, "get.json")}, {Body: vector(t, "update.json")}},
			want:    []want{{"PUT", "/customers/100001", johnJSON}, {"POST", "/customers", johnJSON}, {"GET", "/customers/100001", ""}, {"PUT", "/customers/" + gidJohn, johnJSON}},
			out:     gidOutcome},
		{name: "409, same customer holding the same data: adopted, no update", ch: change(engine.ActionCreate, "100001", john.Clone().Delete("phone"), nil, nil),
			replies: []stub.Reply{{Status: 404, Body: vector(t, "not_found.json")}, {Status: 409, Body: vector(t, "conflict.json")}, {Body: vector(t, "get.json")}},
			want: []want{{"PUT", "/customers/100001", strings.Replace(johnJSON, `,"phone":"351557424678"`, "", 1)}, {"POST", "/customers", strings.Replace(johnJSON, `,"phone":"351557424678"`, "", 1)},
				{"GET", "/customers/100001", ""}},
			out: gidOutcome},
		{name: "409, same customer with other data: adopted and updated by gid", ch: change(engine.ActionCreate, "100001", changedJohn, nil, nil),
			replies: []stub.Reply{{Status: 404, Body: vector(t, "not_found.json")}, {Status: 409, Body: vector(t, "conflict.json")},
				{Body: vector(t, "get.json")}, {Body: vector(t, "update.json")}},
			want: []want{{"PUT", "/customers/100001", changedJSON}, {"POST", "/customers", changedJSON},
				{"GET", "/customers/100001", ""}, {"PUT", "/customers/" + gidJohn, changedJSON}},
			out: gidOutcome},
		{name: "409, another customer: fails naming the gid", ch: change(engine.ActionCreate, "555", john, nil, nil),
			replies: []stub.Reply{{Status: 404, Body: vector(t, "not_found.json")},
				{Status: 409, Body: `{"code":409,"gid":"` + gidJohn + `","message":"Customer already registered"}`},
				{Status: 404, Body: vector(t, "not_found.json")}},
			want: []want{{"PUT", "/customers/555", strings.Replace(johnJSON, "100001", "555", 1)}, {"POST", "/customers", strings.Replace(johnJSON, "100001", "555", 1)},
				{"GET", "/customers/555", ""}},
			err: &stub.WantErr{Status: 409, Message: "Customer already registered: the VAT number belongs to another customer, gid " + gidJohn}},
		{name: "401 is fatal", ch: update,
			replies: []stub.Reply{{Status: 401, Body: vector(t, "unauthorized.json")}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}},
			err:     &stub.WantErr{Status: 401, Message: "Credentials are required to access this resource", Fatal: true}},
		{name: "403 is fatal", ch: update,
			replies: []stub.Reply{{Status: 403, Body: `{"code":"403","message":"Forbidden"}`}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}},
			err:     &stub.WantErr{Status: 403, Message: "Forbidden", Fatal: true}},
		{name: "422", ch: update,
			replies: []stub.Reply{{Status: 422, Body: vector(t, "unprocessable.json")}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}},
			err:     &stub.WantErr{Status: 422, Message: "Unprocessable request"}},
		{name: "400 with a string code", ch: update,
			replies: []stub.Reply{{Status: 400, Body: `{"code":"400","message":"Invalid JSON"}`}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}},
			err:     &stub.WantErr{Status: 400, Message: "Invalid JSON"}},
		{name: "429 with an HTTP-date Retry-After", ch: update,
			replies: []stub.Reply{{Status: 429, Header: map[string]string{"Retry-After": time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)}, Body: `{}`}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}},
			err:     &stub.WantErr{Status: 429, Retryable: true, RetryAfter: -1}},
		{name: "503 on the POST fallback", ch: create,
			replies: []stub.Reply{{Status: 404, Body: vector(t, "not_found.json")}, {Status: 503, Body: "Service Unavailable"}},
			want:    []want{{"PUT", "/customers/100001", johnJSON}, {"POST", "/customers", johnJSON}},
			err:     &stub.WantErr{Status: 503, Message: "Service Unavailable", Retryable: true}},
		{name: "non-JSON 200", ch: update,
			replies: []stub.Reply{{Body: `<html>ok</html>`}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}},
			err:     &stub.WantErr{Status: 200, Message: "unreadable answer"}},
		{name: "a JSON array is not a customer", ch: update,
			replies: []stub.Reply{{Body: vector(t, "find.json")}},
			want:    []want{{"PUT", "/customers/" + gidJohn, johnJSON}},
			err:     &stub.WantErr{Status: 200, Message: "unreadable answer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stub.New(t, tt.replies...)
			c := stubClient(t, srv, 0)
			calls := c.Calls(tt.ch)
			if len(calls) != 1 {
				t.Fatalf("Calls = %v", calls)
			}
			got, err := c.Do(context.Background(), tt.ch, calls[0])
			if tt.err != nil && tt.err.RetryAfter < 0 {
				var ce *engine.CallError
				if errors.As(err, &ce) && ce.RetryAfter > 59*time.Minute && ce.RetryAfter <= time.Hour {
					tt.err.RetryAfter = ce.RetryAfter
				}
			}
			checkErr(t, err, tt.err)
			if diff := cmp.Diff(tt.out, got, cmpopts.IgnoreFields(engine.Outcome{}, "Held")); diff != "" {
				t.Errorf("Outcome (-want +got):\n%s", diff)
			}
			checkRequests(t, srv.Requests(), tt.want...)
		})
	}
}

func TestRead(t *testing.T) {
	res := &engine.Resource{Provider: Name, ID: "100001"}
	// The fixture carries mobile, not phone: they are different fields, and
	// phone is read from phone only.
	wantJohn := &engine.Observed{Fields: john.Clone().Delete("phone"), IDs: fields("gid", gidJohn)}
	t.Run("by id, mobile is not the phone", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: vector(t, "get.json")})
		got, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantJohn, got); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
		checkRequests(t, srv.Requests(), want{"GET", "/customers/100001", ""})
	})
	t.Run("by the state's gid, phone from phone, nulls", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: `{"gid":"g1","externalId":"100001","name":"N","phone":"123","mobile":"999","city":null,"zipCode":"","country":"PT","locale":"pt"}`})
		got, err := stubClient(t, srv, 0).Read(context.Background(), res, fields("gid", "g1"))
		if err != nil {
			t.Fatal(err)
		}
		wantObs := &engine.Observed{Fields: fields("name", "N", "phone", "123", "city", nil, "zip_code", nil, "country", "PT", "locale", "pt"), IDs: fields("gid", "g1")}
		if diff := cmp.Diff(wantObs, got); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
		checkRequests(t, srv.Requests(), want{"GET", "/customers/g1", ""})
	})
	t.Run("not found", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Status: 404, Body: vector(t, "not_found.json")})
		_, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		if !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Status: 401, Body: vector(t, "unauthorized.json")})
		_, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		checkErr(t, err, &stub.WantErr{Status: 401, Message: "Credentials are required", Fatal: true})
	})
}
