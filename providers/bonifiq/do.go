package bonifiq

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/httpx"
)

// Do makes one attempt of call. It makes no retries: the apply engine owns
// them.
func (c *Client) Do(ctx context.Context, ch *engine.Change, call engine.Call) (engine.Outcome, error) {
	op := call.Op
	id := httpx.Call{Provider: Name, Op: op, ID: ch.ID}
	var desired, params engine.Fields
	if ch.Desired != nil {
		desired, params = ch.Desired.Fields, ch.Desired.Params
	}
	var body map[string]any
	switch op {
	case OpUpsert, OpUpdate:
		body = ProfileBody(ch.ID, desired)
	case OpChangeStatus:
		body = StatusBody(ch.Action, desired, params)
	case OpChangeTier:
		body = TierBody(desired)
	default:
		return engine.Outcome{}, fmt.Errorf("%s: %s %s: unknown operation", Name, op, ch.ID)
	}
	data, err := encode(body)
	if err != nil {
		return engine.Outcome{}, id.Failure(0, "", err)
	}
	env, resp, err := c.send(ctx, id, call.Method, call.Path, data)
	if err == nil {
		err = env.done(id, resp.StatusCode, op)
	}
	if err != nil {
		var ce *engine.CallError
		if c.SkipMissing && ch.Action == engine.ActionCreate && errors.As(err, &ce) && ce.NotFound {
			return engine.Outcome{}, engine.ErrSkipped // on_missing: skip
		}
		return engine.Outcome{}, err
	}
	out := engine.Outcome{Status: resp.StatusCode}
	if op == OpUpsert || op == OpUpdate {
		// The answer is the customer as the service now holds it: what
		// read-after-write verification compares with what was sent.
		result := env.Result
		out.Held = func() *engine.Observed {
			held, err := observe(result)
			if err != nil {
				return nil // unreadable: verified by a read instead
			}
			return held
		}
	}
	if env.warning() {
		out.Warning = env.text("the service answered with a warning")
	}
	if pid := env.publicID(); pid != "" {
		out.IDs = engine.Fields{{Name: "PublicId", Value: engine.String(pid)}}
	}
	if op == OpUpsert && enableAfterUpsert(desired, env) {
		// The customer existed before this upsert, so its status may not be
		// the new customer's default: set it, as a second request.
		status := engine.Call{Method: http.MethodPost, Path: "/v1/pvt/Customer/" + url.PathEscape(ch.ID) + "/changestatus", Op: OpChangeStatus}
		more, err := c.Do(ctx, ch, status)
		if err != nil {
			return engine.Outcome{}, err
		}
		if more.Warning != "" && out.Warning == "" {
			out.Warning = more.Warning
		}
	}
	return out, nil
}

// enableAfterUpsert reports whether an upsert that settles enabled = true
// (Calls puts it there when the desired status is the new customer's
// default) must be followed by a changestatus: when the answer does not say
// it created the customer.
func enableAfterUpsert(desired engine.Fields, env *envelope) bool {
	v, ok := desired.Get("enabled")
	if !ok || v.IsNull() || v.S != "true" {
		return false
	}
	return !strings.EqualFold(env.operation(), "created")
}

// Read fetches the customer: GET /v1/pvt/Customer/{id}. The answer shows no
// enabled flag and no tier id, so only the profile fields are observed.
func (c *Client) Read(ctx context.Context, r *engine.Resource, _ engine.Fields) (*engine.Observed, error) {
	id := httpx.Call{Provider: Name, Op: OpRead, ID: r.ID}
	env, resp, err := c.send(ctx, id, http.MethodGet, "/v1/pvt/Customer/"+url.PathEscape(r.ID), nil)
	if err == nil {
		err = env.done(id, resp.StatusCode, OpRead)
	}
	if err != nil {
		var ce *engine.CallError
		if errors.As(err, &ce) && ce.NotFound {
			return nil, fmt.Errorf("%s: %s: %w", Name, r.ID, engine.ErrNotFound)
		}
		return nil, err
	}
	obs, err := observe(env.Result)
	if err != nil {
		return nil, id.Failure(http.StatusOK, "unreadable customer in the answer", err)
	}
	return obs, nil
}

// send makes one request and checks the envelope: a failure is HTTP >= 400,
// HasError, or Severity 2 (the vendor's own client does the same).
func (c *Client) send(ctx context.Context, id httpx.Call, method, path string, body []byte) (*envelope, *http.Response, error) {
	contentType := ""
	if body != nil {
		contentType = "application/json"
	}
	resp, data, err := c.Send(ctx, id, method, path, nil, body, contentType)
	if err != nil {
		return nil, nil, err
	}
	var env envelope
	jerr := json.Unmarshal(data, &env)
	switch {
	case resp.StatusCode >= 400:
		msg := ""
		if jerr == nil {
			msg = env.text("")
		} else {
			msg = httpx.Snippet(data)
		}
		e := id.StatusError(resp, msg)
		e.NotFound = resp.StatusCode == http.StatusNotFound || jerr == nil && env.notFound()
		return nil, resp, e
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		return nil, resp, id.Failure(resp.StatusCode, "unexpected answer", nil)
	case jerr != nil:
		return nil, resp, id.Failure(resp.StatusCode, "unreadable answer: "+httpx.Snippet(data), jerr)
	case env.failed():
		e := id.Failure(resp.StatusCode, env.text("the service reported an error"), nil)
		e.NotFound = env.notFound()
		return nil, resp, e
	}
	env.raw = data
	return &env, resp, nil
}

// The answers BonifiQ gives, as reconcile reads them (README lists them):
//
//   - a failure: an HTTP status >= 400, or a 200 whose envelope has
//     HasError or Severity 2 (BonifiQ's own client does the same);
//   - "no such customer": a 404, or any answer whose CodeName is
//     Customer_NotFound (BonifiQ documents only 200 answers, and its
//     example integration answers not-found as a 200 envelope, with
//     HasError and Severity 2, or as a warning, Severity 1, with no Result);
//   - success: for GET, PUT and upsert, a Result that is the customer (an
//     object); for changestatus and changetier, Result true, or a warning
//     whose code says the service already holds what was asked
//     (Customer_StatusUnchanged). Anything else (Result null or false, a
//     warning that nothing was done, an empty or null body) did nothing:
//     the call fails with the service's words and a snippet of the answer.
var alreadySo = []string{"Customer_StatusUnchanged", "Customer_TierUnchanged"}

// done checks that a 2xx answer to op says it was done (see above).
func (e *envelope) done(id httpx.Call, status int, op string) error {
	result := bytes.TrimSpace(e.Result)
	switch op {
	case OpChangeStatus, OpChangeTier:
		if string(result) == "true" {
			return nil
		}
		if e.warning() && e.codeIn(alreadySo) {
			return nil
		}
	default:
		if len(result) > 0 && result[0] == '{' {
			return nil
		}
	}
	msg := e.text("")
	what := "the answer does not say it was done"
	if msg != "" {
		what = msg + ": the service did nothing"
	}
	f := id.Failure(status, what+" (answer: "+httpx.Snippet(e.raw)+")", nil)
	f.NotFound = e.notFound()
	if !f.NotFound && op != OpRead {
		f.Message += "; run reconcile plan -refresh to see what it holds"
	}
	return f
}

// notFound reports whether the envelope says there is no such customer.
func (e *envelope) notFound() bool { return e.codeIn([]string{"Customer_NotFound"}) }

// codeIn reports whether the envelope's CodeName is one of names.
func (e *envelope) codeIn(names []string) bool {
	if e.CodeName == nil {
		return false
	}
	for _, n := range names {
		if strings.EqualFold(strings.TrimSpace(*e.CodeName), n) {
			return true
		}
	}
	return false
}

// operation returns the upsert's Result.Operation ("created", "updated"),
// or "" when the answer does not say.
func (e *envelope) operation() string {
	if len(e.Result) == 0 || e.Result[0] != '{' {
		return ""
	}
	var r struct {
		Operation string `json:"Operation"`
	}
	json.Unmarshal(e.Result, &r)
	return r.Operation
}

// envelope is the answer of every call.
type envelope struct {
	ErrorMessage *string         `json:"ErrorMessage"`
	ErrorCode    json.RawMessage `json:"ErrorCode"`
	Result       json.RawMessage `json:"Result"`
	Code         json.RawMessage `json:"Code"`
	CodeName     *string         `json:"CodeName"`
	Severity     json.RawMessage `json:"Severity"`
	HasWarning   bool            `json:"HasWarning"`
	HasError     bool            `json:"HasError"`

	raw []byte // the whole answer, for messages
}

// severity returns 0 (success), 1 (warning) or 2 (error); it accepts the
// enum as a number or by name.
func (e *envelope) severity() int {
	s := strings.Trim(string(e.Severity), `"`)
	switch strings.ToLower(s) {
	case "1", "warning":
		return 1
	case "2", "error":
		return 2
	}
	return 0
}

func (e *envelope) failed() bool  { return e.HasError || e.severity() == 2 }
func (e *envelope) warning() bool { return e.HasWarning || e.severity() == 1 }

// text returns the service's words: ErrorMessage, else CodeName, else Code.
func (e *envelope) text(def string) string {
	if e.ErrorMessage != nil && strings.TrimSpace(*e.ErrorMessage) != "" {
		return strings.TrimSpace(*e.ErrorMessage)
	}
	if e.CodeName != nil && *e.CodeName != "" {
		return *e.CodeName
	}
	if code := rawText(e.Code); code != "" {
		return "code " + code
	}
	return def
}

func (e *envelope) publicID() string {
	if len(e.Result) == 0 || e.Result[0] != '{' {
		return ""
	}
	var r struct {
		PublicID json.RawMessage `json:"PublicId"`
	}
	if json.Unmarshal(e.Result, &r) != nil {
		return ""
	}
	return rawText(r.PublicID)
}

// rawText renders a JSON string or number as text; "" for null or absent.
func rawText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func encode(body map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// ProfileBody is the body of PUT /v1/pvt/Customer/{id} and of upsert:
// OriginalId and every managed profile field, null for a cleared one.
func ProfileBody(id string, desired engine.Fields) map[string]any {
	body := map[string]any{"OriginalId": id}
	wireFields(body, callProfile, desired)
	return body
}

// StatusBody is the body of changestatus: IsEnabled (false for a disable)
// and Reason.
func StatusBody(action engine.Action, desired, params engine.Fields) map[string]any {
	enabled := false
	if action != engine.ActionDisable {
		if v, ok := desired.Get("enabled"); ok {
			enabled = boolean(v).(bool)
		}
	}
	reason := DefaultReason
	if v, ok := params.Get("status_reason"); ok && !v.IsNull() && strings.TrimSpace(v.S) != "" {
		reason = v.S
	}
	return map[string]any{"IsEnabled": enabled, "Reason": reason}
}

// TierBody is the body of changetier: TierId and the managed grace fields.
func TierBody(desired engine.Fields) map[string]any {
	body := map[string]any{}
	wireFields(body, callTier, desired)
	return body
}

// wireFields puts the desired fields that call settles into body, under
// their wire names (Service.Keys), encoded by their type.
func wireFields(body map[string]any, call string, desired engine.Fields) {
	for _, f := range desired {
		if k := Service.Key(f.Name); k != nil && k.Call == call && !k.Param {
			body[k.Wire] = wireValue(k.Type, f.Value)
		}
	}
}

// wireValue encodes v as the service takes a value of type t: null for a
// cleared one, a birthday at midnight UTC, instants in RFC 3339 UTC.
func wireValue(t engine.Type, v engine.Value) any {
	switch t {
	case engine.TypeBool:
		return boolean(v)
	case engine.TypeInt:
		return integer(v)
	case engine.TypeDate:
		if v.IsNull() {
			return nil
		}
		return v.S + "T00:00:00Z"
	case engine.TypeTime:
		return instant(v)
	}
	return str(v)
}

func str(v engine.Value) any {
	if v.IsNull() {
		return nil
	}
	return v.S
}

func boolean(v engine.Value) any {
	if v.IsNull() {
		return nil
	}
	return v.S == "true"
}

func integer(v engine.Value) any {
	if v.IsNull() {
		return nil
	}
	n, err := strconv.ParseInt(v.S, 10, 64)
	if err != nil {
		return v.S
	}
	return n
}

// instant sends a time in RFC 3339, UTC.
func instant(v engine.Value) any {
	if v.IsNull() {
		return nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v.S); err == nil {
		return t.UTC().Format(time.RFC3339Nano)
	}
	if t, err := time.Parse(time.DateOnly, v.S); err == nil {
		return t.Format(time.RFC3339)
	}
	return v.S
}

// observe maps a read result to the provider's fields. Keys the answer
// does not carry are left out; null and empty text are the cleared value.
func observe(result json.RawMessage) (*engine.Observed, error) {
	var r map[string]json.RawMessage
	if err := json.Unmarshal(result, &r); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, errors.New("no Result")
	}
	obs := &engine.Observed{}
	for _, k := range Service.Keys {
		if !k.Readable {
			continue
		}
		raw, ok := r[k.Wire]
		if !ok {
			continue
		}
		v, err := readValue(k.Type, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.Wire, err)
		}
		if v != nil {
			obs.Fields = append(obs.Fields, engine.Field{Name: k.Field, Value: *v})
		}
	}
	obs.Fields.Sort()
	if pid := rawText(r["PublicId"]); pid != "" {
		obs.IDs = engine.Fields{{Name: "PublicId", Value: engine.String(pid)}}
	}
	return obs, nil
}

// readValue decodes a read's value of type t. Null and empty text are the
// cleared value; a null boolean is left out (nil).
func readValue(t engine.Type, raw json.RawMessage) (*engine.Value, error) {
	if t == engine.TypeBool {
		if string(raw) == "null" {
			return nil, nil
		}
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, err
		}
		v := engine.Bool(b)
		return &v, nil
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	v := engine.Null()
	if s == nil || *s == "" {
		return &v, nil
	}
	switch t {
	case engine.TypeDate, engine.TypeTime:
		at, err := parseTime(*s)
		if err != nil {
			return nil, err
		}
		if t == engine.TypeDate {
			// A birthday is a calendar date: the service keeps it at
			// midnight, and its date part is the date, whatever the offset.
			v = engine.String(at.Format(time.DateOnly))
		} else {
			v = engine.String(at.UTC().Format(time.RFC3339Nano))
		}
	default:
		v = engine.String(*s)
	}
	return &v, nil
}

// parseTime reads the service's date-times, which may lack an offset (then
// UTC) or carry fractions.
func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}
