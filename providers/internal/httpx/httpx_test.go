package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

func TestURL(t *testing.T) {
	tests := []struct{ base, path, want string }{
		{"https://api.example.com", "/customers/1", "https://api.example.com/customers/1"},
		{"https://api.example.com/", "/customers/1", "https://api.example.com/customers/1"},
		{"http://127.0.0.1:8080/tomticket/v2.0/", "/customer/update", "http://127.0.0.1:8080/tomticket/v2.0/customer/update"},
		{"http://127.0.0.1:8080/a%20b", "/x%2Fy", "http://127.0.0.1:8080/a%20b/x%2Fy"},
	}
	for _, tt := range tests {
		u, err := CheckBaseURL(tt.base)
		if err != nil {
			t.Fatal(err)
		}
		if got := URL(u, tt.path, nil); got != tt.want {
			t.Errorf("URL(%q, %q) = %q, want %q", tt.base, tt.path, got, tt.want)
		}
	}
	u, _ := CheckBaseURL("https://h/v2.0")
	if got, want := URL(u, "/customer/details", url.Values{"customer_id": {"a b"}, "customer_type_id": {"I"}}), "https://h/v2.0/customer/details?customer_id=a+b&customer_type_id=I"; got != want {
		t.Errorf("URL with query = %q, want %q", got, want)
	}
}

func TestCheckBaseURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://api.example.com": true, "http://localhost:8080": true, "http://LOCALHOST": true, "http://127.0.0.1": true,
		"http://127.255.0.1:9/x": true, "http://[::1]:80": true, "http://example.com": false, "http://10.0.0.1": false,
		"http://localhost.example.com": false, "https://h?q=1": false, "https://h#f": false, "": false, "ftp://h": false,
		"https://user:pass@h": false, "/relative": false,
	} {
		_, err := CheckBaseURL(raw)
		if (err == nil) != ok {
			t.Errorf("CheckBaseURL(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		h    string
		want time.Duration
	}{
		{"", 0}, {"7", 7 * time.Second}, {"0", 0}, {"-3", 0}, {"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := RetryAfter(tt.h, now); got != tt.want {
			t.Errorf("RetryAfter(%q) = %v, want %v", tt.h, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	c := Call{Provider: "p", Op: "update", ID: "1"}
	resp := func(status int, h ...string) *http.Response {
		r := &http.Response{StatusCode: status, Header: http.Header{}}
		if len(h) > 0 {
			r.Header.Set("Retry-After", h[0])
		}
		return r
	}
	tests := []struct {
		status           int
		retryable, fatal bool
		after            time.Duration
	}{
		{429, true, false, 3 * time.Second}, {500, true, false, 0}, {503, true, false, 0},
		{401, false, true, 0}, {403, false, true, 0}, {404, false, false, 0}, {422, false, false, 0},
	}
	for _, tt := range tests {
		e := c.StatusError(resp(tt.status, map[bool]string{true: "3"}[tt.after > 0]), "msg")
		if e.Retryable != tt.retryable || e.Fatal != tt.fatal || e.RetryAfter != tt.after || e.Status != tt.status {
			t.Errorf("StatusError(%d) = %+v", tt.status, e)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := c.TransportError(ctx, 0, context.Canceled)
	var ce *engine.CallError
	if errors.As(err, &ce) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want a plain wrapped context.Canceled", err)
	}
	err = c.TransportError(context.Background(), 0, &url.Error{Op: "Put", URL: "http://h/x", Err: errors.New("connection refused")})
	if !errors.As(err, &ce) || !ce.Retryable {
		t.Errorf("connection error: %v, want retryable", err)
	}
}

func TestMissingCredentials(t *testing.T) {
	env := map[string]string{"A": "x"}
	if err := MissingCredentials("p", func(k string) string { return env[k] }, "A", "B", "C"); err == nil || err.Error() != "p: credentials missing: set B and C" {
		t.Errorf("MissingCredentials = %v", err)
	}
	if err := MissingCredentials("p", func(k string) string { return env[k] }, "A"); err != nil {
		t.Errorf("MissingCredentials = %v", err)
	}
}
