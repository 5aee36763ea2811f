package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// TestRedactRegistryCredentials: for every registered service, each
// credential variable and each other form the credentials take on the wire
// (Service.SecretForms) is redacted, and so is the Authorization the
// service's client really sends, so that a service whose wire form is
// missing from SecretForms fails here.
func TestRedactRegistryCredentials(t *testing.T) {
	reg := registry.Default()
	env := map[string]string{}
	for i, svc := range reg.Services() {
		for j, v := range svc.CredentialVars() {
			env[v] = fmt.Sprintf("sEcReT-%d%d-%s", i, j, strings.ToUpper(svc.Name))
		}
	}
	getenv := func(k string) string { return env[k] }
	redact := (&cli{reg: reg, getenv: getenv}).redactor()

	// needles lists, per service, what must never be printed.
	needles := map[string][]string{}
	var all []string
	for _, svc := range reg.Services() {
		for _, v := range svc.CredentialVars() {
			needles[svc.Name] = append(needles[svc.Name], env[v])
		}
		if svc.SecretForms != nil {
			needles[svc.Name] = append(needles[svc.Name], svc.SecretForms(getenv)...)
		}
		all = append(all, needles[svc.Name]...)
	}
	text := "an error that quotes " + strings.Join(all, ", then ") + "."
	out := redact.Replace(text)

	for _, svc := range reg.Services() {
		t.Run(svc.Name, func(t *testing.T) {
			if len(svc.Credentials) == 0 {
				t.Fatalf("%s: no Credentials: nothing to redact, and nothing the client could authenticate with", svc.Name)
			}
			for _, n := range needles[svc.Name] {
				if strings.Contains(out, n) {
					t.Errorf("%s: %q survives the redactor:\n%s", svc.Name, n, out)
				}
			}

			// What the client really sends.
			var mu sync.Mutex
			var got http.Header
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = r.Header.Clone()
				mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			clientEnv := func(k string) string {
				if k == svc.BaseURLVar {
					return srv.URL
				}
				return env[k]
			}
			p, err := svc.New(engine.ClientOptions{Config: svc.Defaults, Getenv: clientEnv})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Ready(); err != nil {
				t.Fatalf("%s: Ready with every credential set: %v", svc.Name, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p.Read(ctx, &engine.Resource{Provider: svc.Name, ID: "redact-1"}, nil)
			mu.Lock()
			defer mu.Unlock()
			if got == nil {
				t.Fatalf("%s: Read sent no request to %s", svc.Name, svc.BaseURLVar)
			}
			auth := got.Get("Authorization")
			if auth == "" {
				t.Errorf("%s: the client sent no Authorization", svc.Name)
			} else if r := redact.Replace(auth); r == auth || !strings.Contains(r, "[redacted]") {
				t.Errorf("%s: the Authorization the client sends, %q, is not redacted (%q): add its form to SecretForms", svc.Name, auth, r)
			}
			for name, vs := range got {
				for _, v := range vs {
					r := redact.Replace(v)
					for _, n := range all {
						if strings.Contains(r, n) {
							t.Errorf("%s: header %s still shows %q after redaction", svc.Name, name, n)
						}
					}
				}
			}
		})
	}
}
