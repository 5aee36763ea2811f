// Package registry lists the services reconcile ships with. Adding a
// service is its folder under providers/ and one line here.
package registry

import (
	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

var product = engine.MustRegistry(
	bonifiq.Service,
	invisiblecollector.Service,
	tomticket.Service,
)

// Default returns the product's registry: BonifiQ, InvisibleCollector and
// TomTicket.
func Default() *engine.Registry { return product }
