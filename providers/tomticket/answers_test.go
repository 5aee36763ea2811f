package tomticket

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/stub"
)

// TomTicket's pages list a 404 for an unknown customer but report every
// failure as {"error": true}: both readings are handled (issue 11).
const (
	notFound200 = `{"error":true,"message":"Cliente não encontrado","success":false}`
	updated     = `{"error":false,"message":"Cliente atualizado com sucesso","success":true}`
	createdNew  = `{"error":false,"message":"Cliente cadastrado com sucesso","success":true,"data":{"id":"tt1"}}`
	exists      = `{"error":true,"message":"Cliente já cadastrado","success":false}`
)

func TestCreateFallsBackOnEitherNotFound(t *testing.T) {
	ch := change(engine.ActionCreate, "9001", fields("name", "Ana"), nil, nil)
	for _, nf := range []stub.Reply{{Status: 404, Body: notFound200}, {Status: 200, Body: notFound200}} {
		t.Run(fmt.Sprint(nf.Status), func(t *testing.T) {
			srv := stub.New(t, nf, stub.Reply{Body: createdNew})
			c := stubClient(t, srv, 0)
			if _, err := c.Do(context.Background(), ch, c.Calls(ch)[0]); err != nil {
				t.Fatal(err)
			}
			reqs := srv.Requests()
			if len(reqs) != 2 || reqs[0].Path != "/v2.0/customer/update" || reqs[1].Path != "/v2.0/customer/new" {
				t.Errorf("requests %v, want update then new", reqs)
			}
		})
	}
}

func TestReadNotFoundEitherWay(t *testing.T) {
	for _, nf := range []stub.Reply{{Status: 404, Body: notFound200}, {Status: 200, Body: notFound200}} {
		srv := stub.New(t, nf)
		_, err := stubClient(t, srv, 0).Read(context.Background(), &engine.Resource{Provider: Name, ID: "9001"}, nil)
		if !errors.Is(err, engine.ErrNotFound) {
			t.Errorf("%d: Read = %v, want ErrNotFound", nf.Status, err)
		}
	}
}

// TestAnswerThatConfirmsNothingFails: a 200 {} (or any body without error:
// false or success: true) is not a success.
func TestAnswerThatConfirmsNothingFails(t *testing.T) {
	for _, body := range []string{`{}`, `{"message":"ok"}`, `{"data":{}}`} {
		srv := stub.New(t, stub.Reply{Body: body})
		ch := change(engine.ActionUpdate, "9001", fields("name", "Ana"), nil, nil, "name")
		c := stubClient(t, srv, 0)
		_, err := c.Do(context.Background(), ch, c.Calls(ch)[0])
		var ce *engine.CallError
		if !errors.As(err, &ce) || ce.Retryable || !strings.Contains(ce.Message, "does not say it was done") {
			t.Errorf("%s: Do = %v, want a failure quoting the answer", body, err)
		}
	}
}

// TestCreateFirstWhenMostCreatesWereNew: after a create found no customer,
// the next tries customer/new first; one that then finds the customer
// ("Cliente já cadastrado") is updated, and the apply's choice follows.
func TestCreateFirstWhenMostCreatesWereNew(t *testing.T) {
	srv := stub.New(t,
		stub.Reply{Status: 404, Body: notFound200}, stub.Reply{Body: createdNew}, // 1: update, new
		stub.Reply{Body: createdNew},                        // 2: new
		stub.Reply{Body: exists}, stub.Reply{Body: updated}, // 3: new (exists), update
	)
	c := stubClient(t, srv, 0)
	for _, id := range []string{"1", "2", "3"} {
		ch := change(engine.ActionCreate, id, fields("name", "N"+id), nil, nil)
		if _, err := c.Do(context.Background(), ch, c.Calls(ch)[0]); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	var paths []string
	for _, r := range srv.Requests() {
		paths = append(paths, strings.TrimPrefix(r.Path, "/v2.0/customer/"))
	}
	if got := strings.Join(paths, " "); got != "update new new new update" {
		t.Errorf("requests %s, want update new new new update", got)
	}
}

// TestBulkCreatesIntoAnEmptyTomTicket: 300 creates of customers TomTicket
// does not have take at most 310 requests (not 600) and finish within 10 %
// of the plan's estimate, through the real client, limiter and simulator
// (in memory, on the fake clock).
func TestBulkCreatesIntoAnEmptyTomTicket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sim := NewSim(SimOptions{})
		var requests atomic.Int64
		hc := &http.Client{Transport: inMemory{http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			sim.ServeHTTP(w, r)
		})}}
		env := map[string]string{EnvToken: SandboxToken, EnvBaseURL: "http://127.0.0.1"}
		c, err := New(Options{Config: Service.Defaults, Getenv: func(k string) string { return env[k] }, HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		reg := engine.MustRegistry(Service)
		p := &engine.Plan{Registry: reg, Providers: map[string]engine.ProviderConfig{Name: Service.Defaults}}
		for i := range 300 {
			ch := change(engine.ActionCreate, fmt.Sprintf("c%03d", i), fields("name", fmt.Sprintf("Customer %d", i)), nil, nil)
			ch.Calls = c.Calls(ch)
			p.Changes = append(p.Changes, ch)
		}
		st := p.CallStats()[0]
		// 300 creates, one request each or two, and the default canary's 3
		// reads that verify them (TomTicket's answers do not show the record).
		if st.MinRequests != 303 || st.MaxRequests != 603 || st.VerifyReads != 3 {
			t.Errorf("estimate %d–%d requests (%d reads), want 303–603 (3)", st.MinRequests, st.MaxRequests, st.VerifyReads)
		}
		start := time.Now()
		res, err := engine.Apply(context.Background(), p, engine.ApplyOptions{Providers: map[string]engine.Provider{Name: c}, Configs: p.Providers, Recorder: nopRecorder{}, Canary: -1})
		if err != nil || res.Created != 300 {
			t.Fatalf("apply: %v %+v", err, res)
		}
		elapsed := time.Since(start)
		if n := requests.Load(); n > 310 {
			t.Errorf("%d requests for 300 creates, want at most 310", n)
		}
		if elapsed > st.MaxDuration*11/10 {
			t.Errorf("took %v, more than the estimate's upper end %v + 10%%", elapsed, st.MaxDuration)
		}
		t.Logf("300 creates: %d requests in %v (estimate %v–%v)", requests.Load(), elapsed, st.Duration, st.MaxDuration)
	})
}

type nopRecorder struct{}

func (nopRecorder) Record(engine.Record) error { return nil }

// inMemory serves requests with a handler, no network: inside a synctest
// bubble every wait is on the fake clock.
type inMemory struct{ h http.Handler }

func (m inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}
