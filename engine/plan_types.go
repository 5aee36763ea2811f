package engine

// PlanFormatVersion is the version of plan JSON (-json and -out files).
const PlanFormatVersion = "1"

// Action is what apply does to one address.
type Action string

// Actions, as the JSON plan names them.
const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionDisable Action = "disable"
	ActionForget  Action = "forget"
	ActionNoOp    Action = "no-op"
)

// Symbol returns the mark a human plan shows for a.
func (a Action) Symbol() string {
	switch a {
	case ActionCreate:
		return "+"
	case ActionUpdate:
		return "~"
	case ActionDisable, ActionForget:
		return "-"
	}
	return " "
}

// FieldChange is one field of a change.
type FieldChange struct {
	Name string `json:"name"`
	// Before is the last applied (or, with refresh, observed) value; nil when
	// the state has none: a create, or a field newly managed.
	Before *Value `json:"before,omitempty"`
	// After is the desired value; null clears the field.
	After Value `json:"after"`
	// Drift marks a value changed in the service outside reconcile.
	Drift bool `json:"drift,omitempty"`
	// Unreadable marks a field the service cannot read back, planned from
	// the state during a refresh.
	Unreadable bool `json:"unreadable,omitempty"`
}

// Change is what apply will do to one address.
type Change struct {
	Address  string `json:"address"`
	Provider string `json:"provider"`
	ID       string `json:"id"`
	Action   Action `json:"action"`
	// Source is where the customer is declared (FILE:LINE); empty for
	// addresses gone from the manifests.
	Source string `json:"source,omitempty"`
	// Fields lists the fields that change, sorted by name. A create's are
	// all its desired fields: they are left nil and built on demand by
	// FieldChanges, so that plans of millions of creates do not hold every
	// value twice. Read them with FieldChanges.
	Fields []FieldChange `json:"fields,omitempty"`
	// Calls lists the requests apply will make, in order.
	Calls []Call `json:"calls"`

	// Desired is the whole desired resource (create and update), which
	// a create sends in full.
	Desired *Resource `json:"-"`
	// IDs are the service ids the state holds for the address.
	IDs Fields `json:"-"`
	// Prior is the digest of the state entry the plan saw (Entry.Digest),
	// for apply's per-resource staleness check.
	Prior string `json:"-"`
	// Missing marks a create of a customer that a read (plan -refresh)
	// found the service does not have: its first request is the service's
	// create, not an update. Saved plans keep it.
	Missing bool `json:"-"`
	// Skip marks a create that apply will skip: a read saw the service
	// does not have the customer, and the service's on_missing is skip.
	Skip bool `json:"-"`
}

// FieldChanges returns the fields that change, sorted by name; for a
// create, every desired field.
func (c *Change) FieldChanges() []FieldChange {
	if c.Fields != nil || c.Action != ActionCreate || c.Desired == nil {
		return c.Fields
	}
	out := make([]FieldChange, len(c.Desired.Fields))
	for i, f := range c.Desired.Fields {
		out[i] = FieldChange{Name: f.Name, After: f.Value}
	}
	return out
}

// Changed returns the names of the changing fields.
func (c *Change) Changed() []string {
	fields := c.FieldChanges()
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return names
}

// Summary counts addresses by action.
type Summary struct {
	Create  int `json:"create"`
	Update  int `json:"update"`
	Disable int `json:"disable"`
	Forget  int `json:"forget"`
	NoOp    int `json:"no_op"`
	// Skip counts the creates a read saw missing in a service whose
	// on_missing is skip (counted in Create too).
	Skip int `json:"skip,omitempty"`
}

// Changes counts every address with something to do.
func (s Summary) Changes() int { return s.Create + s.Update + s.Disable + s.Forget }

// Plan is the diff between the manifests and the state.
type Plan struct {
	// Registry is the set of services the plan's addresses belong to.
	Registry *Registry
	// StateLineage and StateSerial identify the state the plan was made
	// against; a saved plan is refused by a state of another lineage.
	StateLineage string
	StateSerial  int64
	// Changes lists every address with something to do, in address order.
	Changes []*Change
	// Summary counts addresses by action, no-ops included.
	Summary Summary
	// Providers holds the effective settings of the providers the plan
	// touches, for the duration estimate and for apply.
	Providers map[string]ProviderConfig
	// Targets are the -target patterns the plan was limited to.
	Targets []string
	// Refreshed is true when the plan read the services first.
	Refreshed bool
	// Verify is how apply will verify writes, for the estimate (nil: the
	// default canary).
	Verify *Verification

	// lazy holds the creates a plan made with PlanOptions.Lazy builds on
	// demand; Changes is then nil (see Segment, Materialize).
	lazy *lazyCreates
}

// Verification is how apply verifies its writes (ApplyOptions.Canary,
// VerifyAll).
type Verification struct {
	Canary int
	All    bool
}

// add adds o's counts to s.
func (s *Summary) add(o Summary) {
	s.Create += o.Create
	s.Update += o.Update
	s.Disable += o.Disable
	s.Forget += o.Forget
	s.NoOp += o.NoOp
	s.Skip += o.Skip
}
