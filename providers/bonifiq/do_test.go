package bonifiq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

const (
	secretToken = "s3cr3t-token"
	secretKey   = "s3cr3t-key"
)

func stubClient(t *testing.T, srv *stub.Server, timeout time.Duration) *Client {
	t.Helper()
	env := map[string]string{EnvToken: secretToken, EnvKey: secretKey, EnvBaseURL: srv.URL + "/base/"}
	c, err := New(Options{Config: engine.ProviderConfig{Timeout: timeout}, Getenv: func(k string) string { return env[k] }, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRequest asserts the method, path, auth, content type and the exact
// JSON body of a request.
func checkRequest(t *testing.T, got stub.Request, method, path, body string) {
	t.Helper()
	if got.Method != method || got.Path != path {
		t.Errorf("request = %s %s, want %s %s", got.Method, got.Path, method, path)
	}
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(secretToken+":"+secretKey))
	if a := got.Header.Get("Authorization"); a != wantAuth {
		t.Errorf("Authorization = %q, want %q", a, wantAuth)
	}
	if body == "" {
		if len(got.Body) != 0 {
			t.Errorf("body = %s, want none", got.Body)
		}
		return
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var gotBody, wantBody any
	if err := json.Unmarshal(got.Body, &gotBody); err != nil {
		t.Fatalf("body %s: %v", got.Body, err)
	}
	if err := json.Unmarshal([]byte(body), &wantBody); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantBody, gotBody); diff != "" {
		t.Errorf("body (-want +got):\n%s", diff)
	}
}

// checkErr checks err against want (stub.CheckErr), and that it shows no credential.
func checkErr(t *testing.T, err error, want *stub.WantErr) {
	t.Helper()
	stub.CheckErr(t, err, want, secretToken, secretKey, base64.StdEncoding.EncodeToString([]byte(secretToken+":"+secretKey)))
}

const ok = `{"ErrorMessage":null,"ErrorCode":null,"Result":true,"Code":"00","CodeName":"Success","Severity":0,"HasWarning":false,"HasError":false}`

func TestDo(t *testing.T) {
	all := fields("name", "Maria", "email", "m@example.com", "phone", nil, "document", "123.456.789-00", "enrolled", true,
		"birthday", "1990-05-01", "signup_date", "2024-01-02T03:04:05Z", "enabled", true,
		"tier.id", 3, "tier.grace_period_days", 30, "tier.comments", nil)
	profileJSON := `{"OriginalId":"1001","Name":"Maria","Email":"m@example.com","Phone":null,"Document":"123.456.789-00",
		"IsEnrolled":true,"BirthdayDate":"1990-05-01T00:00:00Z","SignupDate":"2024-01-02T03:04:05Z"}`
	create := change(engine.ActionCreate, "1001", all, nil)
	update := func(changed ...string) *engine.Change {
		return change(engine.ActionUpdate, "1001", all, nil, changed...)
	}
	tests := []struct {
		name     string
		ch       *engine.Change
		call     int // index into Calls(ch)
		reply    stub.Reply
		method   string
		path     string
		body     string
		want     engine.Outcome
		wantErr  *stub.WantErr
		wantCall string // Op of the call
	}{
		{name: "upsert created", ch: create, call: 0,
			reply:  stub.Reply{Body: `{"Result":{"OriginalId":"1001","PublicId":"pub-9","Operation":"created"},"HasError":false,"Severity":0}`},
			method: "POST", path: "/base/v1/pvt/Customer/upsert", body: profileJSON,
			want: engine.Outcome{Status: 200, IDs: fields("PublicId", "pub-9")}},
		{name: "update sends only managed fields", ch: change(engine.ActionUpdate, "10 01/x", fields("name", "M", "enrolled", false), nil, "name"),
			reply:  stub.Reply{Body: `{"ErrorMessage":null,"Result":{"PublicId":"pub-1","Name":"M"},"HasError":false}`},
			method: "PUT", path: "/base/v1/pvt/Customer/10%2001%2Fx", body: `{"OriginalId":"10 01/x","Name":"M","IsEnrolled":false}`,
			want: engine.Outcome{Status: 200, IDs: fields("PublicId", "pub-1")}},
		{name: "update clears with null", ch: change(engine.ActionUpdate, "1001", fields("birthday", nil, "signup_date", nil, "email", nil), nil, "email"),
			reply:  stub.Reply{Body: `{"Result":{},"HasError":false}`},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: `{"OriginalId":"1001","BirthdayDate":null,"SignupDate":null,"Email":null}`,
			want: engine.Outcome{Status: 200}},
		{name: "changestatus with reason", ch: change(engine.ActionUpdate, "1001", all, fields("status_reason", "migration"), "enabled"),
			reply:  stub.Reply{Body: ok},
			method: "POST", path: "/base/v1/pvt/Customer/1001/changestatus", body: `{"IsEnabled":true,"Reason":"migration"}`,
			want: engine.Outcome{Status: 200}},
		{name: "changestatus warning", ch: update("enabled"),
			reply:  stub.Reply{Body: `{"Result":false,"Code":"03","CodeName":"Customer_StatusUnchanged","Severity":1,"HasWarning":true,"HasError":false}`},
			method: "POST", path: "/base/v1/pvt/Customer/1001/changestatus", body: `{"IsEnabled":true,"Reason":"Changed by reconcile"}`,
			want: engine.Outcome{Status: 200, Warning: "Customer_StatusUnchanged"}},
		{name: "severity 1 alone is a warning", ch: update("enabled"),
			reply:  stub.Reply{Body: `{"Result":true,"Code":"04","Severity":1}`},
			method: "POST", path: "/base/v1/pvt/Customer/1001/changestatus", body: `{"IsEnabled":true,"Reason":"Changed by reconcile"}`,
			want: engine.Outcome{Status: 200, Warning: "code 04"}},
		{name: "disable", ch: change(engine.ActionDisable, "1001", fields("enabled", false), nil, "enabled"),
			reply:  stub.Reply{Body: ok},
			method: "POST", path: "/base/v1/pvt/Customer/1001/changestatus", body: `{"IsEnabled":false,"Reason":"Changed by reconcile"}`,
			want: engine.Outcome{Status: 200}},
		{name: "changetier", ch: update("tier.id"), call: 0,
			reply:  stub.Reply{Body: ok},
			method: "POST", path: "/base/v1/pvt/Customer/1001/changetier", body: `{"TierId":3,"GracePeriodInDays":30,"GracePeriodComments":null}`,
			want: engine.Outcome{Status: 200}},
		{name: "tier not found in a 200", ch: change(engine.ActionUpdate, "1001", fields("tier.id", 9), nil, "tier.id"),
			reply:  stub.Reply{Body: `{"ErrorMessage":null,"Result":false,"Code":"02","CodeName":"Tier_NotFound","Severity":2,"HasWarning":false,"HasError":true}`},
			method: "POST", path: "/base/v1/pvt/Customer/1001/changetier", body: `{"TierId":9}`,
			wantErr: &stub.WantErr{Status: 200, Message: "Tier_NotFound"}},
		{name: "severity 2 alone is an error", ch: update("enabled"),
			reply:  stub.Reply{Body: `{"ErrorMessage":"Reason too long","Severity":2}`},
			method: "POST", path: "/base/v1/pvt/Customer/1001/changestatus", body: `{"IsEnabled":true,"Reason":"Changed by reconcile"}`,
			wantErr: &stub.WantErr{Status: 200, Message: "Reason too long"}},
		{name: "HasError with only a code", ch: update("enabled"),
			reply:  stub.Reply{Body: `{"Code":"07","HasError":true}`},
			method: "POST", path: "/base/v1/pvt/Customer/1001/changestatus", body: `{"IsEnabled":true,"Reason":"Changed by reconcile"}`,
			wantErr: &stub.WantErr{Status: 200, Message: "code 07"}},
		{name: "404", ch: update("name"),
			reply:  stub.Reply{Status: 404, Body: `{"ErrorMessage":"Customer not found","ErrorCode":404,"HasError":true}`},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: profileJSON,
			wantErr: &stub.WantErr{Status: 404, Message: "Customer not found"}},
		{name: "400", ch: update("name"),
			reply:  stub.Reply{Status: 400, Body: `{"ErrorMessage":"Invalid Email","HasError":true}`},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: profileJSON,
			wantErr: &stub.WantErr{Status: 400, Message: "Invalid Email"}},
		{name: "401 is fatal", ch: update("name"),
			reply:  stub.Reply{Status: 401, Body: `{"ErrorMessage":"Unauthorized","HasError":true}`},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: profileJSON,
			wantErr: &stub.WantErr{Status: 401, Message: "Unauthorized", Fatal: true}},
		{name: "403 is fatal", ch: update("name"),
			reply:  stub.Reply{Status: 403, Body: ``},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: profileJSON,
			wantErr: &stub.WantErr{Status: 403, Fatal: true}},
		{name: "429 with Retry-After", ch: update("name"),
			reply:  stub.Reply{Status: 429, Header: map[string]string{"Retry-After": "5"}, Body: `{"HasError":true}`},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: profileJSON,
			wantErr: &stub.WantErr{Status: 429, Retryable: true, RetryAfter: 5 * time.Second}},
		{name: "500 retryable", ch: update("name"),
			reply:  stub.Reply{Status: 500, Body: `{"ErrorMessage":"Internal error","HasError":true}`},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: profileJSON,
			wantErr: &stub.WantErr{Status: 500, Message: "Internal error", Retryable: true}},
		{name: "502 HTML", ch: update("name"),
			reply:  stub.Reply{Status: 502, Header: map[string]string{"Content-Type": "text/html"}, Body: "<html>\n<h1>Bad Gateway</h1></html>"},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: profileJSON,
			wantErr: &stub.WantErr{Status: 502, Message: "<html> <h1>Bad Gateway</h1></html>", Retryable: true}},
		{name: "malformed JSON in a 200", ch: update("name"),
			reply:  stub.Reply{Body: `{"HasError":fal`},
			method: "PUT", path: "/base/v1/pvt/Customer/1001", body: profileJSON,
			wantErr: &stub.WantErr{Status: 200, Message: "unreadable answer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := stub.New(t, tt.reply)
			c := stubClient(t, srv, 0)
			call := c.Calls(tt.ch)[tt.call]
			got, err := c.Do(context.Background(), tt.ch, call)
			checkErr(t, err, tt.wantErr)
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(engine.Outcome{}, "Held")); diff != "" {
				t.Errorf("Outcome (-want +got):\n%s", diff)
			}
			reqs := srv.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want exactly 1", len(reqs))
			}
			checkRequest(t, reqs[0], tt.method, tt.path, tt.body)
		})
	}
}

func TestDoTransport(t *testing.T) {
	ch := change(engine.ActionUpdate, "1001", fields("name", "M"), nil, "name")
	t.Run("timeout is retryable", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Hang: true})
		c := stubClient(t, srv, 20*time.Millisecond)
		_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		var ce *engine.CallError
		if !errors.As(err, &ce) || !ce.Retryable || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error = %v, want a retryable timeout", err)
		}
	})
	t.Run("dropped connection is retryable", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Drop: true})
		c := stubClient(t, srv, 0)
		_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		var ce *engine.CallError
		if !errors.As(err, &ce) || !ce.Retryable || ce.Status != 0 {
			t.Errorf("error = %v, want retryable", err)
		}
	})
	t.Run("cancellation is not retryable", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Hang: true})
		c := stubClient(t, srv, 0)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for len(srv.Requests()) == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := c.Do(ctx, ch, c.Calls(ch)[0])
		var ce *engine.CallError
		if !errors.Is(err, context.Canceled) || errors.As(err, &ce) {
			t.Errorf("error = %v, want context.Canceled, wrapped, not a CallError", err)
		}
	})
	t.Run("connection refused is retryable", func(t *testing.T) {
		srv := stub.New(t)
		c := stubClient(t, srv, 0)
		srv.Close()
		_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		var ce *engine.CallError
		if !errors.As(err, &ce) || !ce.Retryable {
			t.Errorf("error = %v, want retryable", err)
		}
	})
}

func TestRead(t *testing.T) {
	res := &engine.Resource{Provider: Name, ID: "1001"}
	t.Run("found", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: `{"ErrorMessage":null,"ErrorCode":null,"HasError":false,"Result":{
			"OriginalId":"1001","PublicId":"pub-1","Name":"Maria","Email":"m@example.com","Phone":null,"Document":"",
			"BirthdayDate":"1990-05-01T00:00:00-03:00","SignupDate":"2024-01-01T23:04:05-04:00","IsEnrolled":true,
			"ReferralURL":"https://r","WhatsappReferralUrl":"https://w","CurrentTier":{"Name":"Gold","Color":"#fc0","IconUrl":"https://i"}}}`})
		c := stubClient(t, srv, 0)
		got, err := c.Read(context.Background(), res, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := &engine.Observed{
			Fields: fields("name", "Maria", "email", "m@example.com", "phone", nil, "document", nil, "enrolled", true,
				"birthday", "1990-05-01", "signup_date", "2024-01-02T03:04:05Z"),
			IDs: fields("PublicId", "pub-1"),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Read (-want +got):\n%s", diff)
		}
		checkRequest(t, srv.Requests()[0], "GET", "/base/v1/pvt/Customer/1001", "")
	})
	t.Run("not found", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Status: 404, Body: `{"ErrorMessage":"Customer not found","HasError":true}`})
		c := stubClient(t, srv, 0)
		_, err := c.Read(context.Background(), res, nil)
		if !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("error = %v, want ErrNotFound", err)
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Status: 401, Body: `{"ErrorMessage":"Unauthorized","HasError":true}`})
		c := stubClient(t, srv, 0)
		_, err := c.Read(context.Background(), res, nil)
		checkErr(t, err, &stub.WantErr{Status: 401, Message: "Unauthorized", Fatal: true})
	})
	t.Run("malformed result", func(t *testing.T) {
		srv := stub.New(t, stub.Reply{Body: `{"HasError":false,"Result":{"Name":7}}`})
		c := stubClient(t, srv, 0)
		_, err := c.Read(context.Background(), res, nil)
		checkErr(t, err, &stub.WantErr{Status: 200, Message: "unreadable customer"})
	})
}
