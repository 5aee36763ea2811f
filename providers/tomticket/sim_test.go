package tomticket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

func simClient(t *testing.T, sim *Sim, token string) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/tomticket/v2.0/", http.StripPrefix("/tomticket/v2.0", sim))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	env := map[string]string{EnvToken: token, EnvBaseURL: srv.URL + "/tomticket/v2.0"}
	c, err := New(Options{Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func do(t *testing.T, c *Client, ch *engine.Change) (engine.Outcome, error) {
	t.Helper()
	calls := c.Calls(ch)
	if len(calls) != 1 {
		t.Fatalf("Calls = %v", calls)
	}
	return c.Do(context.Background(), ch, calls[0])
}

func TestClientAgainstSim(t *testing.T) {
	sim := NewSim(SimOptions{RateLimit: -1})
	c := simClient(t, sim, SandboxToken)
	ctx := context.Background()
	res := &engine.Resource{Provider: Name, ID: "1002"}
	if _, err := c.Read(ctx, res, nil); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("Read before create = %v", err)
	}
	all := fields("name", "João", "email", "j@example.com", "phone", "+55 11 5555-0000", "create_tickets", false,
		"organization_id", "org1", "language", "en-US", "custom_fields.cf_plan", "premium")
	if _, err := do(t, c, change(engine.ActionCreate, "1002", all, nil, nil)); err != nil {
		t.Fatal(err)
	}
	obs, err := c.Read(ctx, res, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := fields("name", "João", "email", "j@example.com", "phone", "+55 11 5555-0000", "create_tickets", false,
		"organization_id", "org1", "language", "en-US", "internal_id", "1002", "portfolio_id", nil)
	if diff := cmp.Diff(want, obs.Fields); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	if got, _ := sim.Customer("1002"); got.CustomFields["cf_plan"] != "premium" {
		t.Errorf("custom field: %+v", got)
	}
	// An update clears the phone and leaves the rest alone.
	upd := all.Clone().Set("phone", engine.Null())
	if _, err := do(t, c, change(engine.ActionUpdate, "1002", upd, nil, nil, "phone")); err != nil {
		t.Fatal(err)
	}
	if got, _ := sim.Customer("1002"); got.Phone != "" || got.Name != "João" || got.Language != "en-US" {
		t.Errorf("after update: %+v", got)
	}
	// A create of an existing customer is an update.
	if _, err := do(t, c, change(engine.ActionCreate, "1002", fields("name", "Jo"), nil, nil)); err != nil {
		t.Fatal(err)
	}
	// By e-mail, with an internal id set after customer/new.
	byMail := fields("name", "Ana", "email", "ana@example.com", "internal_id", "A-1")
	out, err := do(t, c, change(engine.ActionCreate, "ana@example.com", byMail, fields("id_type", "email"), nil))
	if err != nil {
		t.Fatal(err)
	}
	obs, err = c.Read(ctx, &engine.Resource{Provider: Name, ID: "ana@example.com"}, out.IDs)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := obs.Fields.Get("internal_id"); v != engine.String("A-1") {
		t.Errorf("internal_id = %v", v)
	}
	// Validation failures come as error: true in a 200.
	_, err = do(t, c, change(engine.ActionUpdate, "1002", fields("phone", strings.Repeat("9", 21)), nil, nil, "phone"))
	checkErr(t, err, &stub.WantErr{Status: 200, Message: "excede o tamanho máximo de 20"})
	_, err = do(t, c, change(engine.ActionUpdate, "1002", fields("language", "fr"), nil, nil, "language"))
	checkErr(t, err, &stub.WantErr{Status: 200, Message: "Idioma inválido"})
	// An update of a missing customer.
	_, err = do(t, c, change(engine.ActionUpdate, "404", fields("name", "N"), nil, nil, "name"))
	checkErr(t, err, &stub.WantErr{Status: 404, Message: "Cliente não encontrado"})
	// A create that customer/new refuses.
	_, err = do(t, c, change(engine.ActionCreate, "x@example.com", fields("name", "X", "email", "j@example.com"), nil, nil))
	checkErr(t, err, &stub.WantErr{Status: 200, Message: "já está em uso"})
	// Wrong token.
	_, err = do(t, simClient(t, sim, "nope"), change(engine.ActionUpdate, "1002", all, nil, nil, "name"))
	checkErr(t, err, &stub.WantErr{Status: 401, Message: "Token inválido", Fatal: true})
}

func TestClientAgainstSimRateLimit(t *testing.T) {
	// A stopped clock: every request falls in the same second.
	stopped := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	sim := NewSim(SimOptions{Now: func() time.Time { return stopped }})
	c := simClient(t, sim, SandboxToken)
	var got []int
	for range 5 {
		_, err := c.Read(context.Background(), &engine.Resource{Provider: Name, ID: "1"}, nil)
		var ce *engine.CallError
		switch {
		case errors.Is(err, engine.ErrNotFound):
			got = append(got, 404)
		case errors.As(err, &ce) && ce.Retryable:
			got = append(got, ce.Status)
		default:
			t.Fatalf("Read = %v", err)
		}
	}
	// Five requests within a second: three are admitted, the rest get a
	// retryable 429.
	if want := []int{404, 404, 404, 429, 429}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

// request builds a request straight to the sim.
func request(t *testing.T, method, path string, form map[string]string) *http.Request {
	t.Helper()
	var body bytes.Buffer
	req := httptest.NewRequest(method, path, nil)
	if form != nil {
		mw := multipart.NewWriter(&body)
		keys := make([]string, 0, len(form))
		for k := range form {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			mw.WriteField(k, form[k])
		}
		mw.Close()
		req = httptest.NewRequest(method, path, &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
	}
	req.Header.Set("Authorization", "Bearer "+SandboxToken)
	return req
}

func serve(sim *Sim, req *http.Request) (int, map[string]any) {
	rec := httptest.NewRecorder()
	sim.ServeHTTP(rec, req)
	var m map[string]any
	json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

func TestSimRateLimitSlidingWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := NewSim(SimOptions{})
		hit := func() int {
			code, _ := serve(sim, request(t, "GET", "/customer/list", nil))
			return code
		}
		var got []int
		for range 3 {
			got = append(got, hit())
			time.Sleep(300 * time.Millisecond)
		}
		// t=900ms: the window (t-1s, t] holds 3 admitted requests.
		got = append(got, hit())
		time.Sleep(99 * time.Millisecond) // t=999ms: still 3
		got = append(got, hit())
		time.Sleep(time.Millisecond) // t=1s: the first left the window
		got = append(got, hit())
		got = append(got, hit()) // 3 again (300, 600, 1000)
		if want := []int{200, 200, 200, 429, 429, 200, 429}; !slices.Equal(got, want) {
			t.Errorf("statuses = %v, want %v", got, want)
		}
		// Rejected requests do not count: after a second of 429s, three
		// requests get through again.
		time.Sleep(time.Second)
		got = got[:0]
		for range 4 {
			got = append(got, hit())
		}
		if want := []int{200, 200, 200, 429}; !slices.Equal(got, want) {
			t.Errorf("after a pause: %v, want %v", got, want)
		}
		reqs := sim.Requests()
		if len(reqs) != 11 || !reqs[0].Time.Equal(reqs[1].Time.Add(-300*time.Millisecond)) || reqs[3].Status != 429 {
			t.Errorf("log = %+v", reqs)
		}
	})
}

// TestSimShapes checks the simulator's answers against the documented
// shapes (seed 004 and SPEC 1), not only through the client.
func TestSimShapes(t *testing.T) {
	sim := NewSim(SimOptions{RateLimit: -1})
	code, m := serve(sim, request(t, "POST", "/customer/new", map[string]string{"customer_id": "1", "name": "A", "email": "a@example.com"}))
	if code != 200 || m["error"] != false || m["success"] != true {
		t.Fatalf("new: %d %v", code, m)
	}
	code, m = serve(sim, request(t, "POST", "/customer/update", map[string]string{"customer_id": "1", "customer_type_id": "I", "phone": "123"}))
	if diff := cmp.Diff(map[string]any{"error": false, "message": "Cliente atualizado com sucesso", "success": true}, m); code != 200 || diff != "" {
		t.Errorf("update: %d (-want +got):\n%s", code, diff)
	}
	code, m = serve(sim, request(t, "GET", "/customer/details?customer_id=a@example.com&customer_type_id=E", nil))
	if code != 200 || m["error"] != false {
		t.Fatalf("details: %d %v", code, m)
	}
	data := m["data"].(map[string]any)
	for _, k := range []string{"name", "email", "phone", "internal_id", "language", "create_tickets", "organization_id", "active"} {
		if _, ok := data[k]; !ok {
			t.Errorf("details data lacks %q: %v", k, data)
		}
	}
	if data["phone"] != "123" || data["internal_id"] != "1" || data["create_tickets"] != "1" || data["language"] != "pt-BR" {
		t.Errorf("details data = %v", data)
	}
	code, m = serve(sim, request(t, "GET", "/customer/list?page=1", nil))
	if code != 200 || len(m["data"].([]any)) != 1 {
		t.Errorf("list: %d %v", code, m)
	}
	for _, tt := range []struct {
		name   string
		req    *http.Request
		status int
		msg    string
	}{
		{"no token", func() *http.Request {
			r := request(t, "GET", "/customer/list", nil)
			r.Header.Del("Authorization")
			return r
		}(), 401, "Token"},
		{"unknown path", request(t, "GET", "/ticket/list", nil), 404, "Recurso"},
		{"wrong method", request(t, "GET", "/customer/update", nil), 405, "Método"},
		{"not multipart", func() *http.Request {
			r := httptest.NewRequest("POST", "/customer/update", strings.NewReader("customer_id=1"))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", "Bearer "+SandboxToken)
			return r
		}(), 400, "multipart"},
		{"update unknown", request(t, "POST", "/customer/update", map[string]string{"customer_id": "9"}), 404, "Cliente não encontrado"},
		{"update no id", request(t, "POST", "/customer/update", map[string]string{"name": "x"}), 200, "customer_id"},
		{"bad type", request(t, "POST", "/customer/update", map[string]string{"customer_id": "1", "customer_type_id": "X"}), 200, "customer_type_id"},
		{"internal_id with I", request(t, "POST", "/customer/update", map[string]string{"customer_id": "1", "internal_id": "2"}), 200, "internal_id"},
		{"unknown field", request(t, "POST", "/customer/update", map[string]string{"customer_id": "1", "nickname": "x"}), 200, "desconhecido"},
		{"create_tickets 2", request(t, "POST", "/customer/update", map[string]string{"customer_id": "1", "create_tickets": "2"}), 200, "create_tickets"},
		{"org too long", request(t, "POST", "/customer/update", map[string]string{"customer_id": "1", "organization_id": strings.Repeat("o", 513)}), 200, "512"},
		{"name emptied", request(t, "POST", "/customer/update", map[string]string{"customer_id": "1", "name": ""}), 200, "name"},
		{"new without name", request(t, "POST", "/customer/new", map[string]string{"customer_id": "2"}), 200, "name"},
		{"new without id", request(t, "POST", "/customer/new", map[string]string{"name": "B"}), 200, "customer_id"},
		{"new with type", request(t, "POST", "/customer/new", map[string]string{"customer_id": "2", "name": "B", "customer_type_id": "I"}), 200, "customer_type_id"},
		{"new with internal_id", request(t, "POST", "/customer/new", map[string]string{"customer_id": "2", "name": "B", "internal_id": "x"}), 200, "internal_id"},
		{"new existing", request(t, "POST", "/customer/new", map[string]string{"customer_id": "1", "name": "B"}), 200, "já cadastrado"},
		{"details unknown", request(t, "GET", "/customer/details?customer_id=9&customer_type_id=I", nil), 404, "Cliente não encontrado"},
	} {
		code, m := serve(sim, tt.req)
		msg, _ := m["message"].(string)
		if code != tt.status || m["error"] != true || !strings.Contains(msg, tt.msg) {
			t.Errorf("%s: %d %v, want %d with error true and %q", tt.name, code, m, tt.status, tt.msg)
		}
	}
	// The failed requests changed nothing.
	if c, _ := sim.Customer("1"); c.Name != "A" || !c.CreateTickets || c.OrganizationID != "" {
		t.Errorf("customer after refused updates: %+v", c)
	}
}

func TestSimEditAndSnapshot(t *testing.T) {
	sim := NewSim(SimOptions{RateLimit: -1})
	if err := sim.Edit("7", true, func(c *Customer) { c.Name = "Edited"; c.CustomFields = map[string]string{"a": "b"} }); err != nil {
		t.Fatal(err)
	}
	if err := sim.Edit("8", false, func(*Customer) {}); err == nil {
		t.Error("Edit of a missing customer succeeded")
	}
	data, _ := json.Marshal(sim.Snapshot())
	var snap Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		t.Fatal(err)
	}
	other := NewSim(SimOptions{RateLimit: -1})
	other.Restore(snap)
	if diff := cmp.Diff(sim.Snapshot(), other.Snapshot()); diff != "" {
		t.Errorf("restored (-want +got):\n%s", diff)
	}
	obs, err := simClient(t, other, SandboxToken).Read(context.Background(), &engine.Resource{Provider: Name, ID: "7"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := obs.Fields.Get("name"); v != engine.String("Edited") {
		t.Errorf("name = %v", v)
	}
}
