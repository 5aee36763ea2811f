package tomticket

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

const notFoundBody = `{"error":true,"message":"Cliente não encontrado"}`

// The update form for every field state: a managed field its value, a
// cleared one empty, an unmanaged one (named by the call but not desired)
// absent — an empty value would clear data the user never mentioned.
func TestUpdateFormForManagedClearedAndUnmanagedFields(t *testing.T) {
	desired := fields("name", "N", "phone", nil, "create_tickets", true, "custom_fields.cf_a", nil)
	got := UpdateForm("7", "I", desired, []string{"name", "email", "phone", "create_tickets", "language", "custom_fields.cf_a", "custom_fields.cf_b"})
	wantForm := []FormField{{"customer_id", "7"}, {"customer_type_id", "I"}, {"name", "N"}, {"phone", ""}, {"create_tickets", "1"}, {"custom_field[cf_a]", ""}}
	if diff := cmp.Diff(wantForm, got); diff != "" {
		t.Errorf("form (-want +got):\n%s", diff)
	}
	// On the wire, through Do.
	srv := stub.New(t, stub.Reply{Body: okBody})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "7", desired, nil, nil, "phone")
	call := c.Calls(ch)[0]
	call.Fields = append(call.Fields, "email") // named, not desired
	if _, err := c.Do(context.Background(), ch, call); err != nil {
		t.Fatal(err)
	}
	checkRequests(t, srv.Requests(), want{"POST", "/v2.0/customer/update", "", []FormField{{"customer_id", "7"}, {"customer_type_id", "I"}, {"phone", ""}}})
}

// id_type: the manifest's wins over the state's; internal is I, email is
// E; anything else (or nothing) is I.
func TestIdTypeInternalVersusEmail(t *testing.T) {
	tests := []struct {
		params, ids engine.Fields
		want        string
	}{
		{fields("id_type", "internal"), fields("id_type", "email"), "I"},
		{fields("id_type", "email"), fields("id_type", "internal"), "E"},
		{fields("id_type", nil), fields("id_type", "email"), "E"},
		{nil, fields("id_type", "internal"), "I"},
		{fields("id_type", "other"), nil, "I"},
		{nil, nil, "I"},
	}
	for _, tt := range tests {
		if got := idType(tt.params, tt.ids); got != tt.want {
			t.Errorf("idType(%v, %v) = %q, want %q", tt.params, tt.ids, got, tt.want)
		}
	}
	for _, typ := range []struct{ param, wire, out string }{{"internal", "I", "internal"}, {"email", "E", "email"}} {
		srv := stub.New(t, stub.Reply{Body: okBody}, stub.Reply{Body: `{"error":false,"data":{"name":"N"}}`})
		c := stubClient(t, srv, 0)
		ch := change(engine.ActionUpdate, "k", fields("name", "N"), fields("id_type", typ.param), fields("id_type", "email"), "name")
		out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(engine.Outcome{Status: 200, IDs: fields("id_type", typ.out)}, out); diff != "" {
			t.Errorf("%s: outcome (-want +got):\n%s", typ.param, diff)
		}
		obs, err := c.Read(context.Background(), ch.Desired, ch.IDs)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fields("id_type", typ.out), obs.IDs); diff != "" {
			t.Errorf("%s: read ids (-want +got):\n%s", typ.param, diff)
		}
		checkRequests(t, srv.Requests(),
			want{"POST", "/v2.0/customer/update", "", []FormField{{"customer_id", "k"}, {"customer_type_id", typ.wire}, {"name", "N"}}},
			want{"GET", "/v2.0/customer/details", "customer_id=k&customer_type_id=" + typ.wire, nil})
	}
}

// customer/new takes no internal_id: a customer identified by e-mail whose
// internal_id is managed gets it by a customer/update after; one identified
// by its internal id, or with no internal_id, gets none; a failed follow-up
// fails the create.
func TestInternalIDFollowUpAfterCustomerNew(t *testing.T) {
	type tc struct {
		name    string
		desired engine.Fields
		idType  string
		replies []stub.Reply
		want    []want
		err     *stub.WantErr
	}
	newOK := stub.Reply{Body: `{"error":false,"success":true}`}
	tests := []tc{
		{"by e-mail: follow-up", fields("name", "A", "internal_id", "X1"), "email", []stub.Reply{newOK, {Body: okBody}},
			[]want{{"POST", "/v2.0/customer/new", "", []FormField{{"customer_id", "a@x"}, {"name", "A"}, {"email", "a@x"}}},
				{"POST", "/v2.0/customer/update", "", []FormField{{"customer_id", "a@x"}, {"customer_type_id", "E"}, {"internal_id", "X1"}}}}, nil},
		{"by e-mail: follow-up fails", fields("name", "A", "internal_id", "X1"), "email", []stub.Reply{newOK, {Body: `{"error":true,"message":"internal_id em uso"}`}},
			[]want{{"POST", "/v2.0/customer/new", "", []FormField{{"customer_id", "a@x"}, {"name", "A"}, {"email", "a@x"}}},
				{"POST", "/v2.0/customer/update", "", []FormField{{"customer_id", "a@x"}, {"customer_type_id", "E"}, {"internal_id", "X1"}}}},
			&stub.WantErr{Status: 200, Message: "internal_id em uso"}},
		{"by e-mail: cleared internal_id, none", fields("name", "A", "internal_id", nil), "email", []stub.Reply{newOK},
			[]want{{"POST", "/v2.0/customer/new", "", []FormField{{"customer_id", "a@x"}, {"name", "A"}, {"email", "a@x"}}}}, nil},
		{"by e-mail: unmanaged internal_id, none", fields("name", "A"), "email", []stub.Reply{newOK},
			[]want{{"POST", "/v2.0/customer/new", "", []FormField{{"customer_id", "a@x"}, {"name", "A"}, {"email", "a@x"}}}}, nil},
		{"internal: none", fields("name", "A", "internal_id", "X1"), "internal", []stub.Reply{newOK},
			[]want{{"POST", "/v2.0/customer/new", "", []FormField{{"customer_id", "a@x"}, {"name", "A"}}}}, nil},
		{"customer/new fails: no follow-up", fields("name", "A", "internal_id", "X1"), "email", []stub.Reply{{Status: 400, Body: `{"error":true,"message":"inválido"}`}},
			[]want{{"POST", "/v2.0/customer/new", "", []FormField{{"customer_id", "a@x"}, {"name", "A"}, {"email", "a@x"}}}},
			&stub.WantErr{Status: 400, Message: "inválido"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stub.New(t, tt.replies...)
			c := stubClient(t, srv, 0)
			ch := change(engine.ActionCreate, "a@x", tt.desired, fields("id_type", tt.idType), nil)
			ch.Missing = true
			_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
			checkErr(t, err, tt.err)
			checkRequests(t, srv.Requests(), tt.want...)
		})
	}
}

// Creates learn which request to try first, as InvisibleCollector's do.
func TestDoCreatesLearnWhichRequestToTryFirst(t *testing.T) {
	exists := stub.Reply{Body: `{"error":true,"message":"Cliente já cadastrado"}`}
	srv := stub.New(t,
		stub.Reply{Status: 404, Body: notFoundBody}, stub.Reply{Body: okBody}, // a: update 404, new: new (1-0)
		stub.Reply{Body: okBody},         // b: new (2-0)
		exists, stub.Reply{Body: okBody}, // c: new exists, update: existed (2-1)
		exists, stub.Reply{Body: okBody}, // d: new exists, update: existed (2-2)
		stub.Reply{Body: okBody},                                              // e: update: existed (2-3)
		stub.Reply{Status: 404, Body: notFoundBody}, stub.Reply{Body: okBody}, // f: update 404, new: new (3-3)
		stub.Reply{Body: okBody}, // g: update
	)
	c := stubClient(t, srv, 0)
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		ch := change(engine.ActionCreate, id, fields("name", "N"), nil, nil)
		if _, err := c.Do(context.Background(), ch, c.Calls(ch)[0]); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	var got []string
	for _, r := range srv.Requests() {
		got = append(got, r.Path)
	}
	u, n := "/v2.0/customer/update", "/v2.0/customer/new"
	if diff := cmp.Diff([]string{u, n, n, n, u, n, u, u, u, n, u}, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// "Already exists" is customer/new's 2xx answer only: a non-2xx with the
// same words is a failure.
func TestAlreadyExistsOnlyInA2xx(t *testing.T) {
	srv := stub.New(t, stub.Reply{Status: 400, Body: `{"error":true,"message":"Cliente já cadastrado"}`})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionCreate, "z", fields("name", "N"), nil, nil)
	ch.Missing = true
	_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
	checkErr(t, err, &stub.WantErr{Status: 400, Message: "já cadastrado"})
	if n := len(srv.Requests()); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// The answers: success only when the body says so; a 1xx/3xx is never a
// success; an error without words is named.
func TestAnswersAcceptedOnlyWhenTheySayDone(t *testing.T) {
	tests := []struct {
		name  string
		reply stub.Reply
		err   *stub.WantErr
	}{
		{"success true", stub.Reply{Body: `{"success":true}`}, nil},
		{"error false", stub.Reply{Body: `{"error":"0"}`}, nil},
		{"empty object", stub.Reply{Body: `{}`}, &stub.WantErr{Status: 200, Message: "the answer does not say it was done: {}"}},
		{"success false", stub.Reply{Body: `{"success":false}`}, &stub.WantErr{Status: 200, Message: "does not say it was done"}},
		{"error true, no words", stub.Reply{Body: `{"error":true}`}, &stub.WantErr{Status: 200, Message: "the service reported an error"}},
		{"not an object", stub.Reply{Body: `[{"error":false}]`}, &stub.WantErr{Status: 200, Message: `unreadable answer: [{"error":false}]`}},
		{"3xx", stub.Reply{Status: 300, Body: okBody}, &stub.WantErr{Status: 300}},
		{"204 with words of success", stub.Reply{Status: 299, Body: okBody}, nil},
		{"400 with words", stub.Reply{Status: 400, Body: `{"error":true,"message":"Campo inválido"}`}, &stub.WantErr{Status: 400, Message: "Campo inválido"}},
		{"400 not JSON", stub.Reply{Status: 400, Body: `bad <b>`}, &stub.WantErr{Status: 400, Message: "bad <b>"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stub.New(t, tt.reply)
			c := stubClient(t, srv, 0)
			ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, nil, "name")
			out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
			checkErr(t, err, tt.err)
			if tt.err == nil && out.Status != tt.reply.Status && !(tt.reply.Status == 0 && out.Status == http.StatusOK) {
				t.Errorf("status %d", out.Status)
			}
		})
	}
}

// A 404 or a not-found message is "no such customer"; other failures are not.
func TestNotFoundReadFromStatusOrWords(t *testing.T) {
	res := &engine.Resource{Provider: Name, ID: "7"}
	for _, tt := range []struct {
		reply    stub.Reply
		notFound bool
	}{
		{stub.Reply{Status: 404, Body: `{}`}, true},
		{stub.Reply{Status: 400, Body: `{"error":true,"message":"Customer not found"}`}, true},
		{stub.Reply{Status: 400, Body: `{"error":false,"message":"Customer not found"}`}, false},
		{stub.Reply{Body: `{"error":true,"message":"Cliente inexistente"}`}, true},
		{stub.Reply{Body: `{"error":true,"message":"Falha"}`}, false},
	} {
		srv := stub.New(t, tt.reply)
		_, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		if got := errors.Is(err, engine.ErrNotFound); got != tt.notFound {
			t.Errorf("%+v: not found %v (%v), want %v", tt.reply, got, err, tt.notFound)
		}
	}
}

// Read's answer without customer data, or not an object, fails.
func TestReadWithoutCustomerDataFails(t *testing.T) {
	for _, body := range []string{`{"error":false}`, `{"error":false,"data":[1]}`, `{"error":false,"data":"x"}`} {
		srv := stub.New(t, stub.Reply{Body: body})
		_, err := stubClient(t, srv, 0).Read(context.Background(), &engine.Resource{Provider: Name, ID: "7"}, nil)
		checkErr(t, err, &stub.WantErr{Status: 200, Message: "no customer data"})
	}
}

func TestNewRefusesAnInvalidBaseURL(t *testing.T) {
	env := map[string]string{EnvBaseURL: "://no scheme"}
	if c, err := New(Options{Getenv: func(k string) string { return env[k] }}); err == nil {
		t.Errorf("New with an invalid base URL = %v", c)
	}
}

// Read observes only the fields the service reads back: the id type and
// custom fields in its answer are not fields.
func TestReadObservesOnlyReadableFields(t *testing.T) {
	srv := stub.New(t, stub.Reply{Body: `{"error":false,"data":{"name":"N","customer_type_id":"E","custom_field[cf_a]":"x","custom_fields":"y"}}`})
	got, err := stubClient(t, srv, 0).Read(context.Background(), &engine.Resource{Provider: Name, ID: "7"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fields("name", "N"), got.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}

// The service's words are matched in any case; a message that is an
// object or a list is no message.
func TestAnswerWordsInAnyCaseAndNonTextMessages(t *testing.T) {
	res := &engine.Resource{Provider: Name, ID: "7"}
	srv := stub.New(t, stub.Reply{Body: `{"error":true,"message":"CLIENTE NÃO ENCONTRADO"}`})
	if _, err := stubClient(t, srv, 0).Read(context.Background(), res, nil); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("upper-case not found: %v", err)
	}
	for _, msg := range []string{`{"pt":"falhou"}`, `["falhou"]`} {
		srv := stub.New(t, stub.Reply{Body: `{"error":true,"message":` + msg + `}`})
		_, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		checkErr(t, err, &stub.WantErr{Status: 200, Message: "the service reported an error"})
	}
	srv = stub.New(t, stub.Reply{Body: `{"error":true,"message":7}`})
	_, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
	checkErr(t, err, &stub.WantErr{Status: 200, Message: "7"})
}

// A 200 whose body is JSON null is unreadable, not merely unconfirmed.
func TestAnswerNullIsUnreadable(t *testing.T) {
	srv := stub.New(t, stub.Reply{Body: `null`})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, nil, "name")
	_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
	checkErr(t, err, &stub.WantErr{Status: 200, Message: "unreadable answer: null"})
}

// refusingGate admits no request, as apply's gate does once it is stopped.
type refusingGate struct{ admitted *int }

func (g refusingGate) Admit(context.Context) (func(), error) {
	*g.admitted++
	return nil, engine.ErrStopped
}

// A request whose admission failed (apply stopped, the context ended) is
// never sent, and the call fails with the admission's error.
func TestDoSendsNothingWhenAdmissionFails(t *testing.T) {
	srv := stub.New(t)
	c := stubClient(t, srv, 0)
	n := 0
	ctx := engine.WithGate(context.Background(), refusingGate{&n})
	ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, nil, "name")
	if _, err := c.Do(ctx, ch, c.Calls(ch)[0]); !errors.Is(err, engine.ErrStopped) {
		t.Errorf("Do = %v, want ErrStopped", err)
	}
	if _, err := c.Read(ctx, ch.Desired, nil); !errors.Is(err, engine.ErrStopped) {
		t.Errorf("Read = %v, want ErrStopped", err)
	}
	if n != 2 || len(srv.Requests()) != 0 {
		t.Errorf("%d admissions asked, %d requests sent; want 2, none", n, len(srv.Requests()))
	}
}
