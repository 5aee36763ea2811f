package tomticket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// FormField is one field of a multipart form, in the order sent.
type FormField struct{ Key, Value string }

// UpdateForm is the form of customer/update: customer_id, customer_type_id
// and the named fields (cleared ones empty).
func UpdateForm(id string, typ string, desired engine.Fields, names []string) []FormField {
	form := []FormField{{"customer_id", id}, {"customer_type_id", typ}}
	for _, n := range names {
		v, ok := desired.Get(n)
		if !ok {
			continue
		}
		form = append(form, FormField{formKey(n), formValue(n, v)})
	}
	return form
}

// NewForm is the form of customer/new: customer_id and every managed field
// that has a value, except internal_id (customer/new takes none, nor a
// customer_type_id). A customer identified by e-mail gets its id as e-mail
// when the manifest does not manage one, so it can be found by it.
func NewForm(id, typ string, desired engine.Fields) []FormField {
	form := []FormField{{"customer_id", id}}
	for _, f := range desired {
		if f.Name == "internal_id" || f.Value.IsNull() {
			continue
		}
		form = append(form, FormField{formKey(f.Name), formValue(f.Name, f.Value)})
	}
	if _, ok := desired.Get("email"); !ok && typ == "E" {
		form = append(form, FormField{"email", id})
	}
	return form
}

// Do makes one attempt of call. An update is POST /customer/update. A
// create is "update, and on not-found, new", or, when the plan saw the
// customer missing or most creates of this apply so far were new
// customers, "new, and on already-exists, update" (Creates): one request
// where reconcile can know, two at most. A customer identified by e-mail
// whose internal_id is managed gets it by a customer/update after
// customer/new (which takes none).
func (c *Client) Do(ctx context.Context, ch *engine.Change, call engine.Call) (engine.Outcome, error) {
	var desired, params engine.Fields
	if ch.Desired != nil {
		desired, params = ch.Desired.Fields, ch.Desired.Params
	}
	typ := idType(params, ch.IDs)
	op, names := call.Op, call.Fields
	update := func() (int, error) {
		return c.post(ctx, httpx.Call{Provider: Name, Op: op, ID: ch.ID}, "/customer/update", UpdateForm(ch.ID, typ, desired, names))
	}
	create := func() (int, error) {
		status, err := c.post(ctx, httpx.Call{Provider: Name, Op: OpNew, ID: ch.ID}, "/customer/new", NewForm(ch.ID, typ, desired))
		if v, ok := desired.Get("internal_id"); err == nil && ok && !v.IsNull() && typ == "E" {
			status, err = c.post(ctx, httpx.Call{Provider: Name, Op: OpUpdate, ID: ch.ID}, "/customer/update",
				UpdateForm(ch.ID, typ, desired, []string{"internal_id"}))
		}
		return status, err
	}
	var status int
	var err error
	switch {
	case op != OpCreate:
		status, err = update()
	case c.SkipMissing:
		// on_missing: skip: update the customer if TomTicket has it.
		if status, err = update(); isNotFound(err) {
			return engine.Outcome{}, engine.ErrSkipped
		}
	case call.Path == pathNew || c.Creates.NewFirst():
		status, err = create()
		if alreadyExists(err) {
			c.Creates.Existed()
			status, err = update()
		} else if err == nil {
			c.Creates.New()
		}
	default:
		status, err = update()
		if isNotFound(err) {
			c.Creates.New()
			status, err = create()
		} else if err == nil {
			c.Creates.Existed()
		}
	}
	if err != nil {
		return engine.Outcome{}, err
	}
	idt := "internal"
	if typ == "E" {
		idt = "email"
	}
	return engine.Outcome{Status: status, IDs: engine.Fields{{Name: "id_type", Value: engine.String(idt)}}}, nil
}

// Read fetches the customer: GET /customer/details.
func (c *Client) Read(ctx context.Context, r *engine.Resource, ids engine.Fields) (*engine.Observed, error) {
	q := url.Values{"customer_id": {r.ID}, "customer_type_id": {idType(r.Params, ids)}}
	id := httpx.Call{Provider: Name, Op: OpRead, ID: r.ID}
	ans, _, err := c.send(ctx, id, http.MethodGet, "/customer/details", q, nil, "")
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: %s: %w", Name, r.ID, engine.ErrNotFound)
		}
		return nil, err
	}
	var data map[string]json.RawMessage
	if err := json.Unmarshal(ans.Data, &data); err != nil || data == nil {
		return nil, id.Failure(http.StatusOK, "the answer has no customer data", err)
	}
	obs := &engine.Observed{}
	for _, k := range Service.Keys {
		if !k.Readable {
			continue
		}
		raw, ok := data[k.Wire]
		if !ok {
			continue
		}
		v := engine.Null()
		if k.Type == engine.TypeBool {
			if b, ok := lenientBool(raw); ok {
				v = engine.Bool(b)
			}
		} else if s := text(raw); s != "" {
			v = engine.String(s)
		}
		obs.Fields = append(obs.Fields, engine.Field{Name: k.Field, Value: v})
	}
	obs.Fields.Sort()
	idt := "internal"
	if idType(r.Params, ids) == "E" {
		idt = "email"
	}
	obs.IDs = engine.Fields{{Name: "id_type", Value: engine.String(idt)}}
	return obs, nil
}

func statusOf(err error) int {
	var ce *engine.CallError
	if errors.As(err, &ce) {
		return ce.Status
	}
	return 0
}

// post sends form as multipart/form-data.
func (c *Client) post(ctx context.Context, id httpx.Call, path string, form []FormField) (int, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, f := range form {
		if err := w.WriteField(f.Key, f.Value); err != nil {
			return 0, id.Failure(0, "", err)
		}
	}
	if err := w.Close(); err != nil {
		return 0, id.Failure(0, "", err)
	}
	_, status, err := c.send(ctx, id, http.MethodPost, path, nil, buf.Bytes(), w.FormDataContentType())
	return status, err
}

// answer is the body of every answer: {error, message, data, ...}.
type answer struct {
	Error   json.RawMessage `json:"error"`
	Message json.RawMessage `json:"message"`
	Success json.RawMessage `json:"success"`
	Data    json.RawMessage `json:"data"`
}

// The answers TomTicket gives, as reconcile reads them (README lists them).
// Its pages list a 404 but report every failure as {"error": true,
// "message": ...}, and no public client settles which one the service
// uses for an unknown customer, so both are read:
//
//   - success: a 2xx whose body says so: "error": false or "success": true
//     (an empty object, or a body without either, confirms nothing and
//     fails the call with a snippet of it);
//   - "no such customer": a 404, or "error": true with a message that says
//     the customer was not found ("Cliente não encontrado", "not found");
//   - "already exists" (customer/new for a customer it has): "error": true
//     with a message that says so ("Cliente já cadastrado", "Cliente já
//     existe", "already exists");
//   - any other "error": true, or a non-2xx status: a failure with the
//     service's message (429 and 5xx retried, 401 and 403 stop the service).
var (
	notFoundWords = []string{"não encontrado", "nao encontrado", "not found", "inexistente", "não existe", "nao existe"}
	existsWords   = []string{"já cadastrado", "ja cadastrado", "já existe", "ja existe", "already exists", "already registered", "já está cadastrado"}
)

func hasAny(msg string, words []string) bool {
	msg = strings.ToLower(msg)
	for _, w := range words {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}

// isNotFound reports whether err is TomTicket's "no such customer".
func isNotFound(err error) bool {
	var ce *engine.CallError
	return errors.As(err, &ce) && ce.NotFound
}

// alreadyExists reports whether err is customer/new's "already exists".
func alreadyExists(err error) bool {
	var ce *engine.CallError
	return errors.As(err, &ce) && !ce.NotFound && ce.Status >= 200 && ce.Status < 300 && hasAny(ce.Message, existsWords)
}

// send makes one request and checks the answer (see above).
func (c *Client) send(ctx context.Context, id httpx.Call, method, path string, q url.Values, body []byte, contentType string) (*answer, int, error) {
	resp, data, err := c.Send(ctx, id, method, path, q, body, contentType)
	if err != nil {
		return nil, 0, err
	}
	var ans answer
	jerr := json.Unmarshal(data, &ans)
	if jerr == nil && !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		jerr = errors.New("the answer is not a JSON object")
	}
	msg := text(ans.Message)
	if jerr != nil {
		msg = httpx.Snippet(data)
	}
	failed, stated := lenientBool(ans.Error)
	switch {
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		e := id.StatusError(resp, msg)
		e.NotFound = resp.StatusCode == http.StatusNotFound || failed && hasAny(msg, notFoundWords)
		return nil, resp.StatusCode, e
	case jerr != nil:
		return nil, resp.StatusCode, id.Failure(resp.StatusCode, "unreadable answer: "+msg, jerr)
	case failed:
		if msg == "" {
			msg = "the service reported an error"
		}
		e := id.Failure(resp.StatusCode, msg, nil)
		e.NotFound = hasAny(msg, notFoundWords)
		return nil, resp.StatusCode, e
	}
	if ok, _ := lenientBool(ans.Success); !ok && !stated {
		return nil, resp.StatusCode, id.Failure(resp.StatusCode, "the answer does not say it was done: "+httpx.Snippet(data), nil)
	}
	return &ans, resp.StatusCode, nil
}

// text renders a JSON string, number or boolean as text; "" for null.
func text(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	if raw[0] == '{' || raw[0] == '[' {
		return ""
	}
	return string(raw)
}

// lenientBool reads true/false, 1/0 and "true"/"1"/"sim" alike; ok is false
// for null, empty or anything else.
func lenientBool(raw json.RawMessage) (b, ok bool) {
	switch strings.ToLower(text(raw)) {
	case "true", "1", "yes", "sim", "s", "y":
		return true, true
	case "false", "0", "no", "não", "nao", "n":
		return false, true
	}
	return false, false
}
