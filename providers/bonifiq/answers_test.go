package bonifiq

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

// BonifiQ's answers as its pages allow them (issue 11): not-found as a 200
// envelope, "nothing was done" as a 200 warning without a Result, and
// answers that confirm nothing.
const (
	notFound200  = `{"ErrorMessage":"Customer not found","ErrorCode":null,"Result":null,"Code":"01","CodeName":"Customer_NotFound","Severity":2,"HasWarning":false,"HasError":true}`
	notFoundWarn = `{"ErrorMessage":null,"Result":null,"Code":"01","CodeName":"Customer_NotFound","Severity":1,"HasWarning":true,"HasError":false}`
	falseWarn    = `{"ErrorMessage":null,"Result":false,"Code":"07","CodeName":"Customer_Locked","Severity":1,"HasWarning":true,"HasError":false}`
	unchanged    = `{"ErrorMessage":null,"Result":false,"Code":"03","CodeName":"Customer_StatusUnchanged","Severity":1,"HasWarning":true,"HasError":false}`
	customer     = `{"Result":{"OriginalId":"8002","PublicId":"p-8002","Name":"Ana","Operation":"updated"},"Severity":0,"HasWarning":false,"HasError":false}`
	created      = `{"Result":{"OriginalId":"8002","PublicId":"p-8002","Name":"Ana","Operation":"created"},"Severity":0,"HasWarning":false,"HasError":false}`
)

func TestReadNotFoundAs200Envelope(t *testing.T) {
	for _, tt := range []struct {
		name, body string
		status     int
	}{
		{"200 with HasError and Customer_NotFound", notFound200, 200},
		{"200 warning with no Result", notFoundWarn, 200},
		{"404", notFound200, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := stub.New(t, stub.Reply{Status: tt.status, Body: tt.body})
			_, err := stubClient(t, srv, 0).Read(context.Background(), &engine.Resource{Provider: Name, ID: "8002"}, nil)
			if !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("Read = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestWriteThatDidNothingFails(t *testing.T) {
	desired := fields("name", "Ana", "enabled", false, "tier.id", 2)
	for _, tt := range []struct {
		name     string
		call     engine.Call
		body     string
		notFound bool
	}{
		{"PUT answered Customer_NotFound as a warning", engine.Call{Method: "PUT", Path: "/v1/pvt/Customer/8002", Op: OpUpdate, Fields: []string{"name"}}, notFoundWarn, true},
		{"changestatus answered Result false with a warning", engine.Call{Method: "POST", Path: "/v1/pvt/Customer/8002/changestatus", Op: OpChangeStatus, Fields: []string{"enabled"}}, falseWarn, false},
		{"changetier answered Result null", engine.Call{Method: "POST", Path: "/v1/pvt/Customer/8002/changetier", Op: OpChangeTier, Fields: []string{"tier.id"}}, `{"Result":null,"Severity":0}`, false},
		{"PUT answered 200 {}", engine.Call{Method: "PUT", Path: "/v1/pvt/Customer/8002", Op: OpUpdate, Fields: []string{"name"}}, `{}`, false},
		{"PUT answered 200 null", engine.Call{Method: "PUT", Path: "/v1/pvt/Customer/8002", Op: OpUpdate, Fields: []string{"name"}}, `null`, false},
		{"upsert answered Result true (not the customer)", engine.Call{Method: "POST", Path: "/v1/pvt/Customer/upsert", Op: OpUpsert, Fields: []string{"name"}}, ok, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := stub.New(t, stub.Reply{Body: tt.body})
			_, err := stubClient(t, srv, 0).Do(context.Background(), change(engine.ActionUpdate, "8002", desired, nil, "name"), tt.call)
			var ce *engine.CallError
			if !errors.As(err, &ce) || ce.Retryable || ce.NotFound != tt.notFound {
				t.Fatalf("Do = %#v, want a non-retryable failure (not found: %v)", err, tt.notFound)
			}
			if !strings.Contains(ce.Message, "answer: ") {
				t.Errorf("message %q does not quote the answer", ce.Message)
			}
			if !tt.notFound && !strings.Contains(ce.Message, "plan -refresh") {
				t.Errorf("message %q does not suggest plan -refresh", ce.Message)
			}
		})
	}
}

func TestAnswerThatSaysItIsAlreadySoSucceeds(t *testing.T) {
	srv := stub.New(t, stub.Reply{Body: unchanged})
	out, err := stubClient(t, srv, 0).Do(context.Background(), change(engine.ActionUpdate, "8002", fields("enabled", true), nil, "enabled"),
		engine.Call{Method: "POST", Path: "/v1/pvt/Customer/8002/changestatus", Op: OpChangeStatus, Fields: []string{"enabled"}})
	if err != nil || out.Warning != "Customer_StatusUnchanged" {
		t.Errorf("Do = %+v, %v; want a success with the warning", out, err)
	}
}

// TestCreateSendsNoStatusToANewCustomer: a new customer is enabled, so an
// upsert that created it needs no changestatus; one that found an existing
// customer (or does not say) sets the status with a second request.
func TestCreateSendsNoStatusToANewCustomer(t *testing.T) {
	ch := change(engine.ActionCreate, "8002", fields("name", "Ana", "enabled", true), nil)
	calls := (&Client{}).Calls(ch)
	if len(calls) != 1 || calls[0].Op != OpUpsert {
		t.Fatalf("Calls = %+v, want the upsert alone", calls)
	}
	t.Run("created", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: created})
		if _, err := stubClient(t, srv, 0).Do(context.Background(), ch, calls[0]); err != nil {
			t.Fatal(err)
		}
		if n := len(srv.Requests()); n != 1 {
			t.Errorf("%d requests, want the upsert alone", n)
		}
	})
	t.Run("existed", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: customer}, stub.Reply{Body: ok})
		if _, err := stubClient(t, srv, 0).Do(context.Background(), ch, calls[0]); err != nil {
			t.Fatal(err)
		}
		reqs := srv.Requests()
		if len(reqs) != 2 {
			t.Fatalf("%d requests, want the upsert and a changestatus", len(reqs))
		}
		checkRequest(t, reqs[1], "POST", "/base/v1/pvt/Customer/8002/changestatus", `{"IsEnabled":true,"Reason":"Changed by reconcile"}`)
	})
}
