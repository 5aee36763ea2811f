package bonifiq

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
)

// The sandbox credentials: obviously fake, accepted only by the simulator.
const (
	SandboxToken = "sandbox-token"
	SandboxKey   = "sandbox-key"
)

// Request is one request the simulator answered.
type Request = simkit.Request

// Tier is one tier of the simulated loyalty program.
type Tier struct {
	ID    int32
	Name  string
	Color string
}

// Tiers are the simulator's tiers; a TierId outside them is Tier_NotFound.
var Tiers = []Tier{{1, "Bronze", "#cd7f32"}, {2, "Silver", "#c0c0c0"}, {3, "Gold", "#ffd700"}, {4, "Diamond", "#b9f2ff"}}

// Customer is one customer as the simulator holds it. Nil pointers are
// fields the customer does not have.
type Customer struct {
	OriginalId          string  `json:"OriginalId"`
	PublicId            string  `json:"PublicId"`
	Name                string  `json:"Name"`
	Email               *string `json:"Email"`
	Phone               *string `json:"Phone"`
	Document            *string `json:"Document"`
	BirthdayDate        *string `json:"BirthdayDate"` // RFC 3339, UTC
	SignupDate          *string `json:"SignupDate"`   // RFC 3339, UTC
	IsEnrolled          bool    `json:"IsEnrolled"`
	IsEnabled           bool    `json:"IsEnabled"`
	StatusReason        string  `json:"StatusReason,omitempty"`
	TierId              int32   `json:"TierId"`
	GracePeriodInDays   *int32  `json:"GracePeriodInDays"`
	GracePeriodComments *string `json:"GracePeriodComments"`
}

// Snapshot is the simulator's data, for persistence (it marshals to JSON).
type Snapshot struct {
	Customers []Customer `json:"customers"`
	NextID    int64      `json:"next_id"`
}

// SimOptions configures a simulator.
type SimOptions struct {
	// Token and Key are the accepted credentials; empty means the sandbox's.
	Token, Key string
	// Now is the clock for the request log; nil means time.Now.
	Now func() time.Time
	// NotFoundAs200 answers "no such customer" as BonifiQ's example
	// integration does, with HTTP 200: a GET with HasError and Severity 2,
	// a PUT, changestatus or changetier with a warning (Severity 1) and no
	// Result, both with CodeName Customer_NotFound. Without it, a 404.
	NotFoundAs200 bool
}

// Sim simulates the BonifiQ private API's customer endpoints. It is an
// http.Handler serving paths relative to the API root (/v1/pvt/...).
type Sim struct {
	auth    string
	alt     bool
	now     func() time.Time
	log     simkit.Log
	handler http.Handler

	mu        sync.Mutex
	customers map[string]*Customer
	nextID    int64
}

// NewSim returns an empty simulator.
func NewSim(opts SimOptions) *Sim {
	if opts.Token == "" {
		opts.Token, opts.Key = SandboxToken, SandboxKey
	}
	s := &Sim{
		auth:      "Basic " + base64.StdEncoding.EncodeToString([]byte(opts.Token+":"+opts.Key)),
		alt:       opts.NotFoundAs200,
		now:       simkit.Now(opts.Now),
		customers: map[string]*Customer{},
		nextID:    1,
	}
	s.handler = simkit.Record(&s.log, s.now, http.HandlerFunc(s.serve))
	return s
}

// ServeHTTP answers one request.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Requests returns the requests answered so far.
func (s *Sim) Requests() []Request { return s.log.Entries() }

// Snapshot returns a copy of the data.
func (s *Sim) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{NextID: s.nextID, Customers: make([]Customer, 0, len(s.customers))}
	for _, c := range s.customers {
		snap.Customers = append(snap.Customers, *c)
	}
	slices.SortFunc(snap.Customers, func(a, b Customer) int { return strings.Compare(a.OriginalId, b.OriginalId) })
	return snap
}

// Restore replaces the data with snap.
func (s *Sim) Restore(snap Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customers = make(map[string]*Customer, len(snap.Customers))
	for _, c := range snap.Customers {
		s.customers[c.OriginalId] = &c
	}
	s.nextID = max(snap.NextID, int64(len(snap.Customers))+1)
}

// Customer returns a copy of the customer with this OriginalId.
func (s *Sim) Customer(id string) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[id]
	if !ok {
		return Customer{}, false
	}
	return *c, true
}

// Edit changes a customer directly, as the service's admin would (drift).
// With create, a missing customer is created first.
func (s *Sim) Edit(id string, create bool, edit func(*Customer)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.customers[id]
	if !ok {
		if !create {
			return fmt.Errorf("bonifiq sim: no customer %q", id)
		}
		c = s.newCustomer(id)
	}
	edit(c)
	c.OriginalId = id
	return nil
}

func (s *Sim) newCustomer(id string) *Customer {
	c := &Customer{OriginalId: id, PublicId: fmt.Sprintf("bq-%06d", s.nextID), IsEnabled: true, TierId: 1}
	s.nextID++
	s.customers[id] = c
	return c
}

// answer is the envelope; the seeds show two shapes, the short one for
// customer data and the full one for actions.
type answer struct {
	ErrorMessage *string `json:"ErrorMessage"`
	ErrorCode    *int    `json:"ErrorCode"`
	Result       any     `json:"Result"`
	Code         *string `json:"Code,omitempty"`
	CodeName     *string `json:"CodeName,omitempty"`
	Severity     *int    `json:"Severity,omitempty"`
	HasWarning   *bool   `json:"HasWarning,omitempty"`
	HasError     bool    `json:"HasError"`
}

func ptr[T any](v T) *T { return &v }

// fail answers an error envelope.
func fail(w http.ResponseWriter, status int, code, codeName, message string) {
	a := answer{HasError: true, Result: nil, Severity: ptr(2), HasWarning: ptr(false)}
	if message != "" {
		a.ErrorMessage = &message
	}
	if status >= 400 {
		a.ErrorCode = ptr(status)
	}
	if code != "" {
		a.Code, a.CodeName = &code, &codeName
	}
	simkit.JSON(w, status, a)
}

// notFound answers that there is no such customer: a 404, or with
// NotFoundAs200 a 200 envelope (an error for a read, a warning with no
// Result for a write).
func (s *Sim) notFound(w http.ResponseWriter, read bool) {
	switch {
	case !s.alt:
		fail(w, http.StatusNotFound, "01", "Customer_NotFound", "Customer not found")
	case read:
		fail(w, http.StatusOK, "01", "Customer_NotFound", "Customer not found")
	default:
		code, name := "01", "Customer_NotFound"
		simkit.JSON(w, http.StatusOK, answer{Result: nil, Code: &code, CodeName: &name, Severity: ptr(1), HasWarning: ptr(true)})
	}
}

// action answers changestatus and changetier.
func action(w http.ResponseWriter, result bool, severity int, code, codeName string) {
	simkit.JSON(w, http.StatusOK, answer{Result: result, Code: &code, CodeName: &codeName, Severity: &severity,
		HasWarning: ptr(severity == 1), HasError: severity == 2})
}

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" || !simkit.Equal(r.Header.Get("Authorization"), s.auth) {
		fail(w, http.StatusUnauthorized, "", "", "Authorization has been denied for this request.")
		return
	}
	seg, err := simkit.Segments(r.URL.EscapedPath())
	if err != nil || len(seg) < 4 || len(seg) > 5 || seg[0] != "v1" || seg[1] != "pvt" || seg[2] != "Customer" {
		fail(w, http.StatusNotFound, "", "", "No HTTP resource was found that matches the request URI.")
		return
	}
	id, verb := seg[3], ""
	if len(seg) == 5 {
		verb = seg[4]
	}
	route := r.Method + " " + verb
	if id == "upsert" && verb == "" && r.Method == http.MethodPost {
		route = "POST upsert"
	}
	switch route {
	case "GET ", "PUT ", "POST upsert", "POST changestatus", "POST changetier":
	default:
		if verb != "" && verb != "changestatus" && verb != "changetier" {
			fail(w, http.StatusNotFound, "", "", "No HTTP resource was found that matches the request URI.")
			return
		}
		w.Header().Set("Allow", map[bool]string{true: "GET, PUT", false: "POST"}[verb == ""])
		fail(w, http.StatusMethodNotAllowed, "", "", fmt.Sprintf("The requested resource does not support http method '%s'.", r.Method))
		return
	}
	if r.Method != http.MethodGet && !simkit.IsJSON(r) {
		fail(w, http.StatusUnsupportedMediaType, "", "", "The request entity's media type is not supported; send application/json.")
		return
	}
	var body map[string]json.RawMessage
	if r.Method != http.MethodGet {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		if err := dec.Decode(&body); err != nil || body == nil {
			fail(w, http.StatusBadRequest, "", "", "The request body is not a valid JSON object.")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch route {
	case "GET ":
		c, ok := s.customers[id]
		if !ok {
			s.notFound(w, true)
			return
		}
		simkit.JSON(w, http.StatusOK, answer{Result: view(c)})
	case "PUT ", "POST upsert":
		s.save(w, id, route == "POST upsert", body)
	case "POST changestatus":
		s.changeStatus(w, id, body)
	case "POST changetier":
		s.changeTier(w, id, body)
	}
}

// view is a customer as the API shows it: no enabled flag, and the tier by
// name only.
func view(c *Customer) map[string]any {
	tier := Tiers[0]
	for _, t := range Tiers {
		if t.ID == c.TierId {
			tier = t
		}
	}
	return map[string]any{
		"OriginalId": c.OriginalId, "PublicId": c.PublicId, "Name": c.Name, "Email": c.Email, "Phone": c.Phone,
		"BirthdayDate": c.BirthdayDate, "SignupDate": c.SignupDate, "Document": c.Document, "IsEnrolled": c.IsEnrolled,
		"ReferralURL":         "https://sandbox.bonifiq.invalid/r/" + c.PublicId,
		"WhatsappReferralUrl": "https://sandbox.bonifiq.invalid/w/" + c.PublicId,
		"CurrentTier":         map[string]any{"Name": tier.Name, "Color": tier.Color, "IconUrl": "https://sandbox.bonifiq.invalid/tier/" + strings.ToLower(tier.Name) + ".png"},
	}
}

// profileKeys are the keys PUT and upsert accept.
var profileKeys = []string{"OriginalId", "Name", "Email", "Phone", "BirthdayDate", "SignupDate", "Document", "IsEnrolled"}

// save handles PUT /Customer/{id} (the customer must exist) and upsert
// (OriginalId in the body; created when missing).
func (s *Sim) save(w http.ResponseWriter, pathID string, upsert bool, body map[string]json.RawMessage) {
	for k := range body {
		if !slices.Contains(profileKeys, k) {
			fail(w, http.StatusBadRequest, "", "", fmt.Sprintf("Unknown field %q.", k))
			return
		}
	}
	var bodyID *string
	if err := decode(body, "OriginalId", &bodyID); err != nil {
		fail(w, http.StatusBadRequest, "", "", err.Error())
		return
	}
	id := pathID
	switch {
	case upsert && (bodyID == nil || *bodyID == ""):
		fail(w, http.StatusBadRequest, "", "", "OriginalId is required.")
		return
	case upsert:
		id = *bodyID
	case bodyID != nil && *bodyID != pathID:
		fail(w, http.StatusBadRequest, "", "", "OriginalId in the body differs from the one in the path.")
		return
	}
	existing, ok := s.customers[id]
	if !ok && !upsert {
		s.notFound(w, false)
		return
	}
	c := Customer{OriginalId: id, IsEnabled: true, TierId: 1}
	if ok {
		c = *existing
	}
	if err := applyProfile(&c, body, !ok); err != nil {
		fail(w, http.StatusBadRequest, "", "", err.Error())
		return
	}
	op := "updated"
	if !ok {
		op = "created"
		existing = s.newCustomer(id)
		c.PublicId = existing.PublicId
	}
	*existing = c
	result := view(existing)
	if upsert {
		result["Operation"] = op
	}
	simkit.JSON(w, http.StatusOK, answer{Result: result})
}

// applyProfile sets the profile fields present in body on c, checking them; a new
// customer needs a Name.
func applyProfile(c *Customer, body map[string]json.RawMessage, isNew bool) error {
	var name *string
	if err := decode(body, "Name", &name); err != nil {
		return err
	}
	if _, present := body["Name"]; present || isNew {
		if name == nil || strings.TrimSpace(*name) == "" {
			return fmt.Errorf("Name is required.")
		}
		if utf8.RuneCountInString(*name) > 250 {
			return fmt.Errorf("Name is longer than 250 characters.")
		}
		c.Name = *name
	}
	for key, dst := range map[string]**string{"Email": &c.Email, "Phone": &c.Phone, "Document": &c.Document} {
		if _, present := body[key]; !present {
			continue
		}
		var v *string
		if err := decode(body, key, &v); err != nil {
			return err
		}
		if v != nil && *v == "" {
			v = nil
		}
		if v != nil && utf8.RuneCountInString(*v) > 250 {
			return fmt.Errorf("%s is longer than 250 characters.", key)
		}
		if key == "Email" && v != nil && !strings.Contains(*v, "@") {
			return fmt.Errorf("Email %q is not a valid e-mail address.", *v)
		}
		*dst = v
	}
	for key, dst := range map[string]**string{"BirthdayDate": &c.BirthdayDate, "SignupDate": &c.SignupDate} {
		if _, present := body[key]; !present {
			continue
		}
		var v *string
		if err := decode(body, key, &v); err != nil {
			return err
		}
		if v == nil {
			*dst = nil
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, *v)
		if err != nil {
			return fmt.Errorf("%s %q is not a date-time.", key, *v)
		}
		*dst = ptr(t.UTC().Format(time.RFC3339Nano))
	}
	if _, present := body["IsEnrolled"]; present {
		var v *bool
		if err := decode(body, "IsEnrolled", &v); err != nil || v == nil {
			return fmt.Errorf("IsEnrolled must be true or false.")
		}
		c.IsEnrolled = *v
	}
	return nil
}

// decode reads body[key] into dst; an absent key leaves dst alone.
func decode(body map[string]json.RawMessage, key string, dst any) error {
	raw, ok := body[key]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, dst); err != nil {
		return fmt.Errorf("%s has the wrong type: %s.", key, bytes.TrimSpace(raw))
	}
	return nil
}

func (s *Sim) changeStatus(w http.ResponseWriter, id string, body map[string]json.RawMessage) {
	for k := range body {
		if k != "IsEnabled" && k != "Reason" {
			fail(w, http.StatusBadRequest, "", "", fmt.Sprintf("Unknown field %q.", k))
			return
		}
	}
	var enabled *bool
	var reason *string
	if err := decode(body, "IsEnabled", &enabled); err != nil || enabled == nil {
		fail(w, http.StatusBadRequest, "", "", "IsEnabled must be true or false.")
		return
	}
	if err := decode(body, "Reason", &reason); err != nil {
		fail(w, http.StatusBadRequest, "", "", err.Error())
		return
	}
	c, ok := s.customers[id]
	if !ok {
		s.notFound(w, false)
		return
	}
	if c.IsEnabled == *enabled {
		action(w, false, 1, "03", "Customer_StatusUnchanged")
		return
	}
	c.IsEnabled = *enabled
	if reason != nil {
		c.StatusReason = *reason
	}
	action(w, true, 0, "00", "Success")
}

func (s *Sim) changeTier(w http.ResponseWriter, id string, body map[string]json.RawMessage) {
	for k := range body {
		if k != "TierId" && k != "GracePeriodInDays" && k != "GracePeriodComments" {
			fail(w, http.StatusBadRequest, "", "", fmt.Sprintf("Unknown field %q.", k))
			return
		}
	}
	var tier *int32
	var days *int32
	var comments *string
	if err := decode(body, "TierId", &tier); err != nil || tier == nil {
		fail(w, http.StatusBadRequest, "", "", "TierId is required.")
		return
	}
	if err := decode(body, "GracePeriodInDays", &days); err != nil || (days != nil && *days < 0) {
		fail(w, http.StatusBadRequest, "", "", "GracePeriodInDays must be a whole number of days, 0 or more.")
		return
	}
	if err := decode(body, "GracePeriodComments", &comments); err != nil {
		fail(w, http.StatusBadRequest, "", "", err.Error())
		return
	}
	c, ok := s.customers[id]
	if !ok {
		s.notFound(w, false)
		return
	}
	if !slices.ContainsFunc(Tiers, func(t Tier) bool { return t.ID == *tier }) {
		action(w, false, 2, "02", "Tier_NotFound")
		return
	}
	c.TierId = *tier
	if _, ok := body["GracePeriodInDays"]; ok {
		c.GracePeriodInDays = days
	}
	if _, ok := body["GracePeriodComments"]; ok {
		c.GracePeriodComments = comments
	}
	action(w, true, 0, "00", "Success")
}
