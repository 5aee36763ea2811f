package main

import (
	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// providers builds the three provider clients with the manifests' settings.
func (c *cli) providers(d *engine.Desired) (map[string]engine.Provider, error) {
	return c.providersFrom(d.Providers)
}

// providersFrom builds the provider clients from settings (a missing
// provider gets its defaults). Building needs no credentials: plan only asks
// them which calls a change becomes.
func (c *cli) providersFrom(cfgs map[string]engine.ProviderConfig) (map[string]engine.Provider, error) {
	cfg := func(name string) engine.ProviderConfig {
		if v, ok := cfgs[name]; ok {
			return v
		}
		return engine.DefaultProviderConfig(name)
	}
	out := map[string]engine.Provider{}
	b, err := bonifiq.New(bonifiq.Options{Config: cfg(engine.BonifiQ), Getenv: c.getenv})
	if err != nil {
		return nil, err
	}
	out[engine.BonifiQ] = b
	ic, err := invisiblecollector.New(invisiblecollector.Options{Config: cfg(engine.InvisibleCollector), Getenv: c.getenv})
	if err != nil {
		return nil, err
	}
	out[engine.InvisibleCollector] = ic
	tt, err := tomticket.New(tomticket.Options{Config: cfg(engine.TomTicket), Getenv: c.getenv})
	if err != nil {
		return nil, err
	}
	out[engine.TomTicket] = tt
	return out, nil
}
