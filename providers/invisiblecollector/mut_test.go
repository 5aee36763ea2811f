package invisiblecollector

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

func cust(id, gid string) string {
	return `{"gid":"` + gid + `","externalId":"` + id + `","name":"N"}`
}

// Creates learn which request to try first: after more creates of new
// customers than of existing ones the next create starts with the POST, and
// back with the PUT once existing customers are as many.
func TestDoCreatesLearnWhichRequestToTryFirst(t *testing.T) {
	d := fields("name", "N")
	notFound := stub.Reply{Status: 404, Body: `{"code":404,"message":"Customer not found"}`}
	conflict := stub.Reply{Status: 409, Body: `{"code":409,"message":"Customer already registered"}`}
	srv := stub.New(t,
		notFound, stub.Reply{Body: cust("a", "ga")}, // a: PUT 404, POST: new (1-0)
		stub.Reply{Body: cust("b", "gb")},           // b: POST: new (2-0)
		conflict, stub.Reply{Body: cust("c", "gc")}, // c: POST 409, GET: existed (2-1)
		conflict, stub.Reply{Body: cust("d", "gd")}, // d: POST 409, GET: existed (2-2)
		stub.Reply{Body: cust("e", "ge")},           // e: PUT: existed (2-3)
		notFound, stub.Reply{Body: cust("f", "gf")}, // f: PUT 404, POST: new (3-3)
		stub.Reply{Body: cust("g", "gg")}, // g: PUT
	)
	c := stubClient(t, srv, 0)
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		ch := change(engine.ActionCreate, id, d, nil, nil)
		out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if gid, _ := out.IDs.Get("gid"); gid.S != "g"+id {
			t.Errorf("%s: gid %v", id, gid)
		}
	}
	var got []string
	for _, r := range srv.Requests() {
		got = append(got, r.Method+" "+r.Path)
	}
	want := []string{"PUT /customers/a", "POST /customers", "POST /customers", "POST /customers", "GET /customers/c",
		"POST /customers", "GET /customers/d", "PUT /customers/e", "PUT /customers/f", "POST /customers", "PUT /customers/g"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// A create whose customer a read saw missing is a POST: a failure other
// than 409 fails it; a 409 is resolved by a read, never by a PUT.
func TestDoCreateOfAMissingCustomer(t *testing.T) {
	d := fields("name", "N")
	ch := change(engine.ActionCreate, "m", d, nil, nil)
	ch.Missing = true
	t.Run("503", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Status: 503, Body: `{"code":503,"message":"down"}`})
		c := stubClient(t, srv, 0)
		_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		checkErr(t, err, &stub.WantErr{Status: 503, Message: "down", Retryable: true})
		checkRequests(t, srv.Requests(), want{"POST", "/customers", `{"externalId":"m","name":"N"}`})
	})
	t.Run("409 adopted", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Status: 409, Body: `{"code":409,"message":"exists"}`}, stub.Reply{Body: cust("m", "gm")})
		c := stubClient(t, srv, 0)
		out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		if err != nil {
			t.Fatal(err)
		}
		if gid, _ := out.IDs.Get("gid"); gid.S != "gm" {
			t.Errorf("outcome %+v", out)
		}
		checkRequests(t, srv.Requests(), want{"POST", "/customers", `{"externalId":"m","name":"N"}`}, want{"GET", "/customers/m", ""})
	})
}

// A planned call of another method (a saved plan's) is made as the PUT by
// the customer's gid.
func TestDoCallOfAnotherMethodIsAPutByGid(t *testing.T) {
	srv := stub.New(t, stub.Reply{Body: cust("7", "g7")})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, fields("gid", "g7"), "name")
	if _, err := c.Do(context.Background(), ch, engine.Call{Method: "PATCH", Path: "/elsewhere", Op: OpUpdate}); err != nil {
		t.Fatal(err)
	}
	checkRequests(t, srv.Requests(), want{"PUT", "/customers/g7", `{"externalId":"7","name":"N"}`})
}

// The adoption after a 409 fails with the failure of its read or of its
// update, and names what holds the data when it is another customer.
func TestDoAdoptionFailures(t *testing.T) {
	d := fields("name", "N2")
	ch := change(engine.ActionCreate, "x", d, nil, nil)
	ch.Missing = true
	conflict := stub.Reply{Status: 409, Body: `{"code":409,"message":"Customer already registered"}`}
	tests := []struct {
		name    string
		replies []stub.Reply
		err     *stub.WantErr
	}{
		{"read fails", []stub.Reply{conflict, {Status: 500, Body: `{"code":500,"message":"boom"}`}},
			&stub.WantErr{Status: 500, Message: "boom", Retryable: true}},
		{"update fails", []stub.Reply{conflict, {Body: cust("x", "gx")}, {Status: 422, Body: `{"code":422,"message":"bad name"}`}},
			&stub.WantErr{Status: 422, Message: "bad name"}},
		{"another customer's externalId", []stub.Reply{conflict, {Body: cust("y", "gy")}},
			&stub.WantErr{Status: 409, Message: `Customer already registered: gid gy has externalId "y"`}},
		{"a conflict with no message", []stub.Reply{{Status: 409, Body: `{"code":409}`}, {Status: 404, Body: `{"code":404,"message":"nope"}`}},
			&stub.WantErr{Status: 409, Message: "customer already registered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stub.New(t, tt.replies...)
			c := stubClient(t, srv, 0)
			out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
			checkErr(t, err, tt.err)
			if len(out.IDs) != 0 {
				t.Errorf("outcome %+v on a failure", out)
			}
		})
	}
}

// A request that could not be sent is a failure, not an empty success.
func TestDoUnsentRequestFails(t *testing.T) {
	srv := stub.New(t)
	c := stubClient(t, srv, 0)
	srv.Close()
	ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, nil, "name")
	if out, err := c.Do(context.Background(), ch, c.Calls(ch)[0]); err == nil {
		t.Errorf("Do to a closed server = %+v, want an error", out)
	}
	if _, err := c.Read(context.Background(), &engine.Resource{Provider: Name, ID: "7"}, nil); err == nil {
		t.Errorf("Read from a closed server succeeded")
	}
}

// A 200 whose body is JSON null, or a JSON value that is not an object, is
// unreadable: nothing was confirmed.
func TestDoAnswerThatIsNotAnObjectFails(t *testing.T) {
	for _, body := range []string{`null`, `"ok"`, `7`} {
		srv := stub.New(t, stub.Reply{Body: body})
		c := stubClient(t, srv, 0)
		ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, nil, "name")
		_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		checkErr(t, err, &stub.WantErr{Status: 200, Message: "unreadable answer: " + body})
	}
	srv := stub.New(t, stub.Reply{Status: 400, Body: `null`})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, nil, "name")
	_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
	checkErr(t, err, &stub.WantErr{Status: 400, Message: "null"})
}

// The body for every field state: managed (its value), cleared (null),
// unmanaged (absent); never gid; text not HTML-escaped.
func TestBodyForManagedClearedAndUnmanagedFields(t *testing.T) {
	b, err := Body("7", fields("name", "A & B <c>", "email", nil, "gid", "g7", "locale", "pt_PT"))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"email":null,"externalId":"7","locale":"pt_PT","name":"A & B <c>"}`; string(b) != want {
		t.Errorf("body %s, want %s", b, want)
	}
	if strings.Contains(string(b), "gid") {
		t.Errorf("body sends gid: %s", b)
	}
}

// A 2xx that is not the customer (no gid) confirms nothing.
func TestDoAnswerWithoutGidFails(t *testing.T) {
	for _, body := range []string{`{}`, `{"name":"N","externalId":"7"}`, `{"gid":""}`} {
		srv := stub.New(t, stub.Reply{Body: body})
		c := stubClient(t, srv, 0)
		ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, nil, "name")
		_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		checkErr(t, err, &stub.WantErr{Status: 200, Message: "the answer is not the customer (no gid): " + body})
	}
}

func TestNewRefusesAnInvalidBaseURL(t *testing.T) {
	env := map[string]string{EnvBaseURL: "://no scheme"}
	if c, err := New(Options{Getenv: func(k string) string { return env[k] }}); err == nil {
		t.Errorf("New with an invalid base URL = %v", c)
	}
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

// Numbers in an answer are read as their text; an object or a list where
// text belongs is the cleared value.
func TestDoAnswerNumbersAreTextObjectsAreNothing(t *testing.T) {
	srv := stub.New(t, stub.Reply{Body: `{"gid":12345,"externalId":"7","name":{"first":"N"},"vatNumber":501234567,"address":["a"],"country":true}`})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, nil, "name")
	out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fields("gid", "12345"), out.IDs); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fields("name", nil, "vat_number", "501234567", "address", nil, "country", "true"), out.Held().Fields); diff != "" {
		t.Errorf("held (-want +got):\n%s", diff)
	}
}
