package tomticket

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

const secretToken = "s3cr3t-token"

func stubClient(t *testing.T, srv *stub.Server, timeout time.Duration) *Client {
	t.Helper()
	env := map[string]string{EnvToken: secretToken, EnvBaseURL: srv.URL + "/v2.0"}
	c, err := New(Options{Config: engine.ProviderConfig{Timeout: timeout}, Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// parseForm reads a multipart/form-data body in order.
func parseForm(t *testing.T, r stub.Request) []FormField {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type = %q, want multipart/form-data", r.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(r.Body), params["boundary"])
	var form []FormField
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return form
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.FileName() != "" {
			t.Errorf("part %q is a file", p.FormName())
		}
		v, _ := io.ReadAll(p)
		form = append(form, FormField{p.FormName(), string(v)})
	}
}

// want is one expected request: method, path, query and form (nil: no body).
type want struct {
	method, path, query string
	form                []FormField
}

func checkRequests(t *testing.T, got []stub.Request, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("%d requests, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		r := got[i]
		if r.Method != w.method || r.Path != w.path || r.RawQuery != w.query {
			t.Errorf("request %d = %s %s?%s, want %s %s?%s", i, r.Method, r.Path, r.RawQuery, w.method, w.path, w.query)
		}
		if a := r.Header.Get("Authorization"); a != "Bearer "+secretToken {
			t.Errorf("request %d: Authorization = %q", i, a)
		}
		if w.form == nil {
			if len(r.Body) != 0 {
				t.Errorf("request %d: body %s, want none", i, r.Body)
			}
			continue
		}
		if diff := cmp.Diff(w.form, parseForm(t, r)); diff != "" {
			t.Errorf("request %d: form (-want +got):\n%s", i, diff)
		}
	}
}

// checkErr checks err against want (stub.CheckErr), and that it shows no credential.
func checkErr(t *testing.T, err error, want *stub.WantErr) {
	t.Helper()
	stub.CheckErr(t, err, want, secretToken)
}

const okBody = `{"error":false,"message":"Cliente atualizado com sucesso","success":true}`

func TestDo(t *testing.T) {
	all := fields("name", "João", "email", "j@example.com", "phone", nil, "create_tickets", true,
		"organization_id", "org1", "language", "pt-BR", "custom_fields.cf_plan", "premium")
	createForm := []FormField{{"customer_id", "1002"}, {"customer_type_id", "I"}, {"create_tickets", "1"}, {"custom_field[cf_plan]", "premium"},
		{"email", "j@example.com"}, {"language", "pt-BR"}, {"name", "João"}, {"organization_id", "org1"}, {"phone", ""}}
	newForm := []FormField{{"customer_id", "1002"}, {"create_tickets", "1"}, {"custom_field[cf_plan]", "premium"},
		{"email", "j@example.com"}, {"language", "pt-BR"}, {"name", "João"}, {"organization_id", "org1"}}
	create := change(engine.ActionCreate, "1002", all, nil, nil)
	update := change(engine.ActionUpdate, "1002", all, nil, nil, "phone", "create_tickets")
	updateForm := []FormField{{"customer_id", "1002"}, {"customer_type_id", "I"}, {"phone", ""}, {"create_tickets", "1"}}
	internal := engine.Outcome{Status: 200, IDs: fields("id_type", "internal")}
	byMail := fields("name", "Ana", "email", "ana@example.com", "internal_id", "A-1")
	tests := []struct {
		name    string
		ch      *engine.Change
		replies []stub.Reply
		want    []want
		out     engine.Outcome
		err     *stub.WantErr
	}{
		{name: "update sends only the changed fields", ch: update, replies: []stub.Reply{{Body: okBody}},
			want: []want{{"POST", "/v2.0/customer/update", "", updateForm}}, out: internal},
		{name: "create sends every field", ch: create, replies: []stub.Reply{{Body: okBody}},
			want: []want{{"POST", "/v2.0/customer/update", "", createForm}}, out: internal},
		{name: "create falls back to customer/new on 404", ch: create,
			replies: []stub.Reply{{Status: 404, Body: `{"error":true,"message":"Cliente não encontrado"}`}, {Body: `{"error":false,"message":"Cliente cadastrado","success":true}`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", createForm}, {"POST", "/v2.0/customer/new", "", newForm}}, out: internal},
		{name: "create by e-mail sets internal_id after customer/new", ch: change(engine.ActionCreate, "ana@example.com", byMail, fields("id_type", "email"), nil),
			replies: []stub.Reply{{Status: 404, Body: `{"error":true,"message":"Cliente não encontrado"}`}, {Body: okBody}, {Body: okBody}},
			want: []want{
				{"POST", "/v2.0/customer/update", "", []FormField{{"customer_id", "ana@example.com"}, {"customer_type_id", "E"}, {"email", "ana@example.com"}, {"internal_id", "A-1"}, {"name", "Ana"}}},
				{"POST", "/v2.0/customer/new", "", []FormField{{"customer_id", "ana@example.com"}, {"email", "ana@example.com"}, {"name", "Ana"}}},
				{"POST", "/v2.0/customer/update", "", []FormField{{"customer_id", "ana@example.com"}, {"customer_type_id", "E"}, {"internal_id", "A-1"}}}},
			out: engine.Outcome{Status: 200, IDs: fields("id_type", "email")}},
		{name: "update answered 404 makes no customer/new", ch: update,
			replies: []stub.Reply{{Status: 404, Body: `{"error":true,"message":"Cliente não encontrado"}`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
			err:     &stub.WantErr{Status: 404, Message: "Cliente não encontrado"}},
		{name: "error true in a 200 is a failure", ch: update,
			replies: []stub.Reply{{Body: `{"error":true,"message":"O campo phone excede 20 caracteres"}`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
			err:     &stub.WantErr{Status: 200, Message: "excede 20 caracteres"}},
		{name: "error as a string", ch: update,
			replies: []stub.Reply{{Body: `{"error":"1","message":"falhou"}`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
			err:     &stub.WantErr{Status: 200, Message: "falhou"}},
		{name: "customer/new refused", ch: create,
			replies: []stub.Reply{{Status: 404, Body: `{"error":true,"message":"Cliente não encontrado"}`}, {Body: `{"error":true,"message":"Cliente já cadastrado"}`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", createForm}, {"POST", "/v2.0/customer/new", "", newForm}},
			err:     &stub.WantErr{Status: 200, Message: "Cliente já cadastrado"}},
		{name: "429 is retryable", ch: update,
			replies: []stub.Reply{{Status: 429, Body: `{"error":true,"message":"Too Many Requests"}`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
			err:     &stub.WantErr{Status: 429, Message: "Too Many Requests", Retryable: true}},
		{name: "429 with Retry-After", ch: update,
			replies: []stub.Reply{{Status: 429, Header: map[string]string{"Retry-After": "2"}, Body: ``}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
			err:     &stub.WantErr{Status: 429, Retryable: true, RetryAfter: 2 * time.Second}},
		{name: "401 is fatal", ch: update,
			replies: []stub.Reply{{Status: 401, Body: `{"error":true,"message":"Token inválido"}`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
			err:     &stub.WantErr{Status: 401, Message: "Token inválido", Fatal: true}},
		{name: "403 is fatal", ch: update,
			replies: []stub.Reply{{Status: 403, Body: `{"error":true,"message":"Recurso não disponível"}`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
			err:     &stub.WantErr{Status: 403, Message: "Recurso não disponível", Fatal: true}},
		{name: "500 is retryable", ch: update,
			replies: []stub.Reply{{Status: 500, Body: `oops`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
			err:     &stub.WantErr{Status: 500, Message: "oops", Retryable: true}},
		{name: "malformed JSON", ch: update,
			replies: []stub.Reply{{Body: `{"error":false,`}},
			want:    []want{{"POST", "/v2.0/customer/update", "", updateForm}},
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
			checkErr(t, err, tt.err)
			if diff := cmp.Diff(tt.out, got); diff != "" {
				t.Errorf("Outcome (-want +got):\n%s", diff)
			}
			checkRequests(t, srv.Requests(), tt.want...)
		})
	}
}

func TestRead(t *testing.T) {
	res := &engine.Resource{Provider: Name, ID: "1002"}
	t.Run("lenient types", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: `{"error":false,"message":"","data":{"id":"abc","name":"João","email":"j@example.com",
			"phone":"","internal_id":1002,"language":"pt-BR","create_tickets":"1","organization_id":77,"active":"true"}}`})
		got, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantObs := &engine.Observed{
			Fields: fields("name", "João", "email", "j@example.com", "phone", nil, "internal_id", "1002", "language", "pt-BR",
				"create_tickets", true, "organization_id", "77"),
			IDs: fields("id_type", "internal"),
		}
		if diff := cmp.Diff(wantObs, got); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
		checkRequests(t, srv.Requests(), want{"GET", "/v2.0/customer/details", "customer_id=1002&customer_type_id=I", nil})
	})
	for _, ct := range []struct {
		raw  string
		want any
	}{{`true`, true}, {`0`, false}, {`"false"`, false}, {`1`, true}, {`null`, nil}} {
		t.Run("create_tickets "+ct.raw, func(t *testing.T) {
			srv := stub.New(t, stub.Reply{Body: `{"error":false,"data":{"create_tickets":` + ct.raw + `}}`})
			got, err := stubClient(t, srv, 0).Read(context.Background(), res, fields("id_type", "email"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fields("create_tickets", ct.want), got.Fields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			checkRequests(t, srv.Requests(), want{"GET", "/v2.0/customer/details", "customer_id=1002&customer_type_id=E", nil})
		})
	}
	t.Run("not found", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Status: 404, Body: `{"error":true,"message":"Cliente não encontrado"}`})
		_, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		if !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	})
	t.Run("error in a 200", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: `{"error":true,"message":"Falha"}`})
		_, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		checkErr(t, err, &stub.WantErr{Status: 200, Message: "Falha"})
	})
	t.Run("no data", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: `{"error":false,"data":null}`})
		_, err := stubClient(t, srv, 0).Read(context.Background(), res, nil)
		checkErr(t, err, &stub.WantErr{Status: 200, Message: "no customer data"})
	})
}
