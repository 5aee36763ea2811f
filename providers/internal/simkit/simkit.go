// Package simkit holds what the three service simulators share: the request
// log, and helpers to answer JSON and check credentials.
package simkit

import (
	"bufio"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Request is one request a simulator answered, for tests and the sandbox's
// log.
type Request struct {
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Time   time.Time `json:"time"`
	Status int       `json:"status"`
}

// MaxLog bounds a log: a long-running sandbox keeps the latest requests.
const MaxLog = 10000

// Log records requests; it is safe for concurrent use.
type Log struct {
	mu      sync.Mutex
	entries []Request
}

// Add records r, dropping the oldest entries beyond MaxLog.
func (l *Log) Add(r Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) >= MaxLog {
		n := copy(l.entries, l.entries[len(l.entries)-MaxLog/2:])
		l.entries = l.entries[:n]
	}
	l.entries = append(l.entries, r)
}

// Entries returns a copy of the recorded requests, oldest first.
func (l *Log) Entries() []Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Request(nil), l.entries...)
}

// Reset forgets every entry.
func (l *Log) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}

// Record wraps h so that every request is added to log with its status,
// timed by now when the request arrives.
func Record(log *Log, now func() time.Time, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &StatusWriter{ResponseWriter: w}
		at := now()
		h.ServeHTTP(sw, r)
		log.Add(Request{Method: r.Method, Path: r.URL.Path, Time: at, Status: sw.Status()})
	})
}

// StatusWriter remembers the status written; it passes Hijack through so
// fault injection can drop connections.
type StatusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader records the status.
func (w *StatusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (w *StatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Status returns the status written; 0 when the connection was dropped
// without an answer.
func (w *StatusWriter) Status() int { return w.status }

// Hijack lets the wrapped writer's connection be taken over.
func (w *StatusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("hijacking not supported")
	}
	return h.Hijack()
}

// Unwrap exposes the wrapped writer to http.ResponseController.
func (w *StatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// JSON answers v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Equal compares secrets in constant time.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Bearer reports whether r carries "Authorization: Bearer token".
func Bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && Equal(got, token)
}

// IsJSON reports whether r's body is declared as JSON.
func IsJSON(r *http.Request) bool {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]))
	return ct == "application/json"
}

// Segments splits an escaped URL path into unescaped segments, ignoring
// empty ones (so doubled slashes are tolerated).
func Segments(escaped string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(escaped, "/") {
		if s == "" {
			continue
		}
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

// Now returns now, or time.Now when it is nil.
func Now(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// Adapter serves a simulator whose data is T as the sandbox serves every
// simulator (engine.Simulator): its snapshot for the data file, and a
// restore from that file's JSON. Each provider's Service.Sim returns one.
type Adapter[T any, S interface {
	http.Handler
	Snapshot() T
	Restore(T)
}] struct{ Sim S }

// ServeHTTP answers one request.
func (a *Adapter[T, S]) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.Sim.ServeHTTP(w, r) }

// Snapshot returns the simulator's data.
func (a *Adapter[T, S]) Snapshot() any { return a.Sim.Snapshot() }

// Restore replaces the simulator's data with data, the JSON of a Snapshot.
func (a *Adapter[T, S]) Restore(data []byte) error {
	var snap T
	if err := json.Unmarshal(data, &snap); err != nil {
		return err
	}
	a.Sim.Restore(snap)
	return nil
}
