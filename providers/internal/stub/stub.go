// Package stub is an HTTP test server for provider tests: it records every
// request and answers with scripted replies, in order, and fails the test
// when a reply is never asked for or a request finds none.
package stub

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Request is one request the server received.
type Request struct {
	Method   string
	Path     string // escaped, as sent
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Reply is one scripted answer. Hang makes the handler wait until the client
// gives up; Drop closes the connection without an answer.
type Reply struct {
	Status int
	Header map[string]string
	Body   string
	Hang   bool
	Drop   bool
}

// Server answers requests with its replies, in order.
type Server struct {
	*httptest.Server
	t        testing.TB
	mu       sync.Mutex
	replies  []Reply
	requests []Request
}

// New starts a server that answers with replies and is closed with the test.
func New(t testing.TB, replies ...Reply) *Server {
	s := &Server{t: t, replies: replies}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		if n := len(s.replies) - len(s.requests); n > 0 {
			t.Errorf("stub: %d scripted replies were never requested (got %d requests)", n, len(s.requests))
		}
	})
	return s
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	i := len(s.requests)
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()
	if i >= len(s.replies) {
		s.t.Errorf("stub: unexpected request %d: %s %s", i+1, r.Method, r.URL)
		http.Error(w, "unexpected", http.StatusTeapot)
		return
	}
	rep := s.replies[i]
	switch {
	case rep.Hang:
		<-r.Context().Done()
		return
	case rep.Drop:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rep.Header {
		w.Header().Set(k, v)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	status := rep.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	io.WriteString(w, rep.Body)
}
