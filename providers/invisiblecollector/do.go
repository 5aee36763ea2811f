package invisiblecollector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// OpFind reads a customer by its externalId after a 409, to tell a retried
// create from another customer.
const OpFind = "find"

// ServiceError is the body of an error answer: {"code": N, "message": "..."}
// (code may be a number or a string; a 409 carries the existing gid).
type ServiceError struct {
	Code    string
	Message string
	GID     string
}

func (e *ServiceError) Error() string { return e.Message }

// Do makes one attempt of call: PUT /customers/{gid or id}; for a create
// answered 404, POST /customers; for a POST answered 409, the customer read
// by externalId is adopted when it is this customer. A create whose
// customer a read saw missing (Change.Missing), or when most creates of
// this apply so far were new customers (Creates), starts with the POST.
func (c *Client) Do(ctx context.Context, ch *engine.Change, call engine.Call) (engine.Outcome, error) {
	op := call.Op
	var desired engine.Fields
	if ch.Desired != nil {
		desired = ch.Desired.Fields
	}
	body, err := Body(ch.ID, desired)
	if err != nil {
		return engine.Outcome{}, httpx.Call{Provider: Name, Op: op, ID: ch.ID}.Failure(0, "", err)
	}
	if ch.Action == engine.ActionCreate && !c.SkipMissing && (call.Method == http.MethodPost || c.Creates.NewFirst()) {
		cust, status, err := c.send(ctx, httpx.Call{Provider: Name, Op: OpPost, ID: ch.ID}, http.MethodPost, "/customers", body)
		if err == nil {
			c.Creates.New()
			return outcome(cust, status), nil
		}
		if statusOf(err) != http.StatusConflict {
			return engine.Outcome{}, err
		}
		c.Creates.Existed()
		return c.adopt(ctx, ch, desired, body, err)
	}
	put := call.Path
	if call.Method != http.MethodPut {
		put = "/customers/" + url.PathEscape(pathID(ch))
	}
	cust, status, err := c.send(ctx, httpx.Call{Provider: Name, Op: op, ID: ch.ID}, http.MethodPut, put, body)
	if err == nil {
		if ch.Action == engine.ActionCreate {
			c.Creates.Existed()
		}
		return outcome(cust, status), nil
	}
	if ch.Action != engine.ActionCreate || statusOf(err) != http.StatusNotFound {
		return engine.Outcome{}, err
	}
	if c.SkipMissing {
		return engine.Outcome{}, engine.ErrSkipped // on_missing: skip
	}
	c.Creates.New()
	cust, status, err = c.send(ctx, httpx.Call{Provider: Name, Op: OpPost, ID: ch.ID}, http.MethodPost, "/customers", body)
	if err == nil {
		return outcome(cust, status), nil
	}
	if statusOf(err) != http.StatusConflict {
		return engine.Outcome{}, err
	}
	return c.adopt(ctx, ch, desired, body, err)
}

// adopt handles a 409 from POST /customers: when the customer with this
// externalId exists (a retried create whose first try committed), its gid is
// adopted and, if it differs from the desired fields, it is updated by gid;
// otherwise the conflict stands, naming the gid that holds the data.
func (c *Client) adopt(ctx context.Context, ch *engine.Change, desired engine.Fields, body []byte, conflict error) (engine.Outcome, error) {
	cust, _, err := c.send(ctx, httpx.Call{Provider: Name, Op: OpFind, ID: ch.ID}, http.MethodGet, "/customers/"+url.PathEscape(ch.ID), nil)
	switch {
	case err == nil && text(cust["externalId"]) == ch.ID && text(cust["gid"]) != "":
		gid := text(cust["gid"])
		obs := observe(cust)
		same := true
		for _, f := range desired {
			if v, ok := obs.Fields.Get(f.Name); !ok || v != f.Value {
				same = false
				break
			}
		}
		if same {
			return outcome(cust, http.StatusOK), nil
		}
		cust, status, err := c.send(ctx, httpx.Call{Provider: Name, Op: OpUpdate, ID: ch.ID}, http.MethodPut, "/customers/"+url.PathEscape(gid), body)
		if err != nil {
			return engine.Outcome{}, err
		}
		return outcome(cust, status), nil
	case err != nil && statusOf(err) != http.StatusNotFound:
		return engine.Outcome{}, err
	}
	ce := conflict.(*engine.CallError)
	msg := ce.Message
	if msg == "" {
		msg = "customer already registered"
	}
	var se *ServiceError
	if errors.As(conflict, &se) && se.GID != "" {
		msg = fmt.Sprintf("%s: the VAT number belongs to another customer, gid %s", msg, se.GID)
	} else if err == nil && text(cust["gid"]) != "" {
		msg = fmt.Sprintf("%s: gid %s has externalId %q", msg, text(cust["gid"]), text(cust["externalId"]))
	}
	out := *ce
	out.Message = msg
	return engine.Outcome{}, &out
}

// Read fetches the customer by gid (from the manifest or the state) or by
// its own id: GET /customers/{id}.
func (c *Client) Read(ctx context.Context, r *engine.Resource, ids engine.Fields) (*engine.Observed, error) {
	id := resolveID(r.ID, r.Params, ids)
	cust, _, err := c.send(ctx, httpx.Call{Provider: Name, Op: OpRead, ID: r.ID}, http.MethodGet, "/customers/"+url.PathEscape(id), nil)
	if err != nil {
		if statusOf(err) == http.StatusNotFound {
			return nil, fmt.Errorf("%s: %s: %w", Name, r.ID, engine.ErrNotFound)
		}
		return nil, err
	}
	return observe(cust), nil
}

func statusOf(err error) int {
	var ce *engine.CallError
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

// outcome is a write's result: its gid, and the customer as the answer
// shows it (what the service holds, for read-after-write verification).
func outcome(cust map[string]json.RawMessage, status int) engine.Outcome {
	out := engine.Outcome{Status: status, Held: func() *engine.Observed { return observe(cust) }}
	if gid := text(cust["gid"]); gid != "" {
		out.IDs = engine.Fields{{Name: "gid", Value: engine.String(gid)}}
	}
	return out
}

// send makes one request and decodes a JSON object answer; anything else is
// an error.
func (c *Client) send(ctx context.Context, id httpx.Call, method, path string, body []byte) (map[string]json.RawMessage, int, error) {
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	resp, data, err := c.Send(ctx, id, method, path, nil, body, contentType)
	if err != nil {
		return nil, 0, err
	}
	var obj map[string]json.RawMessage
	jerr := json.Unmarshal(data, &obj)
	if jerr == nil && obj == nil {
		jerr = errors.New("the answer is not a JSON object")
	}
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		if jerr != nil {
			e := id.StatusError(resp, httpx.Snippet(data))
			return nil, resp.StatusCode, e
		}
		se := &ServiceError{Code: text(obj["code"]), Message: text(obj["message"]), GID: text(obj["gid"])}
		e := id.StatusError(resp, se.Message)
		e.Err = se
		return nil, resp.StatusCode, e
	}
	if jerr != nil {
		return nil, resp.StatusCode, id.Failure(resp.StatusCode, "unreadable answer: "+httpx.Snippet(data), jerr)
	}
	// A success is the customer, as the documented response bodies show
	// it: with its gid. Anything else ({} included) confirms nothing.
	if text(obj["gid"]) == "" {
		return nil, resp.StatusCode, id.Failure(resp.StatusCode, "the answer is not the customer (no gid): "+httpx.Snippet(data), nil)
	}
	return obj, resp.StatusCode, nil
}

// Body is the JSON of PUT and POST: every managed field (null when cleared)
// plus externalId; never gid.
func Body(id string, desired engine.Fields) ([]byte, error) {
	m := map[string]any{"externalId": id}
	for _, f := range desired {
		k := Service.Key(f.Name)
		if k == nil || k.Param || k.Wire == "" {
			continue
		}
		if f.Value.IsNull() {
			m[k.Wire] = nil
		} else {
			m[k.Wire] = f.Value.S
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// observe maps a customer object to the provider's fields: keys the answer
// lacks are left out, null and empty text are the cleared value. phone is
// read from phone only: mobile is another field (the C# SDK's model, the
// contacts docs), which reconcile does not manage.
func observe(cust map[string]json.RawMessage) *engine.Observed {
	obs := &engine.Observed{}
	for _, k := range Service.Keys {
		if !k.Readable {
			continue
		}
		name, key := k.Field, k.Wire
		raw, ok := cust[key]
		if !ok {
			continue
		}
		v := engine.Null()
		if s := text(raw); s != "" {
			v = engine.String(s)
		}
		obs.Fields = append(obs.Fields, engine.Field{Name: name, Value: v})
	}
	obs.Fields.Sort()
	if gid := text(cust["gid"]); gid != "" {
		obs.IDs = engine.Fields{{Name: "gid", Value: engine.String(gid)}}
	}
	return obs
}

// text renders a JSON string, number or boolean as text; "" for null.
func text(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if raw[0] == '{' || raw[0] == '[' {
		return ""
	}
	return string(raw)
}
