package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Provider is what the engine needs from one service. Each package under
// providers/ implements it; the engine imports none of them.
type Provider interface {
	// Name is the provider's name in addresses: "bonifiq".
	Name() string
	// Ready reports whether the provider can make calls: its credentials are
	// set and its base URL is valid. Apply asks before making any call, so a
	// missing credential is one clear error naming the variables.
	Ready() error
	// Calls lists, in order, the HTTP requests apply will make for ch (a
	// fallback made only on a 404 is not listed). It is pure and offline:
	// plan uses it without credentials.
	Calls(ch *Change) []Call
	// Do makes one of the calls Calls returned, including its fallbacks. A
	// failure is a *CallError saying whether to retry or stop the provider.
	Do(ctx context.Context, ch *Change, call Call) (Outcome, error)
	// Read fetches the customer r names as the service holds it, for refresh
	// and import. A customer the service does not have is ErrNotFound.
	Read(ctx context.Context, r *Resource, ids Fields) (*Observed, error)
}

// Call is one HTTP request that applying a change makes.
type Call struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	// Op names the call for the provider's Do and for messages:
	// "upsert", "update", "changestatus", "changetier". Saved plans keep it
	// (plan -json does not print it).
	Op string `json:"op,omitempty"`
	// Fields lists the change's fields this call settles: once it succeeds
	// they are recorded in the state, so a later failure of another call of
	// the same customer leaves only its own fields to do.
	Fields []string `json:"fields,omitempty"`
	// MayTakeTwo marks a call that may need a second request: a create
	// tried as an update that finds no customer, or as a create that finds
	// one (TomTicket, InvisibleCollector), or an upsert that finds an
	// existing customer whose status it must set (BonifiQ). Estimates give
	// the range.
	MayTakeTwo bool `json:"may_take_two,omitempty"`
}

// Outcome is what a successful call returns.
type Outcome struct {
	// IDs holds service ids to keep in the state ("gid", "PublicId").
	IDs Fields
	// Warning is set when the service accepted the call with a warning.
	Warning string
	// Status is the final HTTP status.
	Status int
	// Held is what the service holds after the call, by field name, when
	// its answer carries the record (BonifiQ's PUT and upsert Result,
	// InvisibleCollector's PUT and POST body): the fields its read returns.
	// Nil when the answer does not carry it; apply then reads the customer
	// to verify the write (Verify).
	// It is a function, so that the answer is decoded only when apply
	// verifies the write.
	Held func() *Observed
}

// Observed is a customer as a service holds it.
type Observed struct {
	// Fields holds the readable fields, by name inside the provider.
	Fields Fields
	// IDs holds the service's ids.
	IDs Fields
}

// ErrNotFound says that the service has no such customer.
var ErrNotFound = errors.New("customer not found")

// CallError is a failed call, classified for the apply loop.
type CallError struct {
	Provider string
	Op       string
	ID       string
	// Status is the HTTP status; 0 when no answer arrived.
	Status int
	// Message is the service's own error text, if any.
	Message string
	// Retryable errors (429, 5xx, timeouts, connection errors) are retried.
	Retryable bool
	// RetryAfter is the wait the service asked for, if any.
	RetryAfter time.Duration
	// Fatal errors (401, 403) stop every further call to the provider.
	Fatal bool
	// NotFound says the service has no such customer, however it said so
	// (a 404, or a 200 whose body says it: each provider lists its readings).
	NotFound bool
	// Unreachable says the request could not even be sent: nothing listens
	// at the address, or the host does not exist. On a service's first
	// call it stops the service (as a 401 does); later it is retried.
	Unreachable bool
	// Err is the underlying error, if any.
	Err error
}

func (e *CallError) Error() string {
	msg := fmt.Sprintf("%s: %s %s", e.Provider, e.Op, e.ID)
	if e.Status != 0 {
		msg += fmt.Sprintf(": %d %s", e.Status, http.StatusText(e.Status))
	}
	if e.Message != "" {
		msg += ": " + e.Message
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CallError) Unwrap() error { return e.Err }

// Gate admits the requests of one service during an apply or a read: each
// request holds one of the apply's -parallelism slots and one token of the
// service's rate limit, taken in that order, right before it is sent, so no
// token is taken early and spent late (tokens piled up behind a full
// -parallelism would go out together and break a sliding window).
type Gate interface {
	// Admit waits for a slot and then a token, and returns the slot's
	// release, which the caller calls once the answer is read. It fails
	// with the context's error, or with ErrStopped once apply was asked to
	// start no new calls.
	Admit(ctx context.Context) (release func(), err error)
}

type gateKey struct{}

// WithGate returns ctx carrying g, for the HTTP layer the providers share
// (providers/internal/httpx), which admits every request it sends through
// it: the first of a call and its fallbacks alike.
func WithGate(ctx context.Context, g Gate) context.Context {
	return context.WithValue(ctx, gateKey{}, g)
}

// Admit admits one request through ctx's gate; with no gate (a plan, a
// test calling a client directly) it admits at once.
func Admit(ctx context.Context) (release func(), err error) {
	if g, ok := ctx.Value(gateKey{}).(Gate); ok {
		return g.Admit(ctx)
	}
	return func() {}, ctx.Err()
}

// ErrStopped is a request not sent because apply was asked to start no new
// calls (the first Ctrl-C).
var ErrStopped = errors.New("stopped: no new calls are started")
