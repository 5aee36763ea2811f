package crmlite_test

import (
	"testing"

	"github.com/reconcile-dev/reconcile/providers/internal/conformance"
	"github.com/reconcile-dev/reconcile/providers/testkit/crmlite"
)

// TestConformance: the fourth service passes the suite every registered
// service passes.
func TestConformance(t *testing.T) { conformance.Run(t, crmlite.Service) }
