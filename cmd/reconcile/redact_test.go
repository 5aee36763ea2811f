package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEchoedCredentialsAreRedacted: a service whose error body echoes the
// Authorization header it received must not put the credential on the
// screen, in the report or in the log.
func TestEchoedCredentialsAreRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte("bad request; you sent Authorization: " + r.Header.Get("Authorization") + " token=tok-ECHO-1 key=key-ECHO-2"))
	}))
	defer srv.Close()
	dir := t.TempDir()
	manifest := filepath.Join(dir, "m.yaml")
	if err := os.WriteFile(manifest, []byte("customers:\n  - id: \"1\"\n    name: Ana\n    bonifiq: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"BONIFIQ_BASE_URL":   srv.URL,
		"BONIFIQ_API_TOKEN":  "tok-ECHO-1",
		"BONIFIQ_API_KEY":    "key-ECHO-2",
		"RECONCILE_LOG":      "debug",
		"RECONCILE_LOG_PATH": filepath.Join(dir, "log.json"),
	}
	var stdout, stderr bytes.Buffer
	report := filepath.Join(dir, "report.csv")
	code := run(context.Background(), []string{"apply", "-auto-approve", "-f", manifest, "-state", filepath.Join(dir, "s.json"), "-report", report},
		strings.NewReader(""), &stdout, &stderr, func(k string) string { return env[k] })
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, stdout.String(), stderr.String())
	}
	reportData, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	logData, err := os.ReadFile(env["RECONCILE_LOG_PATH"])
	if err != nil {
		t.Fatal(err)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("tok-ECHO-1:key-ECHO-2"))
	for name, text := range map[string]string{"stdout": stdout.String(), "stderr": stderr.String(), "report": string(reportData), "log": string(logData)} {
		for _, secret := range []string{"tok-ECHO-1", "key-ECHO-2", basic} {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds the credential %q:\n%s", name, secret, text)
			}
		}
	}
	if !strings.Contains(string(reportData), "[redacted]") {
		t.Errorf("the report does not show the redacted echo, so the test did not exercise it:\n%s", reportData)
	}
}
