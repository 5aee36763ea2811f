package main

import (
	"crypto/tls"
	"encoding/base64"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// Distinctive credentials that no service accepts: whatever reconcile
// writes must never show them.
const (
	secretBonifiQToken = "tok-SECRET-b1"
	secretBonifiQKey   = "key-SECRET-b2"
	secretICToken      = "tok-SECRET-ic3"
	secretTTToken      = "tok-SECRET-tt4"
)

// secretNeedles lists every credential of the test, the sandbox's included,
// and the Basic auth encodings of BonifiQ's pairs.
func secretNeedles() []string {
	basic := func(tok, key string) string { return base64.StdEncoding.EncodeToString([]byte(tok + ":" + key)) }
	return []string{
		secretBonifiQToken, secretBonifiQKey, secretICToken, secretTTToken,
		basic(secretBonifiQToken, secretBonifiQKey),
		bonifiq.SandboxToken, bonifiq.SandboxKey, invisiblecollector.SandboxToken, tomticket.SandboxToken,
		basic(bonifiq.SandboxToken, bonifiq.SandboxKey),
		// A dumped request header, in a log line or a message.
		"Authorization: Basic", "Authorization: Bearer", `"Authorization":`, `"Authorization"`,
	}
}

// TestNoSecretsInOutputs runs plan and apply, against the sandbox with its
// credentials and with wrong ones (which get 401s), with debug logging to
// a file, reports and saved plans; then no credential appears in stdout,
// stderr, the log, the state, its backup and journal, the plans or the
// reports, and the files that hold customer data are 0600.
func TestNoSecretsInOutputs(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()

	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	manifest := path("m.yaml")
	writeFile(t, manifest, `customers:
  - id: "1001"
    name: Maria Silva
    email: maria@example.com
    bonifiq: {enrolled: true, enabled: true, tier: {id: 2}}
    invisiblecollector: {vat_number: "123456789", country: PT}
    tomticket: {language: pt-BR}
  - id: "1002"
    name: João Souza
    tomticket: {}
`)
	logPath := path("reconcile.log")
	common := map[string]string{
		"NO_COLOR": "1", "RECONCILE_LOG": "debug", "RECONCILE_LOG_PATH": logPath,
		bonifiq.EnvBaseURL:            base + bonifiq.Service.SandboxPrefix,
		invisiblecollector.EnvBaseURL: base + invisiblecollector.Service.SandboxPrefix,
		tomticket.EnvBaseURL:          base + tomticket.Service.SandboxPrefix,
	}
	with := func(creds map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range common {
			env[k] = v
		}
		for k, v := range creds {
			env[k] = v
		}
		return env
	}
	wrong := with(map[string]string{
		bonifiq.EnvToken: secretBonifiQToken, bonifiq.EnvKey: secretBonifiQKey,
		invisiblecollector.EnvToken: secretICToken, tomticket.EnvToken: secretTTToken,
	})
	right := with(map[string]string{
		bonifiq.EnvToken: bonifiq.SandboxToken, bonifiq.EnvKey: bonifiq.SandboxKey,
		invisiblecollector.EnvToken: invisiblecollector.SandboxToken, tomticket.EnvToken: tomticket.SandboxToken,
	})
	state := path("reconcile.state.json")

	var outputs []string // every stdout and stderr
	step := func(env map[string]string, wantCode int, args ...string) {
		t.Helper()
		code, stdout, stderr := runBounded(t, args, env)
		outputs = append(outputs, stdout, stderr)
		if code != wantCode {
			t.Fatalf("reconcile %q: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, wantCode, stdout, stderr)
		}
	}
	// Wrong credentials: every provider answers 401, apply fails and
	// reports it.
	step(wrong, 2, "plan", "-detailed-exitcode", "-f", manifest, "-state", state, "-out", path("plan-wrong.json"))
	step(wrong, 1, "apply", "-state", state, "-report", path("report-wrong-plan.csv"), path("plan-wrong.json"))
	step(wrong, 1, "apply", "-auto-approve", "-f", manifest, "-state", state, "-report", path("report-wrong.csv"))
	// The sandbox's credentials: the same changes succeed.
	step(right, 2, "plan", "-detailed-exitcode", "-f", manifest, "-state", state, "-out", path("plan-right.json"))
	step(right, 0, "apply", "-state", state, "-report", path("report-right.csv"), path("plan-right.json"))
	// A second change, so the state has a backup; then wrong credentials
	// again against a state that exists.
	writeFile(t, manifest, strings.Replace(readFile(t, manifest), "Maria Silva", "Maria S. Silva", 1))
	step(right, 0, "apply", "-auto-approve", "-f", manifest, "-state", state, "-report", path("report-right2.csv"))
	writeFile(t, manifest, strings.Replace(readFile(t, manifest), "João Souza", "João P. Souza", 1))
	step(wrong, 1, "apply", "-auto-approve", "-f", manifest, "-state", state, "-report", path("report-wrong2.csv"))
	step(wrong, 0, "show", "-state", state)
	step(wrong, 0, "show", "-json", "-state", state)

	// The 401s really happened: the wrong credentials reached the sandbox.
	unauthorized := 0
	for _, r := range sb.Requests() {
		if r.Status == http.StatusUnauthorized {
			unauthorized++
		}
	}
	if unauthorized == 0 {
		t.Fatal("the sandbox answered no 401: the wrong credentials were not exercised")
	}

	for i, out := range outputs {
		checkNoSecrets(t, "stdout/stderr #"+string(rune('0'+i)), out)
	}
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range files {
		seen[e.Name()] = true
		checkNoSecrets(t, e.Name(), readFile(t, path(e.Name())))
	}
	for _, name := range []string{"reconcile.state.json", "reconcile.state.json.backup", "plan-wrong.json", "plan-right.json", "report-wrong.csv", "report-wrong-plan.csv", "report-right.csv"} {
		if !seen[name] {
			t.Errorf("%s was not written", name)
		}
	}
	if seen["reconcile.log"] {
		if fi, _ := os.Stat(logPath); fi.Size() == 0 {
			t.Errorf("RECONCILE_LOG=debug wrote an empty log")
		}
	} else {
		t.Logf("RECONCILE_LOG_PATH: no log file written (structured logging not implemented yet?)")
	}
	t.Logf("scanned %d outputs and files %v", len(outputs), keys(seen))

	// Files that hold customer data are readable by their owner only.
	for _, name := range []string{"reconcile.state.json", "reconcile.state.json.backup", "plan-wrong.json", "plan-right.json", "report-wrong.csv", "report-wrong-plan.csv", "report-right.csv", "report-right2.csv", "reconcile.log"} {
		fi, err := os.Stat(path(name))
		if err != nil {
			continue // reported above
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, perm)
		}
	}
}

func checkNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, needle := range secretNeedles() {
		if i := strings.Index(s, needle); i >= 0 {
			t.Errorf("%s shows %q: ...%s...", what, needle, s[max(0, i-80):min(len(s), i+len(needle)+80)])
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// providerClients returns a client of each provider, pointed at baseURL
// with the distinctive credentials and the given HTTP client.
func providerClients(t *testing.T, baseURL string, hc *http.Client) []engine.Provider {
	t.Helper()
	env := map[string]string{
		bonifiq.EnvToken: secretBonifiQToken, bonifiq.EnvKey: secretBonifiQKey, bonifiq.EnvBaseURL: baseURL,
		invisiblecollector.EnvToken: secretICToken, invisiblecollector.EnvBaseURL: baseURL,
		tomticket.EnvToken: secretTTToken, tomticket.EnvBaseURL: baseURL,
	}
	getenv := func(k string) string { return env[k] }
	cfg := engine.ProviderConfig{Timeout: 10 * time.Second}
	b, err := bonifiq.New(bonifiq.Options{Config: cfg, Getenv: getenv, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	ic, err := invisiblecollector.New(invisiblecollector.Options{Config: cfg, Getenv: getenv, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	tt, err := tomticket.New(tomticket.Options{Config: cfg, Getenv: getenv, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return []engine.Provider{b, ic, tt}
}

// secretChange is an update of one customer in provider p.
func secretChange(p engine.Provider) *engine.Change {
	fields := engine.Fields{{Name: "name", Value: engine.String("Maria")}}
	if p.Name() == "invisiblecollector" {
		fields = append(fields, engine.Field{Name: "country", Value: engine.String("PT")})
	}
	return &engine.Change{
		Address: p.Name() + "/1001", Provider: p.Name(), ID: "1001", Action: engine.ActionUpdate,
		Fields:  []engine.FieldChange{{Name: "name", After: engine.String("Maria")}},
		Desired: &engine.Resource{Provider: p.Name(), ID: "1001", Fields: fields},
	}
}

// TestRedirectDropsCredentials points each client at a server that
// redirects every request to a second server on another host and port:
// the second server must never receive the credentials.
func TestRedirectDropsCredentials(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	hits := 0
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		for name, vs := range r.Header {
			for _, v := range vs {
				for _, needle := range secretNeedles()[:5] {
					if strings.Contains(v, needle) || strings.EqualFold(name, "Authorization") {
						leaked = append(leaked, name+": "+v)
					}
				}
			}
		}
		if strings.Contains(r.URL.RawQuery, "SECRET") {
			leaked = append(leaked, "query: "+r.URL.RawQuery)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{}`))
	}))
	defer other.Close()
	// "localhost" and "127.0.0.1" are different hosts to an HTTP client,
	// and the ports differ too.
	target := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target+r.URL.RequestURI(), status)
		}))
		for _, p := range providerClients(t, first.URL, http.DefaultClient) {
			for _, call := range p.Calls(secretChange(p)) {
				_, _ = p.Do(t.Context(), secretChange(p), call)
			}
			_, _ = p.Read(t.Context(), secretChange(p).Desired, nil)
		}
		first.Close()
		// The clients' own default HTTP client, too.
		first = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target+r.URL.RequestURI(), status)
		}))
		for _, p := range providerClients(t, first.URL, nil) {
			_, _ = p.Read(t.Context(), secretChange(p).Desired, nil)
		}
		first.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if hits == 0 {
		t.Log("the clients do not follow redirects at all")
	}
	for _, l := range leaked {
		t.Errorf("the redirect target on another host received %s", l)
	}
}

// TestTLSVerificationStaysOn points each client, with its default HTTP
// client, at an HTTPS server with a self-signed certificate: every call
// fails, and the server never sees a request.
func TestTLSVerificationStaysOn(t *testing.T) {
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		w.Write([]byte(`{}`))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.TLS = &tls.Config{}
	srv.StartTLS()
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("server URL %s", srv.URL)
	}
	for _, p := range providerClients(t, srv.URL, nil) {
		ch := secretChange(p)
		for _, call := range p.Calls(ch) {
			_, err := p.Do(t.Context(), ch, call)
			if err == nil {
				t.Errorf("%s: %s succeeded against a self-signed certificate", p.Name(), call.Path)
			} else if !strings.Contains(err.Error(), "certificate") {
				t.Errorf("%s: error %q does not say the certificate was refused", p.Name(), err)
			}
		}
		if _, err := p.Read(t.Context(), ch.Desired, nil); err == nil {
			t.Errorf("%s: Read succeeded against a self-signed certificate", p.Name())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 0 {
		t.Errorf("the server with a self-signed certificate received %d requests", requests)
	}
}
