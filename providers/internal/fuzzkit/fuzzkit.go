// Package fuzzkit drives the providers' response fuzzing: a server that
// answers each input with scripted statuses, bodies and Retry-After headers,
// seeds from the shared conformance vectors, and the checks every provider's
// errors must pass. Each provider's FuzzResponses calls Run.
package fuzzkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
)

// Target is one provider under fuzzing.
type Target struct {
	// Provider is the provider's name, which its errors carry.
	Provider string
	// Secret is a credential the client was given: no error may show it.
	Secret string
	// New returns the client, pointed at srv.
	New func(srv *httptest.Server) (engine.Provider, error)
	// Change returns a change for the fuzzed selector what; what%4 == 3
	// asks for a Read of the change's customer instead.
	Change func(what uint8) *engine.Change
	// Seeds are bodies in the provider's own shape, beside the vectors.
	Seeds [][]byte
}

// fuzzVectors is the shared conformance material beside the repository:
// response bodies from an official SDK's tests (vectors/) and the vendors'
// API pages (seeds/), whose examples hold response bodies too.
const fuzzVectors = "../../../shared" // from providers/<name>/, where go test runs

// responseSeeds returns every vector file and every JSON object in the
// vendors' pages; the vectors must be there.
func responseSeeds(f *testing.F) [][]byte {
	f.Helper()
	var seeds [][]byte
	err := filepath.WalkDir(filepath.Join(fuzzVectors, "vectors"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		seeds = append(seeds, data)
		return nil
	})
	if err != nil || len(seeds) == 0 {
		f.Fatalf("conformance vectors missing (shared/ must sit beside the repository): %v", err)
	}
	pages, _ := filepath.Glob(filepath.Join(fuzzVectors, "seeds", "*.txt"))
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, jsonObjects(data)...)
	}
	return seeds
}

// jsonObjects returns the JSON objects embedded in a text.
func jsonObjects(text []byte) [][]byte {
	var out [][]byte
	for i := 0; i < len(text); i++ {
		if text[i] != '{' {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(text[i:]))
		var raw json.RawMessage
		if dec.Decode(&raw) == nil {
			out = append(out, raw)
			i += int(dec.InputOffset()) - 1
		}
	}
	return out
}

// fuzzServer answers the requests of one fuzz input with its scripted
// answers, in order, the last one repeated.
type fuzzServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []fuzzAnswer
	n       int
}

type fuzzAnswer struct {
	status     int
	body       []byte
	retryAfter string
}

func newFuzzServer(f *testing.F) *fuzzServer {
	fs := &fuzzServer{}
	fs.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		a := fs.answers[min(fs.n, len(fs.answers)-1)]
		fs.n++
		fs.mu.Unlock()
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.status)
		w.Write(a.body)
	}))
	f.Cleanup(fs.srv.Close)
	return fs
}

func (fs *fuzzServer) script(answers ...fuzzAnswer) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.answers, fs.n = answers, 0
}

// fuzzStatus maps any integer to an HTTP status from 200 to 599, with the
// statuses the clients treat specially more likely.
func fuzzStatus(n int) int {
	special := []int{200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 503}
	if n < 0 {
		n = -(n + 1)
	}
	if n < len(special) {
		return special[n]
	}
	return 200 + n%400
}

// checkCallError asserts that err, from Do or Read, is one the apply loop
// can classify: a *engine.CallError, or (with notFound) ErrNotFound.
func checkCallError(t *testing.T, tg Target, err error, notFound bool) {
	t.Helper()
	if err == nil {
		return
	}
	var ce *engine.CallError
	switch {
	case notFound && errors.Is(err, engine.ErrNotFound):
	case errors.As(err, &ce) && ce != nil:
		if ce.Provider != tg.Provider || ce.Error() == "" {
			t.Fatalf("unclear error %q: %+v", err, ce)
		}
		if ce.Status >= 200 && ce.Status < 300 && (ce.Retryable || ce.Fatal) {
			t.Fatalf("a %d answer classified as retryable or fatal: %+v", ce.Status, ce)
		}
	default:
		t.Fatalf("error %v (%T) is neither a *engine.CallError nor ErrNotFound", err, err)
	}
	if tg.Secret != "" && strings.Contains(err.Error(), tg.Secret) {
		t.Fatalf("the error shows the credential: %v", err)
	}
}

// Run makes the client's calls (Do for each call of the target's change,
// and Read) against a server answering with fuzzed statuses, bodies and
// Retry-After headers: no panic, no hang, and every error is a
// *engine.CallError or ErrNotFound.
func Run(f *testing.F, tg Target) {
	fs := newFuzzServer(f)
	c, err := tg.New(fs.srv)
	if err != nil {
		f.Fatal(err)
	}
	for _, body := range append(responseSeeds(f), tg.Seeds...) {
		for _, st := range []int{0, 8, 6, 9} {
			f.Add(uint8(0), st, body, 0, body, "")
		}
		f.Add(uint8(3), 0, body, 0, body, "")
	}
	f.Add(uint8(1), 9, []byte(`{}`), 0, []byte(`{}`), "3")
	f.Add(uint8(2), 10, []byte(`<html>`), 0, []byte(`{}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Fuzz(func(t *testing.T, what uint8, status1 int, body1 []byte, status2 int, body2 []byte, retryAfter string) {
		fs.script(
			fuzzAnswer{fuzzStatus(status1), body1, retryAfter},
			fuzzAnswer{fuzzStatus(status2), body2, retryAfter},
			fuzzAnswer{fuzzStatus(status1 ^ status2), append(body2, body1...), ""},
		)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ch := tg.Change(what)
		if what%4 == 3 {
			_, err := c.Read(ctx, ch.Desired, ch.IDs)
			checkCallError(t, tg, err, true)
			return
		}
		for _, call := range c.Calls(ch) {
			out, err := c.Do(ctx, ch, call)
			checkCallError(t, tg, err, false)
			if err != nil {
				break
			}
			for _, id := range out.IDs {
				if id.Value.K != engine.KindString {
					t.Fatalf("id %s is not a string: %#v", id.Name, id.Value)
				}
			}
		}
		if ctx.Err() != nil {
			t.Fatal("the calls did not finish in 20s")
		}
	})
}
