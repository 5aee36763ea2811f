package bonifiq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

func TestDoUnknownOperationSendsNothing(t *testing.T) {
	srv := stub.New(t)
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "1001", fields("name", "M"), nil, "name")
	if _, err := c.Do(context.Background(), ch, engine.Call{Method: "POST", Path: "/x", Op: "bogus"}); err == nil || !strings.Contains(err.Error(), "unknown operation") {
		t.Errorf("Do with an unknown operation = %v, want an error", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for an unknown operation", n)
	}
}

// An upsert whose answer says it updated an existing customer is followed
// by a changestatus (its status may not be enabled); a failed changestatus
// fails the call, and its warning is the call's.
func TestDoUpsertOfAnExistingCustomerFollowsWithChangestatus(t *testing.T) {
	ch := change(engine.ActionCreate, "1001", fields("name", "M", "enabled", true), nil)
	updated := stub.Reply{Body: `{"Result":{"OriginalId":"1001","PublicId":"p","Operation":"updated"},"HasError":false}`}
	t.Run("fails", func(t *testing.T) {
		srv := stub.New(t, updated, stub.Reply{Status: 400, Body: `{"ErrorMessage":"Reason invalid","HasError":true}`})
		c := stubClient(t, srv, 0)
		calls := c.Calls(ch)
		if len(calls) != 1 || calls[0].Op != OpUpsert {
			t.Fatalf("calls %+v", calls)
		}
		_, err := c.Do(context.Background(), ch, calls[0])
		checkErr(t, err, &stub.WantErr{Status: 400, Message: "Reason invalid"})
		reqs := srv.Requests()
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want 2", len(reqs))
		}
		checkRequest(t, reqs[1], "POST", "/base/v1/pvt/Customer/1001/changestatus", `{"IsEnabled":true,"Reason":"Changed by reconcile"}`)
	})
	t.Run("warns", func(t *testing.T) {
		srv := stub.New(t, updated, stub.Reply{Body: `{"Result":false,"CodeName":"Customer_StatusUnchanged","Severity":1,"HasWarning":true}`})
		c := stubClient(t, srv, 0)
		out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		if err != nil || out.Warning != "Customer_StatusUnchanged" {
			t.Errorf("Do = %+v, %v; want the changestatus warning", out, err)
		}
	})
	t.Run("created needs none", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: `{"Result":{"OriginalId":"1001","Operation":"Created"},"HasError":false}`})
		c := stubClient(t, srv, 0)
		if _, err := c.Do(context.Background(), ch, c.Calls(ch)[0]); err != nil {
			t.Fatal(err)
		}
	})
}

// An upsert that does not settle enabled = true sends no changestatus of
// its own, whatever its answer says.
func TestDoUpsertWithoutEnabledTrueSendsOneRequest(t *testing.T) {
	for _, desired := range []engine.Fields{fields("name", "M", "enabled", false), fields("name", "M"), fields("name", "M", "enabled", nil)} {
		srv := stub.New(t, stub.Reply{Body: `{"Result":{"OriginalId":"1001","Operation":"updated"},"HasError":false}`})
		c := stubClient(t, srv, 0)
		ch := change(engine.ActionCreate, "1001", desired, nil)
		if _, err := c.Do(context.Background(), ch, c.Calls(ch)[0]); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 1 {
			t.Errorf("desired %v: %d requests, want the upsert only", desired, n)
		}
	}
}

// rawServer answers every request on loopback with the bytes of resp, then
// closes the connection: answers httptest cannot give (a final 1xx).
func rawServer(t *testing.T, resp string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				c.Write([]byte(resp))
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// A 1xx or 3xx answer is not a success, whatever its body says.
func TestDoRefusesA1xxOr3xxAnswerAsSuccess(t *testing.T) {
	ch := change(engine.ActionUpdate, "1001", fields("enabled", true), nil, "enabled")
	for _, status := range []int{300, 399} {
		srv := stub.New(t, stub.Reply{Status: status, Body: ok})
		c := stubClient(t, srv, 0)
		_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		checkErr(t, err, &stub.WantErr{Status: status})
	}
	c := newTestClient(t, rawServer(t, "HTTP/1.1 101 Switching Protocols\r\nContent-Length: "+strconv.Itoa(len(ok))+"\r\n\r\n"+ok))
	_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
	checkErr(t, err, &stub.WantErr{Status: 101, Message: "unexpected answer"})
}

// A 2xx that did nothing fails with the service's words, a snippet of the
// answer and, for a write, the advice to refresh.
func TestDoAnswerThatDidNothingSaysWhatItWas(t *testing.T) {
	body := `{"Result":false,"CodeName":"Customer_Blocked","Severity":1,"HasWarning":true}`
	srv := stub.New(t, stub.Reply{Body: body})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "1001", fields("enabled", true), nil, "enabled")
	_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
	checkErr(t, err, &stub.WantErr{Status: 200, Message: "Customer_Blocked: the service did nothing (answer: " + body + "); run reconcile plan -refresh to see what it holds"})

	srv = stub.New(t, stub.Reply{Body: `{"Result":null}`})
	c = stubClient(t, srv, 0)
	_, err = c.Read(context.Background(), &engine.Resource{Provider: Name, ID: "1001"}, nil)
	checkErr(t, err, &stub.WantErr{Status: 200, Message: `the answer does not say it was done (answer: {"Result":null})`})
	if strings.Contains(err.Error(), "-refresh") {
		t.Errorf("a read's failure advises a refresh: %v", err)
	}
}

// The request bodies for every field state: managed (its value), cleared
// (null), unmanaged (absent); text sent as it is, not HTML-escaped.
func TestBodiesForManagedClearedAndUnmanagedFields(t *testing.T) {
	check := func(name string, got map[string]any, want string) {
		t.Helper()
		b, err := encode(got)
		if err != nil {
			t.Fatal(err)
		}
		var g, w any
		json.Unmarshal(b, &g)
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	check("profile, all managed", ProfileBody("7", fields("name", "A & B <c>", "email", "a@b.c", "phone", "1", "document", "d",
		"enrolled", false, "birthday", "1990-05-01", "signup_date", "2024-01-02T03:04:05-03:00", "enabled", true, "tier.id", 3, "status_reason", "r")),
		`{"OriginalId":"7","Name":"A & B <c>","Email":"a@b.c","Phone":"1","Document":"d","IsEnrolled":false,
		"BirthdayDate":"1990-05-01T00:00:00Z","SignupDate":"2024-01-02T06:04:05Z"}`)
	check("profile, all cleared", ProfileBody("7", fields("email", nil, "phone", nil, "document", nil, "enrolled", nil, "birthday", nil, "signup_date", nil)),
		`{"OriginalId":"7","Email":null,"Phone":null,"Document":null,"IsEnrolled":null,"BirthdayDate":null,"SignupDate":null}`)
	check("profile, none managed", ProfileBody("7", nil), `{"OriginalId":"7"}`)
	check("tier, managed", TierBody(fields("tier.id", 3, "tier.grace_period_days", 30, "tier.comments", "c", "name", "n")),
		`{"TierId":3,"GracePeriodInDays":30,"GracePeriodComments":"c"}`)
	check("tier, cleared", TierBody(fields("tier.id", 3, "tier.grace_period_days", nil, "tier.comments", nil)),
		`{"TierId":3,"GracePeriodInDays":null,"GracePeriodComments":null}`)
	check("tier, unmanaged grace", TierBody(fields("tier.id", 4)), `{"TierId":4}`)
	check("tier, not a number: sent as it is, never as 0", TierBody(fields("tier.id", "x7")), `{"TierId":"x7"}`)
	check("status, disable", StatusBody(engine.ActionDisable, fields("enabled", true), fields("status_reason", "  ")), `{"IsEnabled":false,"Reason":"Changed by reconcile"}`)
	check("status, enable", StatusBody(engine.ActionUpdate, fields("enabled", true), fields("status_reason", "why")), `{"IsEnabled":true,"Reason":"why"}`)
	check("status, cleared reason", StatusBody(engine.ActionUpdate, fields("enabled", false), fields("status_reason", nil)), `{"IsEnabled":false,"Reason":"Changed by reconcile"}`)

	// On the wire: exactly the bytes, no HTML escaping.
	srv := stub.New(t, stub.Reply{Body: `{"Result":{"OriginalId":"7"},"HasError":false}`})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "7", fields("name", "A & B <c>"), nil, "name")
	if _, err := c.Do(context.Background(), ch, c.Calls(ch)[0]); err != nil {
		t.Fatal(err)
	}
	if got := srv.Requests()[0].Body; !bytes.Equal(got, []byte(`{"Name":"A & B <c>","OriginalId":"7"}`)) {
		t.Errorf("body %s", got)
	}
}

// Read observes the readable fields the answer carries, and only those;
// a null flag is left out, an unreadable value fails the read.
func TestReadObservesOnlyWhatTheAnswerCarries(t *testing.T) {
	res := &engine.Resource{Provider: Name, ID: "1001"}
	read := func(t *testing.T, result string) (*engine.Observed, error) {
		t.Helper()
		srv := stub.New(t, stub.Reply{Body: `{"HasError":false,"Result":` + result + `}`})
		return stubClient(t, srv, 0).Read(context.Background(), res, nil)
	}
	t.Run("partial", func(t *testing.T) {
		got, err := read(t, `{"Name":"M","IsEnrolled":null,"IsEnabled":true,"TierId":3,"Reason":"x","BirthdayDate":"","SignupDate":null}`)
		if err != nil {
			t.Fatal(err)
		}
		want := &engine.Observed{Fields: fields("name", "M", "birthday", nil, "signup_date", nil)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
	})
	t.Run("enrolled false", func(t *testing.T) {
		got, err := read(t, `{"IsEnrolled":false}`)
		if err != nil || cmp.Diff(&engine.Observed{Fields: fields("enrolled", false)}, got) != "" {
			t.Errorf("Read = %+v, %v", got, err)
		}
	})
	for name, result := range map[string]string{
		"not an object": `"customer"`, "no result": `null`, "bad flag": `{"IsEnrolled":"yes"}`,
		"bad date": `{"BirthdayDate":"someday"}`, "bad text": `{"Name":7}`,
	} {
		t.Run(name, func(t *testing.T) {
			got, err := read(t, result)
			if err == nil {
				t.Errorf("Read of %s = %+v, want an error", result, got)
			}
		})
	}
}

// The upsert's answer is what the service holds (for verification); an
// answer whose customer cannot be read leaves it unknown.
func TestDoUpsertAnswerIsWhatTheServiceHolds(t *testing.T) {
	srv := stub.New(t, stub.Reply{Body: `{"Result":{"OriginalId":"1","Name":"M","Operation":"created"},"HasError":false}`},
		stub.Reply{Body: `{"Result":{"BirthdayDate":"never"},"HasError":false}`})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionCreate, "1", fields("name", "M"), nil)
	out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
	if err != nil || out.Held == nil || out.Held() == nil || cmp.Diff(fields("name", "M"), out.Held().Fields) != "" {
		t.Errorf("Do = %+v, %v; want Held name M", out, err)
	}
	out, err = c.Do(context.Background(), ch, c.Calls(ch)[0])
	if err != nil || out.Held == nil || out.Held() != nil {
		t.Errorf("Do = %+v, %v; want nothing held (decoded lazily: nil)", out, err)
	}
}

// Only the profile writes' answers are the customer: a changestatus whose
// warning answer carries an object holds nothing to verify.
func TestDoOnlyProfileAnswersAreWhatTheServiceHolds(t *testing.T) {
	srv := stub.New(t, stub.Reply{Body: `{"Result":{"Name":"X"},"CodeName":"Customer_StatusUnchanged","Severity":1,"HasWarning":true}`})
	c := stubClient(t, srv, 0)
	ch := change(engine.ActionUpdate, "1", fields("enabled", true), nil, "enabled")
	out, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
	if err != nil || out.Held != nil {
		t.Errorf("changestatus = %+v, %v; want nothing held", out, err)
	}
}

// A 4xx whose envelope says Customer_NotFound is "no such customer".
func TestReadNotFoundByCodeNameInA4xx(t *testing.T) {
	srv := stub.New(t, stub.Reply{Status: 400, Body: `{"CodeName":"Customer_NotFound","HasError":true}`},
		stub.Reply{Status: 400, Body: `{"CodeName":"Other","HasError":true}`})
	c := stubClient(t, srv, 0)
	res := &engine.Resource{Provider: Name, ID: "1"}
	if _, err := c.Read(context.Background(), res, nil); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("Read = %v, want ErrNotFound", err)
	}
	if _, err := c.Read(context.Background(), res, nil); errors.Is(err, engine.ErrNotFound) || err == nil {
		t.Errorf("Read = %v, want another failure", err)
	}
}

// Instants go in RFC 3339 UTC; a date alone is midnight UTC; anything else
// as it is.
func TestInstantOnTheWire(t *testing.T) {
	for in, want := range map[string]any{
		"2024-01-02T03:04:05+01:00": "2024-01-02T02:04:05Z", "2024-01-02": "2024-01-02T00:00:00Z", "soon": "soon",
	} {
		if got := instant(engine.String(in)); got != want {
			t.Errorf("instant(%q) = %v, want %v", in, got, want)
		}
	}
	if got := instant(engine.Null()); got != nil {
		t.Errorf("instant(null) = %v", got)
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
	ch := change(engine.ActionUpdate, "7", fields("name", "N"), nil, "name")
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
