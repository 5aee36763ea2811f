package invisiblecollector

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
)

// SandboxToken is the sandbox credential: obviously fake, accepted only by
// the simulator.
const SandboxToken = "sandbox-token"

// Request is one request the simulator answered.
type Request = simkit.Request

// Locales are the locales the service accepts.
var Locales = []string{"pt", "es", "en", "fr-fr", "de", "zh-CN"}

// Customer is one customer as the simulator holds it; nil is a field the
// customer does not have.
type Customer struct {
	Gid        string  `json:"gid"`
	ExternalId *string `json:"externalId"`
	Name       string  `json:"name"`
	VatNumber  *string `json:"vatNumber"`
	Address    *string `json:"address"`
	ZipCode    *string `json:"zipCode"`
	City       *string `json:"city"`
	Country    string  `json:"country"`
	Email      *string `json:"email"`
	Phone      *string `json:"phone"`
	Mobile     *string `json:"mobile,omitempty"`
	Locale     *string `json:"locale"`
}

// Snapshot is the simulator's data, for persistence (it marshals to JSON).
type Snapshot struct {
	Customers []Customer `json:"customers"`
	Next      int64      `json:"next"`
}

// SimOptions configures a simulator.
type SimOptions struct {
	// Token is the accepted credential; empty means SandboxToken.
	Token string
	// Now is the clock for the request log; nil means time.Now.
	Now func() time.Time
	// Seed makes the gids the simulator hands out differ between sandboxes.
	Seed int64
}

// Sim simulates InvisibleCollector's customer endpoints. It is an
// http.Handler serving paths relative to the API root (/customers...), and
// tolerates doubled slashes as the real service does.
type Sim struct {
	token   string
	seed    int64
	now     func() time.Time
	log     simkit.Log
	handler http.Handler

	mu        sync.Mutex
	customers []*Customer // in creation order
	next      int64
}

// NewSim returns an empty simulator.
func NewSim(opts SimOptions) *Sim {
	if opts.Token == "" {
		opts.Token = SandboxToken
	}
	s := &Sim{token: opts.Token, seed: opts.Seed, now: simkit.Now(opts.Now), next: 1}
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
	snap := Snapshot{Next: s.next, Customers: make([]Customer, len(s.customers))}
	for i, c := range s.customers {
		snap.Customers[i] = *c
	}
	return snap
}

// Restore replaces the data with snap.
func (s *Sim) Restore(snap Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.customers = make([]*Customer, len(snap.Customers))
	for i := range snap.Customers {
		c := snap.Customers[i]
		s.customers[i] = &c
	}
	s.next = max(snap.Next, int64(len(snap.Customers))+1)
}

// Customer returns a copy of the customer with this gid or externalId.
func (s *Sim) Customer(id string) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.find(id); c != nil {
		return *c, true
	}
	return Customer{}, false
}

// Edit changes a customer (by gid or externalId) directly, as the service's
// admin would (drift). With create, a missing customer is created with
// externalId id first.
func (s *Sim) Edit(id string, create bool, edit func(*Customer)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find(id)
	if c == nil {
		if !create {
			return fmt.Errorf("invisiblecollector sim: no customer %q", id)
		}
		c = &Customer{Gid: s.newGID(), ExternalId: &id, Country: "PT"}
		s.customers = append(s.customers, c)
	}
	gid := c.Gid
	edit(c)
	c.Gid = gid
	return nil
}

func (s *Sim) find(id string) *Customer {
	for _, c := range s.customers {
		if c.Gid == id {
			return c
		}
	}
	for _, c := range s.customers {
		if c.ExternalId != nil && *c.ExternalId == id {
			return c
		}
	}
	return nil
}

// search answers GET /customers/find?email=&vatNumber=&externalId=&name=:
// the customers matching every given parameter, [] for none (not a 404),
// as the Ruby SDK's fixtures show.
func (s *Sim) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	matches := []*Customer{}
	for _, c := range s.customers {
		ok := true
		for key, val := range map[string]*string{"email": c.Email, "vatNumber": c.VatNumber, "externalId": c.ExternalId, "name": &c.Name} {
			if want := q.Get(key); want != "" && (val == nil || *val != want) {
				ok = false
			}
		}
		if ok {
			matches = append(matches, c)
		}
	}
	simkit.JSON(w, http.StatusOK, matches)
}

// newGID returns a new UUID-shaped gid, deterministic for a seed.
func (s *Sim) newGID() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(s.seed))
	binary.BigEndian.PutUint64(b[8:], uint64(s.next))
	s.next++
	sum := sha256.Sum256(b[:])
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// fail answers the service's error body.
func fail(w http.ResponseWriter, status int, message string) {
	simkit.JSON(w, status, map[string]any{"code": status, "message": message})
}

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if !simkit.Bearer(r, s.token) {
		fail(w, http.StatusUnauthorized, "Credentials are required to access this resource")
		return
	}
	seg, err := simkit.Segments(r.URL.EscapedPath())
	if err != nil || len(seg) < 1 || len(seg) > 2 || seg[0] != "customers" {
		fail(w, http.StatusNotFound, "Resource not found")
		return
	}
	switch {
	case len(seg) == 1 && r.Method == http.MethodPost:
	case len(seg) == 2 && (r.Method == http.MethodGet || r.Method == http.MethodPut):
	default:
		fail(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	var body map[string]json.RawMessage
	if r.Method != http.MethodGet {
		if !simkit.IsJSON(r) {
			fail(w, http.StatusUnsupportedMediaType, "Unsupported media type: send application/json")
			return
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&body); err != nil || body == nil {
			fail(w, http.StatusBadRequest, "Invalid JSON")
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && seg[1] == "find":
		s.search(w, r)
	case r.Method == http.MethodGet:
		c := s.find(seg[1])
		if c == nil {
			fail(w, http.StatusNotFound, "Customer not found")
			return
		}
		simkit.JSON(w, http.StatusOK, c)
	case r.Method == http.MethodPut:
		s.put(w, seg[1], body)
	default:
		s.post(w, body)
	}
}

var country = regexp.MustCompile(`^[A-Z]{2}$`)

// fieldsOf checks a request body and returns the customer it describes
// (fields absent from the body are nil in set).
func fieldsOf(body map[string]json.RawMessage) (c Customer, set map[string]bool, problem string) {
	set = map[string]bool{}
	strs := map[string]**string{"externalId": &c.ExternalId, "vatNumber": &c.VatNumber, "address": &c.Address, "zipCode": &c.ZipCode,
		"city": &c.City, "email": &c.Email, "phone": &c.Phone, "mobile": &c.Mobile, "locale": &c.Locale}
	for k, raw := range body {
		switch k {
		case "gid", "attributes":
			// The Ruby and C# SDKs send the gid and custom attributes with
			// the customer: the service takes the body (the gid in the path
			// wins), so the simulator is no stricter.
			continue
		}
		var v *string
		if err := json.Unmarshal(raw, &v); err != nil {
			return c, nil, fmt.Sprintf("%s must be a string", k)
		}
		switch k {
		case "name":
			if v == nil || strings.TrimSpace(*v) == "" {
				return c, nil, "name cannot be empty"
			}
			c.Name = *v
		case "country":
			if v == nil || !country.MatchString(*v) {
				return c, nil, "country must be an ISO 3166-1 alpha-2 code"
			}
			c.Country = *v
		default:
			dst, ok := strs[k]
			if !ok {
				return c, nil, fmt.Sprintf("unknown attribute %q", k)
			}
			if v != nil && *v == "" {
				v = nil
			}
			*dst = v
		}
		if v != nil && len(*v) > 255 {
			return c, nil, fmt.Sprintf("%s is longer than 255 characters", k)
		}
		set[k] = true
	}
	if c.Locale != nil && !slices.Contains(Locales, *c.Locale) {
		return c, nil, fmt.Sprintf("locale %q is not one of %s", *c.Locale, strings.Join(Locales, ", "))
	}
	if c.Email != nil && !strings.Contains(*c.Email, "@") {
		return c, nil, fmt.Sprintf("email %q is not valid", *c.Email)
	}
	if !set["country"] {
		return c, nil, "country is mandatory"
	}
	return c, set, ""
}

func sameCustomer(a, b Customer) bool {
	return a.Gid == b.Gid && a.Name == b.Name && a.Country == b.Country && eq(a.ExternalId, b.ExternalId) &&
		eq(a.VatNumber, b.VatNumber) && eq(a.Address, b.Address) && eq(a.ZipCode, b.ZipCode) && eq(a.City, b.City) &&
		eq(a.Email, b.Email) && eq(a.Phone, b.Phone) && eq(a.Mobile, b.Mobile) && eq(a.Locale, b.Locale)
}

func eq(a, b *string) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

// merge sets the fields of in that set names onto c.
func merge(c *Customer, in Customer, set map[string]bool) {
	if set["name"] {
		c.Name = in.Name
	}
	if set["country"] {
		c.Country = in.Country
	}
	for k, p := range map[string][2]**string{
		"externalId": {&c.ExternalId, &in.ExternalId}, "vatNumber": {&c.VatNumber, &in.VatNumber}, "address": {&c.Address, &in.Address},
		"zipCode": {&c.ZipCode, &in.ZipCode}, "city": {&c.City, &in.City}, "email": {&c.Email, &in.Email},
		"phone": {&c.Phone, &in.Phone}, "mobile": {&c.Mobile, &in.Mobile}, "locale": {&c.Locale, &in.Locale},
	} {
		if set[k] {
			*p[0] = *p[1]
		}
	}
}

// conflict returns another customer than self holding in's externalId or
// VAT number.
func (s *Sim) conflict(self *Customer, in Customer, set map[string]bool) *Customer {
	for _, o := range s.customers {
		if o == self {
			continue
		}
		if set["externalId"] && in.ExternalId != nil && eq(o.ExternalId, in.ExternalId) {
			return o
		}
		if set["vatNumber"] && in.VatNumber != nil && eq(o.VatNumber, in.VatNumber) {
			return o
		}
	}
	return nil
}

func (s *Sim) put(w http.ResponseWriter, id string, body map[string]json.RawMessage) {
	c := s.find(id)
	if c == nil {
		fail(w, http.StatusNotFound, "Customer not found")
		return
	}
	in, set, problem := fieldsOf(body)
	if problem != "" {
		fail(w, http.StatusUnprocessableEntity, "Unprocessable request: "+problem)
		return
	}
	if o := s.conflict(c, in, set); o != nil {
		simkit.JSON(w, http.StatusConflict, map[string]any{"code": http.StatusConflict, "gid": o.Gid, "message": "Customer already registered"})
		return
	}
	merge(c, in, set)
	simkit.JSON(w, http.StatusOK, c)
}

func (s *Sim) post(w http.ResponseWriter, body map[string]json.RawMessage) {
	in, set, problem := fieldsOf(body)
	switch {
	case problem != "":
	case !set["name"]:
		problem = "name is mandatory"
	case in.VatNumber == nil:
		problem = "vatNumber is mandatory"
	}
	if problem != "" {
		fail(w, http.StatusUnprocessableEntity, "Unprocessable request: "+problem)
		return
	}
	if o := s.conflict(nil, in, set); o != nil {
		// The same data again (a retried create) is the same customer.
		same := *o
		merge(&same, in, set)
		if sameCustomer(same, *o) {
			simkit.JSON(w, http.StatusOK, o)
			return
		}
		simkit.JSON(w, http.StatusConflict, map[string]any{"code": http.StatusConflict, "gid": o.Gid, "message": "Customer already registered"})
		return
	}
	c := &Customer{Gid: s.newGID()}
	merge(c, in, set)
	if c.Locale == nil {
		pt := "pt"
		c.Locale = &pt
	}
	s.customers = append(s.customers, c)
	simkit.JSON(w, http.StatusOK, c)
}
