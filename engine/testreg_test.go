package engine

import (
	"context"
	"time"
)

// The engine's tests use three services shaped like the product's (the
// engine cannot import them): the same names, keys and rules that the
// tests exercise.
const (
	BonifiQ            = "bonifiq"
	InvisibleCollector = "invisiblecollector"
	TomTicket          = "tomticket"
)

func testService(name string, limiter LimiterKind, rate float64, keys ...ServiceKey) *Service {
	return &Service{
		Name: name, Keys: keys, Limiter: limiter,
		Defaults: ProviderConfig{RateLimit: rate, Burst: 1, Concurrency: 4, MaxRetries: 5, Timeout: 30 * time.Second, OnRemove: OnRemoveForget},
		New:      func(ClientOptions) (Provider, error) { return fakeProvider{name}, nil },
	}
}

func shared(field string, t Type) ServiceKey { return ServiceKey{Field: field, Shared: true, Type: t} }
func own(field string, t Type) ServiceKey    { return ServiceKey{Field: field, Type: t} }
func param(field string) ServiceKey          { return ServiceKey{Field: field, Type: TypeString, Param: true} }

var testReg = func() *Registry {
	bq := testService(BonifiQ, TokenBucket, 5,
		shared("name", TypeString), shared("email", TypeEmail), shared("phone", TypeString), shared("document", TypeString),
		own("enrolled", TypeBool), own("birthday", TypeDate), own("signup_date", TypeTime), own("enabled", TypeBool),
		param("status_reason"), own("tier.id", TypeInt), own("tier.grace_period_days", TypeInt), own("tier.comments", TypeString))
	bq.CreateNeeds = []string{"name"}
	bq.Disable = &Field{Name: "enabled", Value: Bool(false)}
	ic := testService(InvisibleCollector, TokenBucket, 5,
		shared("name", TypeString), shared("email", TypeEmail), shared("phone", TypeString), param("gid"),
		own("vat_number", TypeString), own("address", TypeString), own("country", TypeCountry), own("locale", TypeEnum))
	ic.CreateNeeds = []string{"name", "vat_number", "country"}
	tt := testService(TomTicket, SlidingWindow, 3,
		shared("name", TypeString), shared("email", TypeEmail), shared("phone", TypeString), param("id_type"),
		own("internal_id", TypeString), own("language", TypeEnum), ServiceKey{Field: "custom_fields", Type: TypeString, Prefix: true})
	tt.CreateNeeds = []string{"name"}
	return MustRegistry(bq, ic, tt)
}()

// ProviderNames lists the test registry's services.
var ProviderNames = testReg.Names()

// DefaultProviderConfig is the test service's defaults.
func DefaultProviderConfig(p string) ProviderConfig { return testReg.DefaultConfig(p) }

var _ = context.Background
