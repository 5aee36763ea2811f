// Package crmlite is a small, made-up fourth service that exists only for
// tests: it proves that a service is its folder plus one registry line.
// Tests register it in a registry of their own (the product's stays three)
// and run validate, plan, apply, plan -refresh and import against its
// simulator, and the conformance suite over it.
//
// Its API: PUT /contacts/{id} creates or replaces a contact (JSON
// {"fullName", "email", "phone", "tier", "vip", "notes"}; null clears),
// GET /contacts/{id} reads it back (without notes), 404 when there is none.
// Authorization: Bearer CRMLITE_TOKEN.
package crmlite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// Names of the service.
const (
	Name           = "crmlite"
	EnvToken       = "CRMLITE_TOKEN"
	EnvBaseURL     = "CRMLITE_BASE_URL"
	SandboxToken   = "crmlite-sandbox-token"
	DefaultBaseURL = "https://api.crmlite.example"
	callContact    = "contact"
)

// Service is crmlite, as data.
var Service = &engine.Service{
	Name:    Name,
	Title:   "CRM Lite",
	Example: "tier",
	Keys: []engine.ServiceKey{
		{Field: "name", Shared: true, Type: engine.TypeString, NotNull: true, MinLen: 1, MaxLen: 250, Wire: "fullName", Call: callContact, Readable: true},
		{Field: "email", Shared: true, Type: engine.TypeEmail, MaxLen: 250, Wire: "email", Call: callContact, Readable: true},
		{Field: "phone", Shared: true, Type: engine.TypeString, Wire: "phone", Call: callContact, Readable: true},
		{Field: "tier", Type: engine.TypeEnum, Enum: []string{"free", "pro"}, Wire: "tier", Call: callContact, Readable: true},
		{Field: "vip", Type: engine.TypeBool, Wire: "vip", Call: callContact, Readable: true},
		{Field: "notes", Type: engine.TypeString, Wire: "notes", Call: callContact},
	},
	CreateNeeds:    []string{"name"},
	Defaults:       engine.ProviderConfig{RateLimit: 50, Burst: 1, Concurrency: 4, MaxRetries: -1, Timeout: 10 * time.Second, OnRemove: engine.OnRemoveForget},
	Limiter:        engine.TokenBucket,
	Credentials:    []engine.Credential{{Var: EnvToken, Sandbox: SandboxToken}},
	BaseURLVar:     EnvBaseURL,
	DefaultBaseURL: DefaultBaseURL,
	New:            func(opts engine.ClientOptions) (engine.Provider, error) { return New(opts) },
	Sim:            func(engine.SimOptions) engine.Simulator { return NewSim() },
	SandboxPrefix:  "/crmlite",
	Fault:          func(status int) any { return map[string]any{"error": http.StatusText(status)} },
}

// Client talks to crmlite.
type Client struct{ httpx.Conn }

// New returns a client; it needs no credentials until it calls.
func New(opts engine.ClientOptions) (*Client, error) {
	conn, err := httpx.NewConn(Name, DefaultBaseURL, EnvBaseURL, httpx.Auth{Vars: []string{EnvToken},
		Header: func(getenv func(string) string) string { return "Bearer " + getenv(EnvToken) }}, opts)
	if err != nil {
		return nil, err
	}
	return &Client{Conn: conn}, nil
}

// Name returns "crmlite".
func (c *Client) Name() string { return Name }

// Calls plans one PUT for a create or an update.
func (c *Client) Calls(ch *engine.Change) []engine.Call {
	if ch.Action != engine.ActionCreate && ch.Action != engine.ActionUpdate {
		return nil
	}
	var fields []string
	if ch.Desired != nil {
		fields = Service.FieldsOf(nil, callContact, ch.Desired.Fields)
	}
	return []engine.Call{{Method: http.MethodPut, Path: "/contacts/" + url.PathEscape(ch.ID), Op: string(ch.Action), Fields: fields}}
}

// Do sends the contact with every managed field.
func (c *Client) Do(ctx context.Context, ch *engine.Change, call engine.Call) (engine.Outcome, error) {
	body := map[string]any{}
	for _, f := range ch.Desired.Fields {
		k := Service.Key(f.Name)
		if k == nil || k.Wire == "" {
			continue
		}
		switch {
		case f.Value.IsNull():
			body[k.Wire] = nil
		case k.Type == engine.TypeBool:
			body[k.Wire] = f.Value.S == "true"
		default:
			body[k.Wire] = f.Value.S
		}
	}
	data, _ := json.Marshal(body)
	id := httpx.Call{Provider: Name, Op: call.Op, ID: ch.ID}
	status, _, err := c.send(ctx, id, http.MethodPut, call.Path, data)
	if err != nil {
		return engine.Outcome{}, err
	}
	return engine.Outcome{Status: status}, nil
}

// Read fetches the contact.
func (c *Client) Read(ctx context.Context, r *engine.Resource, _ engine.Fields) (*engine.Observed, error) {
	id := httpx.Call{Provider: Name, Op: "read", ID: r.ID}
	_, obj, err := c.send(ctx, id, http.MethodGet, "/contacts/"+url.PathEscape(r.ID), nil)
	var ce *engine.CallError
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return nil, fmt.Errorf("%s: %s: %w", Name, r.ID, engine.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	obs := &engine.Observed{}
	for _, k := range Service.Keys {
		raw, ok := obj[k.Wire]
		if !k.Readable || !ok {
			continue
		}
		v := engine.Null()
		var s string
		var b bool
		switch {
		case string(bytes.TrimSpace(raw)) == "null":
		case json.Unmarshal(raw, &s) == nil && s != "":
			v = engine.String(s)
		case json.Unmarshal(raw, &b) == nil:
			v = engine.Bool(b)
		}
		obs.Fields = append(obs.Fields, engine.Field{Name: k.Field, Value: v})
	}
	obs.Fields.Sort()
	return obs, nil
}

// send makes one request; a success is a 2xx with a JSON object.
func (c *Client) send(ctx context.Context, id httpx.Call, method, path string, body []byte) (int, map[string]json.RawMessage, error) {
	ct := ""
	if body != nil {
		ct = "application/json"
	}
	resp, data, err := c.Send(ctx, id, method, path, nil, body, ct)
	if err != nil {
		return 0, nil, err
	}
	var obj map[string]json.RawMessage
	jerr := json.Unmarshal(data, &obj)
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return resp.StatusCode, nil, id.StatusError(resp, httpx.Snippet(data))
	}
	if jerr != nil || obj == nil {
		return resp.StatusCode, nil, id.Failure(resp.StatusCode, "unreadable answer: "+httpx.Snippet(data), jerr)
	}
	return resp.StatusCode, obj, nil
}

// Sim is crmlite's simulator.
type Sim struct {
	mu       chanMutex
	contacts map[string]map[string]json.RawMessage
}

// NewSim returns an empty simulator.
func NewSim() *Sim {
	return &Sim{mu: make(chanMutex, 1), contacts: map[string]map[string]json.RawMessage{}}
}

type chanMutex chan struct{}

func (m chanMutex) lock()   { m <- struct{}{} }
func (m chanMutex) unlock() { <-m }

// Contact returns what the simulator holds for id.
func (s *Sim) Contact(id string) (map[string]json.RawMessage, bool) {
	s.mu.lock()
	defer s.mu.unlock()
	c, ok := s.contacts[id]
	return c, ok
}

// ServeHTTP answers PUT and GET /contacts/{id}.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+SandboxToken {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, `{"error":"unauthorized"}`)
		return
	}
	id, ok := bytes.CutPrefix([]byte(r.URL.Path), []byte("/contacts/"))
	if !ok || len(id) == 0 {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"error":"no such path"}`)
		return
	}
	s.mu.lock()
	defer s.mu.unlock()
	switch r.Method {
	case http.MethodGet:
		c, ok := s.contacts[string(id)]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":"no such contact"}`)
			return
		}
		out := map[string]json.RawMessage{}
		for k, v := range c {
			if k != "notes" {
				out[k] = v
			}
		}
		json.NewEncoder(w).Encode(out)
	case http.MethodPut:
		var in map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in == nil {
			w.WriteHeader(http.StatusUnprocessableEntity)
			fmt.Fprint(w, `{"error":"a JSON object is required"}`)
			return
		}
		c := s.contacts[string(id)]
		if c == nil {
			c = map[string]json.RawMessage{}
			s.contacts[string(id)] = c
		}
		for k, v := range in {
			c[k] = v
		}
		json.NewEncoder(w).Encode(c)
	default:
		w.WriteHeader(http.StatusMethodNotAllowed)
		fmt.Fprint(w, `{"error":"method not allowed"}`)
	}
}

// Snapshot returns the contacts, for the sandbox's data file.
func (s *Sim) Snapshot() any {
	s.mu.lock()
	defer s.mu.unlock()
	out := make(map[string]map[string]json.RawMessage, len(s.contacts))
	for id, c := range s.contacts {
		out[id] = c
	}
	return out
}

// Restore replaces the contacts.
func (s *Sim) Restore(data []byte) error {
	var in map[string]map[string]json.RawMessage
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	s.mu.lock()
	defer s.mu.unlock()
	s.contacts = in
	if s.contacts == nil {
		s.contacts = map[string]map[string]json.RawMessage{}
	}
	return nil
}
