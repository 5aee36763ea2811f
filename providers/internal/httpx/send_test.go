package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// slowGate admits each request after wait, counting admissions and
// releases.
type slowGate struct {
	wait               time.Duration
	admitted, released atomic.Int64
	err                error
}

func (g *slowGate) Admit(ctx context.Context) (func(), error) {
	time.Sleep(g.wait)
	if g.err != nil {
		return nil, g.err
	}
	g.admitted.Add(1)
	return func() { g.released.Add(1) }, nil
}

// answering is a transport that answers every request after latency,
// counting them; no network, so it runs inside a synctest bubble.
type answering struct {
	latency time.Duration
	n       atomic.Int64
}

func (a *answering) RoundTrip(r *http.Request) (*http.Response, error) {
	a.n.Add(1)
	select {
	case <-time.After(a.latency):
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{}`)), Header: http.Header{}, Request: r}, nil
}

func newTestConn(t *testing.T, rt http.RoundTripper, timeout time.Duration) Conn {
	t.Helper()
	c, err := NewConn("svc", "https://api.example.com", "SVC_BASE_URL", Auth{Vars: []string{"SVC_TOKEN"}, Header: func(func(string) string) string { return "Bearer x" }},
		Options{Config: engine.ProviderConfig{Timeout: timeout}, Getenv: func(string) string { return "" }, HTTPClient: &http.Client{Transport: rt}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSendWaitsForItsSlotOutsideTheTimeout: waiting for admission is not
// part of the request; the per-request timeout starts when it is sent.
func TestSendWaitsForItsSlotOutsideTheTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := &answering{latency: 40 * time.Millisecond}
		c := newTestConn(t, rt, 100*time.Millisecond)
		g := &slowGate{wait: 5 * time.Second}
		resp, _, err := c.Send(engine.WithGate(context.Background(), g), Call{Provider: "svc", Op: "read", ID: "1"}, http.MethodGet, "/x", nil, nil, "")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("Send after a long wait for the slot = %v, %v; want the answer", resp, err)
		}
		if g.admitted.Load() != 1 || g.released.Load() != 1 {
			t.Errorf("admitted %d, released %d; want 1 and 1", g.admitted.Load(), g.released.Load())
		}
		// The timeout still bounds the request itself.
		rt.latency = time.Second
		_, _, err = c.Send(engine.WithGate(context.Background(), g), Call{Provider: "svc", Op: "read", ID: "1"}, http.MethodGet, "/x", nil, nil, "")
		var ce *engine.CallError
		if !errors.As(err, &ce) || !ce.Retryable || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("slow answer: %v, want a retryable timeout", err)
		}
		if g.released.Load() != 2 {
			t.Errorf("the slot of a timed-out request was not released")
		}
	})
}

// TestSendSendsNothingWithoutAdmission: a refused admission (the apply
// stopped) sends no request and is returned as it is.
func TestSendSendsNothingWithoutAdmission(t *testing.T) {
	rt := &answering{}
	c := newTestConn(t, rt, time.Second)
	g := &slowGate{err: engine.ErrStopped}
	_, _, err := c.Send(engine.WithGate(context.Background(), g), Call{Provider: "svc", Op: "update", ID: "1"}, http.MethodPost, "/x", nil, []byte("{}"), "application/json")
	if !errors.Is(err, engine.ErrStopped) {
		t.Errorf("Send = %v, want ErrStopped", err)
	}
	if rt.n.Load() != 0 {
		t.Errorf("%d requests sent without admission", rt.n.Load())
	}
}

// TestRedirectIsNotFollowed: these APIs do not redirect; a 3xx is a failed
// call naming its Location, and the credentials never reach the target
// (https to http, or another port of the same host).
func TestRedirectIsNotFollowed(t *testing.T) {
	var reached atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.Header.Get("Authorization") != "" {
			t.Errorf("the redirect target received Authorization")
		}
	}))
	defer target.Close()
	for _, code := range []int{301, 302, 307, 308} {
		src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere", code)
		}))
		c, err := NewConn("svc", src.URL, "SVC_BASE_URL", Auth{Vars: []string{"SVC_TOKEN"}, Header: func(func(string) string) string { return "Bearer secret" }},
			Options{Config: engine.ProviderConfig{Timeout: time.Second}, Getenv: func(k string) string { return map[string]string{"SVC_TOKEN": "secret"}[k] }})
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = c.Send(context.Background(), Call{Provider: "svc", Op: "update", ID: "1"}, http.MethodPost, "/x", nil, []byte("{}"), "application/json")
		var ce *engine.CallError
		if !errors.As(err, &ce) || ce.Status != code || ce.Retryable || !strings.Contains(ce.Message, target.URL+"/elsewhere") {
			t.Errorf("%d: Send = %v, want a failure naming the Location", code, err)
		}
		src.Close()
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests", n)
	}
}

// TestRefusedConnectionIsUnreachable: nothing listening is Unreachable (it
// stops a service's first call); the error names the address.
func TestRefusedConnectionIsUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	c, err := NewConn("svc", addr, "SVC_BASE_URL", Auth{Vars: []string{"SVC_TOKEN"}, Header: func(func(string) string) string { return "Bearer x" }},
		Options{Config: engine.ProviderConfig{Timeout: time.Second}, Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Send(context.Background(), Call{Provider: "svc", Op: "read", ID: "1"}, http.MethodGet, "/x", nil, nil, "")
	var ce *engine.CallError
	if !errors.As(err, &ce) || !ce.Unreachable || !strings.Contains(err.Error(), strings.TrimPrefix(addr, "http://")) {
		t.Errorf("Send to a closed port = %v, want Unreachable naming the address", err)
	}
}
