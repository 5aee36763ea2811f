package tomticket

import (
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
)

// SandboxToken is the sandbox credential: obviously fake, accepted only by
// the simulator.
const SandboxToken = "sandbox-token"

// Request is one request the simulator answered.
type Request = simkit.Request

// Languages are the languages the service accepts.
var Languages = []string{"pt-BR", "es_ES", "en-US"}

// PageSize is how many customers customer/list returns a page.
const PageSize = 50

// Customer is one customer as the simulator holds it; TomTicket keeps
// cleared fields as empty text.
type Customer struct {
	ID             string            `json:"id"`          // TomTicket's own id
	InternalID     string            `json:"internal_id"` // the customer_id of customer/new
	Name           string            `json:"name"`
	Email          string            `json:"email"`
	Phone          string            `json:"phone"`
	CreateTickets  bool              `json:"create_tickets"`
	OrganizationID string            `json:"organization_id"`
	PortfolioID    string            `json:"portfolio_id"`
	Language       string            `json:"language"`
	Active         bool              `json:"active"`
	CustomFields   map[string]string `json:"custom_fields,omitempty"`
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
	// Now is the clock for the rate limit and the log; nil means time.Now
	// (which testing/synctest fakes).
	Now func() time.Time
	// RateLimit is how many requests a sliding second admits: 0 means the
	// documented 3, a negative value no limit.
	RateLimit int
	// NotFoundAs200 answers an unknown customer with HTTP 200 and
	// {"error": true, "message": "Cliente não encontrado", "success":
	// false}, the other reading of TomTicket's pages (which list a 404 but
	// report every failure as error: true). Without it, a 404.
	NotFoundAs200 bool
}

// Sim simulates TomTicket's customer endpoints (API v2.0), its limit of 3
// requests in any sliding second included. It is an http.Handler serving
// paths relative to the API root (/customer/...).
type Sim struct {
	alt     bool // NotFoundAs200
	token   string
	now     func() time.Time
	limit   int
	log     simkit.Log
	handler http.Handler

	mu        sync.Mutex
	recent    []time.Time // admitted requests of the last second
	customers []*Customer
	next      int64
}

// NewSim returns an empty simulator.
func NewSim(opts SimOptions) *Sim {
	if opts.Token == "" {
		opts.Token = SandboxToken
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = 3
	}
	s := &Sim{token: opts.Token, now: simkit.Now(opts.Now), limit: opts.RateLimit, next: 1, alt: opts.NotFoundAs200}
	s.handler = simkit.Record(&s.log, s.now, http.HandlerFunc(s.serve))
	return s
}

// ServeHTTP answers one request.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Requests returns the requests answered so far, 429s included.
func (s *Sim) Requests() []Request { return s.log.Entries() }

// Snapshot returns a copy of the data.
func (s *Sim) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Next: s.next, Customers: make([]Customer, len(s.customers))}
	for i, c := range s.customers {
		snap.Customers[i] = *c
		snap.Customers[i].CustomFields = cloneMap(c.CustomFields)
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
		c.CustomFields = cloneMap(c.CustomFields)
		s.customers[i] = &c
	}
	s.next = max(snap.Next, int64(len(snap.Customers))+1)
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Customer returns a copy of the customer with this internal id.
func (s *Sim) Customer(internalID string) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.find("I", internalID); c != nil {
		cp := *c
		cp.CustomFields = cloneMap(c.CustomFields)
		return cp, true
	}
	return Customer{}, false
}

// Edit changes a customer (by internal id) directly, as the service's admin
// would (drift). With create, a missing customer is created first.
func (s *Sim) Edit(internalID string, create bool, edit func(*Customer)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.find("I", internalID)
	if c == nil {
		if !create {
			return fmt.Errorf("tomticket sim: no customer %q", internalID)
		}
		c = s.add(internalID)
	}
	id := c.ID
	edit(c)
	c.ID = id
	return nil
}

func (s *Sim) add(internalID string) *Customer {
	c := &Customer{ID: fmt.Sprintf("tt%08d", s.next), InternalID: internalID, CreateTickets: true, Language: "pt-BR", Active: true}
	s.next++
	s.customers = append(s.customers, c)
	return c
}

// find returns the customer by internal id ("I") or e-mail ("E").
func (s *Sim) find(typ, id string) *Customer {
	for _, c := range s.customers {
		if typ == "E" && c.Email != "" && strings.EqualFold(c.Email, id) || typ == "I" && c.InternalID == id {
			return c
		}
	}
	return nil
}

// admit applies the sliding-window limit: at most s.limit requests in any
// one second, counting the requests it admitted.
func (s *Sim) admit() bool {
	if s.limit < 0 {
		return true
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := 0
	for cut < len(s.recent) && !s.recent[cut].After(now.Add(-time.Second)) {
		cut++
	}
	s.recent = s.recent[cut:]
	if len(s.recent) >= s.limit {
		return false
	}
	s.recent = append(s.recent, now)
	return true
}

func reply(w http.ResponseWriter, status int, failed bool, message string, extra map[string]any) {
	body := map[string]any{"error": failed, "message": message, "success": !failed}
	for k, v := range extra {
		body[k] = v
	}
	simkit.JSON(w, status, body)
}

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if !s.admit() {
		reply(w, http.StatusTooManyRequests, true, "Too Many Requests: limite de 3 requisições por segundo", nil)
		return
	}
	if !simkit.Bearer(r, s.token) {
		reply(w, http.StatusUnauthorized, true, "Token inválido ou não informado", nil)
		return
	}
	seg, err := simkit.Segments(r.URL.EscapedPath())
	if err != nil || len(seg) != 2 || seg[0] != "customer" {
		reply(w, http.StatusNotFound, true, "Recurso não encontrado", nil)
		return
	}
	method := map[string]string{"update": http.MethodPost, "new": http.MethodPost, "details": http.MethodGet, "list": http.MethodGet}[seg[1]]
	switch {
	case method == "":
		reply(w, http.StatusNotFound, true, "Recurso não encontrado", nil)
		return
	case r.Method != method:
		w.Header().Set("Allow", method)
		reply(w, http.StatusMethodNotAllowed, true, "Método não permitido", nil)
		return
	}
	var form map[string]string
	if method == http.MethodPost {
		var problem string
		form, problem = readForm(w, r)
		if problem != "" {
			reply(w, http.StatusBadRequest, true, problem, nil)
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch seg[1] {
	case "update":
		s.update(w, form)
	case "new":
		s.create(w, form)
	case "details":
		s.details(w, r)
	case "list":
		s.list(w, r)
	}
}

// readForm reads a multipart/form-data body; anything else is refused.
func readForm(w http.ResponseWriter, r *http.Request) (map[string]string, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, "Os dados devem ser enviados como multipart/form-data"
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		return nil, "Formulário inválido"
	}
	if len(r.MultipartForm.File) > 0 {
		return nil, "Arquivos não são aceitos"
	}
	form := map[string]string{}
	for k, vs := range r.MultipartForm.Value {
		if len(vs) != 1 {
			return nil, fmt.Sprintf("O campo %s foi enviado mais de uma vez", k)
		}
		form[k] = vs[0]
	}
	return form, ""
}

// maxLen are the documented maximum lengths.
var maxLen = map[string]int{"customer_id": 250, "name": 250, "email": 250, "phone": 20, "organization_id": 512, "portfolio_id": 512,
	"language": 5, "customer_type_id": 1, "internal_id": 250}

// set applies the form's fields to c, checking each; it returns a problem
// in the service's words, or "". self is the stored customer c is a copy
// of (nil for a new one): its own e-mail and internal id are not "in use by
// another customer".
func (s *Sim) set(c, self *Customer, form map[string]string) string {
	for k, v := range form {
		if n, ok := maxLen[k]; ok && utf8.RuneCountInString(v) > n {
			return fmt.Sprintf("O campo %s excede o tamanho máximo de %d caracteres", k, n)
		}
		switch {
		case k == "customer_id" || k == "customer_type_id":
		case k == "name":
			if strings.TrimSpace(v) == "" {
				return "O campo name é obrigatório"
			}
			c.Name = v
		case k == "email":
			if v != "" && !strings.Contains(v, "@") {
				return "O campo email é inválido"
			}
			if o := s.find("E", v); v != "" && o != nil && o != self {
				return "O e-mail informado já está em uso por outro cliente"
			}
			c.Email = v
		case k == "phone":
			c.Phone = v
		case k == "internal_id":
			if o := s.find("I", v); v != "" && o != nil && o != self {
				return "O identificador interno informado já está em uso por outro cliente"
			}
			c.InternalID = v
		case k == "create_tickets":
			switch v {
			case "1", "":
				c.CreateTickets = true
			case "0":
				c.CreateTickets = false
			default:
				return "O campo create_tickets deve ser 1 ou 0"
			}
		case k == "organization_id":
			c.OrganizationID = v
		case k == "portfolio_id":
			c.PortfolioID = v
		case k == "language":
			if v != "" && !slices.Contains(Languages, v) {
				return "Idioma inválido: use pt-BR, es_ES ou en-US"
			}
			c.Language = v
		case strings.HasPrefix(k, "custom_field[") && strings.HasSuffix(k, "]") && len(k) > len("custom_field[]"):
			if c.CustomFields == nil {
				c.CustomFields = map[string]string{}
			}
			c.CustomFields[k[len("custom_field["):len(k)-1]] = v
		default:
			return fmt.Sprintf("Parâmetro desconhecido: %s", k)
		}
	}
	return ""
}

func (s *Sim) update(w http.ResponseWriter, form map[string]string) {
	id, typ := form["customer_id"], form["customer_type_id"]
	if typ == "" {
		typ = "I"
	}
	switch {
	case id == "":
		reply(w, http.StatusOK, true, "O campo customer_id é obrigatório", nil)
		return
	case typ != "I" && typ != "E":
		reply(w, http.StatusOK, true, "O campo customer_type_id deve ser I ou E", nil)
		return
	}
	if _, ok := form["internal_id"]; ok && typ != "E" {
		reply(w, http.StatusOK, true, "O campo internal_id só pode ser informado quando customer_type_id for E", nil)
		return
	}
	c := s.find(typ, id)
	if c == nil {
		s.notFound(w)
		return
	}
	next := *c
	next.CustomFields = cloneMap(c.CustomFields)
	if problem := s.set(&next, c, form); problem != "" {
		reply(w, http.StatusOK, true, problem, nil)
		return
	}
	*c = next
	reply(w, http.StatusOK, false, "Cliente atualizado com sucesso", nil)
}

func (s *Sim) create(w http.ResponseWriter, form map[string]string) {
	for _, k := range []string{"customer_type_id", "internal_id"} {
		if _, ok := form[k]; ok {
			reply(w, http.StatusOK, true, fmt.Sprintf("Parâmetro desconhecido: %s", k), nil)
			return
		}
	}
	id := form["customer_id"]
	switch {
	case id == "":
		reply(w, http.StatusOK, true, "O campo customer_id é obrigatório", nil)
		return
	case strings.TrimSpace(form["name"]) == "":
		reply(w, http.StatusOK, true, "O campo name é obrigatório", nil)
		return
	case s.find("I", id) != nil:
		reply(w, http.StatusOK, true, "Cliente já cadastrado", nil)
		return
	}
	c := Customer{InternalID: id, CreateTickets: true, Language: "pt-BR", Active: true}
	if problem := s.set(&c, nil, form); problem != "" {
		reply(w, http.StatusOK, true, problem, nil)
		return
	}
	added := s.add(id)
	c.ID = added.ID
	*added = c
	reply(w, http.StatusOK, false, "Cliente cadastrado com sucesso", map[string]any{"success": true, "data": map[string]any{"id": c.ID}})
}

// view is a customer as customer/details shows it. Like the real service, it
// gives flags and numbers as text.
func view(c *Customer) map[string]any {
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	return map[string]any{
		"id": c.ID, "name": c.Name, "email": c.Email, "phone": c.Phone, "internal_id": c.InternalID, "language": c.Language,
		"create_tickets": flag(c.CreateTickets), "organization_id": c.OrganizationID, "portfolio_id": c.PortfolioID,
		"active": c.Active, "custom_fields": cloneMap(c.CustomFields),
	}
}

func (s *Sim) details(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	id, typ := q.Get("customer_id"), q.Get("customer_type_id")
	if typ == "" {
		typ = "I"
	}
	if id == "" || (typ != "I" && typ != "E") {
		reply(w, http.StatusOK, true, "Informe customer_id e customer_type_id (I ou E)", nil)
		return
	}
	c := s.find(typ, id)
	if c == nil {
		s.notFound(w)
		return
	}
	reply(w, http.StatusOK, false, "", map[string]any{"data": view(c)})
}

// notFound answers an unknown customer: 404, or with NotFoundAs200 a 200
// with error: true.
func (s *Sim) notFound(w http.ResponseWriter) {
	status := http.StatusNotFound
	if s.alt {
		status = http.StatusOK
	}
	reply(w, status, true, "Cliente não encontrado", nil)
}

func (s *Sim) list(w http.ResponseWriter, r *http.Request) {
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			reply(w, http.StatusOK, true, "Página inválida", nil)
			return
		}
		page = n
	}
	data := []map[string]any{}
	for i := (page - 1) * PageSize; i < len(s.customers) && i < page*PageSize; i++ {
		data = append(data, view(s.customers[i]))
	}
	pages := (len(s.customers) + PageSize - 1) / PageSize
	reply(w, http.StatusOK, false, "", map[string]any{"data": data, "pages": pages, "size": len(s.customers)})
}
