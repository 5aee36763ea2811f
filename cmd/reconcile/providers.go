package main

import (
	"github.com/reconcile-dev/reconcile/engine"
)

// providers builds the clients of the registry's services with the
// manifests' settings.
func (c *cli) providers(d *engine.Desired) (map[string]engine.Provider, error) {
	return c.providersFrom(d.Providers)
}

// providersFrom builds the clients from settings (a missing service gets
// its defaults). Building needs no credentials: plan only asks them which
// calls a change becomes.
func (c *cli) providersFrom(cfgs map[string]engine.ProviderConfig) (map[string]engine.Provider, error) {
	out := map[string]engine.Provider{}
	for _, svc := range c.reg.Services() {
		p, err := svc.New(engine.ClientOptions{Config: c.reg.Config(cfgs, svc.Name), Getenv: c.getenv})
		if err != nil {
			return nil, err
		}
		out[svc.Name] = p
	}
	return out, nil
}
