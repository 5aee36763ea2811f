package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// TestManifestBaseURLGetsNoCredentials: a manifest's base_url receives no
// credentials unless the operator allowed it (issue 12): validate and the
// offline plan still work, every command that would send refuses before
// its first request, naming the URL and how to allow it, and the server
// behind it sees no request, let alone an Authorization header.
func TestManifestBaseURLGetsNoCredentials(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
		sb.Handler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	hostile := srv.URL + bonifiq.Service.SandboxPrefix

	dir := t.TempDir()
	m := newManifest("  bonifiq: {base_url: \"" + hostile + "\"}\n")
	m.customer("1001", "    name: Ana\n    bonifiq: {enrolled: true}\n")
	m.write(t, dir)
	creds := []string{bonifiq.EnvToken + "=prod-token", bonifiq.EnvKey + "=prod-key"}

	if r := runReconcile(t, dir, creds, "validate", "-f", "m.yaml"); r.code != 0 {
		t.Fatalf("validate: %d %s", r.code, r.stderr)
	}
	r := runReconcile(t, dir, creds, "plan", "-f", "m.yaml", "-state", "s.json", "-no-color")
	if r.code != 0 || !strings.Contains(r.stdout, hostile) {
		t.Errorf("plan: %d, want success showing the manifest's base URL %s:\n%s%s", r.code, hostile, r.stdout, r.stderr)
	}
	for _, format := range []string{"-json", "-markdown"} {
		if r := runReconcile(t, dir, creds, "plan", format, "-f", "m.yaml", "-state", "s.json"); r.code != 0 || !strings.Contains(r.stdout, hostile) {
			t.Errorf("plan %s: %d, want the manifest's base URL %s in:\n%s", format, r.code, hostile, r.stdout)
		}
	}
	if r := runReconcile(t, dir, creds, "plan", "-f", "m.yaml", "-state", "s.json", "-out", "p.json"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if r := runReconcile(t, dir, creds, "show", "p.json"); r.code != 0 || !strings.Contains(r.stdout, hostile) {
		t.Errorf("show PLANFILE: %d, want the manifest's base URL in:\n%s", r.code, r.stdout)
	}
	for _, args := range [][]string{
		{"apply", "-auto-approve", "-f", "m.yaml", "-state", "s.json"},
		{"apply", "p.json", "-state", "s.json"},
		{"import", "-f", "m.yaml", "-state", "s.json"},
	} {
		r := runReconcile(t, dir, creds, args...)
		out := r.stdout + r.stderr
		if r.code != 1 || !strings.Contains(out, "has not allowed") || !strings.Contains(out, "RECONCILE_ALLOW_BASE_URLS="+hostile) {
			t.Errorf("%s: exit %d, want a refusal naming the URL and how to allow it:\n%s", args[0], r.code, out)
		}
	}
	mu.Lock()
	if len(auth) != 0 {
		t.Fatalf("the manifest's host received %d requests (Authorization %q)", len(auth), auth)
	}
	mu.Unlock()

	// Allowed by the operator, it is used.
	allow := append(creds, "RECONCILE_ALLOW_BASE_URLS="+hostile, bonifiq.EnvToken+"="+bonifiq.SandboxToken, bonifiq.EnvKey+"="+bonifiq.SandboxKey)
	if r := runReconcile(t, dir, allow, "apply", "-auto-approve", "-f", "m.yaml", "-state", "s.json"); r.code != 0 {
		t.Fatalf("apply with the URL allowed: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) == 0 {
		t.Error("the allowed URL received no request")
	}
	n := len(auth)
	mu.Unlock()
	// With the customer in the state, a refresh would read it: refused too.
	r = runReconcile(t, dir, creds, "plan", "-refresh", "-f", "m.yaml", "-state", "s.json")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "has not allowed") {
		t.Errorf("plan -refresh: %d, want the refusal:\n%s%s", r.code, r.stdout, r.stderr)
	}
	mu.Lock()
	if len(auth) != n {
		t.Errorf("plan -refresh sent %d requests to a URL the operator did not allow", len(auth)-n)
	}
}

// TestClosedPortFailsTheServiceFast: with BONIFIQ_BASE_URL at a port where
// nothing listens, plan -refresh fails at the first read, naming the
// address, instead of retrying every customer (issue 12: 48.7 s for 6).
func TestClosedPortFailsTheServiceFast(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	closed := srv.URL
	srv.Close()
	_, base := startSandbox(t, sandbox.Options{})
	dir := t.TempDir()
	m := newManifest("")
	for i := range 6 {
		m.customer(fmt.Sprintf("c%d", i), "    name: C\n    bonifiq: {enrolled: true}\n")
	}
	m.write(t, dir)
	env := sandbox.Env(base)
	if r := runReconcile(t, dir, env, "apply", "-auto-approve", "-f", "m.yaml"); r.code != 0 {
		t.Fatalf("apply: %s%s", r.stdout, r.stderr)
	}
	env = append(env, bonifiq.EnvBaseURL+"="+closed)
	start := time.Now()
	r := runReconcile(t, dir, env, "plan", "-refresh", "-f", "m.yaml")
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, strings.TrimPrefix(closed, "http://")) {
		t.Errorf("plan -refresh against a closed port: %d, want a failure naming the address:\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("failed in %v", time.Since(start)) // not asserted: the machine is shared
	if !strings.Contains(r.stdout+r.stderr, "connection refused") {
		t.Errorf("the failure does not say the connection was refused:\n%s", r.stderr)
	}
}
