// Package sandbox serves the simulators of a registry's services on one HTTP
// server, each under its Service.SandboxPrefix (/bonifiq,
// /invisiblecollector, /tomticket/v2.0), with optional latency and injected
// faults, and keeps their data in a file between runs.
// `reconcile sandbox`, `plan -sandbox` and `apply -sandbox` run it.
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// DataFormatVersion is the version of the data file.
const DataFormatVersion = "1"

// Options configures a sandbox.
type Options struct {
	// Latency delays every answer.
	Latency time.Duration
	// FailRate is the fraction of requests (0 to 1) answered with an
	// injected fault: 429, 500 or a dropped connection, in equal shares.
	FailRate float64
	// DataFile keeps the simulated services' data: loaded by New when it
	// exists, written by Save.
	DataFile string
	// Seed makes fault injection and generated ids repeatable.
	Seed int64
	// Registry lists the services to simulate (default: the product's).
	Registry *engine.Registry
	// Alternate serves the other readings of the vendors' pages (each
	// simulator's SimOptions.Alternate): BonifiQ's not-found and no-op as
	// 200 envelopes, TomTicket's not-found as a 200 with error: true.
	Alternate bool
}

// Request is one request the sandbox answered.
type Request struct {
	Provider string    `json:"provider"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
	Time     time.Time `json:"time"`
	Status   int       `json:"status"` // 0 for a dropped connection
}

// Data is the content of the data file: "format_version", and each
// service's snapshot under its name.
type Data map[string]any

// Sandbox is the simulators behind one handler.
type Sandbox struct {
	opts    Options
	mounts  []mount
	handler http.Handler

	mu   sync.Mutex
	rng  *rand.Rand
	log  []Request
	srv  *http.Server
	done chan struct{}
}

// New returns a sandbox, with the data of opts.DataFile when it exists.
func New(opts Options) (*Sandbox, error) {
	if opts.FailRate < 0 || opts.FailRate > 1 {
		return nil, fmt.Errorf("sandbox: fail rate %v is not between 0 and 1", opts.FailRate)
	}
	if opts.Latency < 0 {
		return nil, fmt.Errorf("sandbox: negative latency %v", opts.Latency)
	}
	if opts.Registry == nil {
		opts.Registry = registry.Default()
	}
	s := &Sandbox{
		opts: opts,
		rng:  rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
	}
	for _, svc := range opts.Registry.Services() {
		if svc.Sim == nil {
			continue
		}
		s.mounts = append(s.mounts, mount{svc: svc, sim: svc.Sim(engine.SimOptions{Seed: opts.Seed, Alternate: opts.Alternate})})
	}
	s.handler = http.HandlerFunc(s.serve)
	if opts.DataFile != "" {
		b, err := os.ReadFile(opts.DataFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("sandbox: %w", err)
		default:
			var d map[string]json.RawMessage
			var version string
			if err := json.Unmarshal(b, &d); err != nil {
				return nil, fmt.Errorf("sandbox: data file %s: %w", opts.DataFile, err)
			}
			if json.Unmarshal(d["format_version"], &version); version != DataFormatVersion {
				return nil, fmt.Errorf("sandbox: data file %s has format_version %q; this build reads %q", opts.DataFile, version, DataFormatVersion)
			}
			for _, m := range s.mounts {
				if raw, ok := d[m.svc.Name]; ok {
					if err := m.sim.Restore(raw); err != nil {
						return nil, fmt.Errorf("sandbox: data file %s: %s: %w", opts.DataFile, m.svc.Name, err)
					}
				}
			}
		}
	}
	return s, nil
}

// Sim returns the simulator of the named service, for admin edits (each
// provider's SimOf gives its own type), or nil.
func (s *Sandbox) Sim(name string) engine.Simulator {
	for _, m := range s.mounts {
		if m.svc.Name == name {
			return m.sim
		}
	}
	return nil
}

// Handler serves the simulators under their prefixes.
func (s *Sandbox) Handler() http.Handler { return s.handler }

// Data returns a copy of the simulated services' data.
func (s *Sandbox) Data() Data {
	d := Data{"format_version": DataFormatVersion}
	for _, m := range s.mounts {
		d[m.svc.Name] = m.sim.Snapshot()
	}
	return d
}

// Save writes the data to opts.DataFile atomically, mode 0600.
func (s *Sandbox) Save() error {
	if s.opts.DataFile == "" {
		return errors.New("sandbox: no data file to save to")
	}
	b, err := json.MarshalIndent(s.Data(), "", "  ")
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	if err := writeFileAtomic(s.opts.DataFile, append(b, '\n')); err != nil {
		return fmt.Errorf("sandbox: saving data: %w", err)
	}
	return nil
}

// writeFileAtomic replaces name with data: a temporary file in the same
// directory, flushed, then renamed over it, so readers see the old or the
// new content, never a part.
func writeFileAtomic(name string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// Requests returns the requests answered so far, across the simulators.
func (s *Sandbox) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// Start serves the sandbox on addr ("127.0.0.1:8080"; port 0 picks one) and
// returns its base URL. A listener on every interface is reached through
// 127.0.0.1, since clients accept http:// only on a loopback host.
func (s *Sandbox) Start(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sandbox: %w", err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	srv := &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	s.mu.Lock()
	if s.srv != nil {
		s.mu.Unlock()
		ln.Close()
		return "", errors.New("sandbox: already started")
	}
	s.srv, s.done = srv, done
	s.mu.Unlock()
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	return "http://" + net.JoinHostPort(host, port), nil
}

// Close stops the server Start started, dropping requests in flight.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv = nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Close()
	<-done
	return err
}

// Env returns the NAME=value pairs that point reconcile at a sandbox served
// at baseURL: each service's base URL and sandbox credentials.
func (s *Sandbox) Env(baseURL string) []string {
	base := strings.TrimRight(baseURL, "/")
	var out []string
	for _, m := range s.mounts {
		out = append(out, m.svc.BaseURLVar+"="+base+m.svc.SandboxPrefix)
		for _, c := range m.svc.Credentials {
			out = append(out, c.Var+"="+c.Sandbox)
		}
	}
	return out
}

// Env is the Env of a sandbox of the product's services.
func Env(baseURL string) []string {
	return (&Sandbox{mounts: productMounts()}).Env(baseURL)
}

func productMounts() []mount {
	var out []mount
	for _, svc := range registry.Default().Services() {
		out = append(out, mount{svc: svc})
	}
	return out
}

// mount is one simulator and its service.
type mount struct {
	svc *engine.Service
	sim engine.Simulator
}

// Prefixes lists where the simulators are mounted.
func (s *Sandbox) Prefixes() []string {
	var out []string
	for _, m := range s.mounts {
		out = append(out, m.svc.SandboxPrefix)
	}
	return out
}

func (s *Sandbox) serve(w http.ResponseWriter, r *http.Request) {
	sw := &simkit.StatusWriter{ResponseWriter: w}
	at := time.Now()
	provider := ""
	defer func() {
		s.mu.Lock()
		if len(s.log) >= simkit.MaxLog {
			s.log = append(s.log[:0], s.log[len(s.log)-simkit.MaxLog/2:]...)
		}
		s.log = append(s.log, Request{Provider: provider, Method: r.Method, Path: r.URL.Path, Time: at, Status: sw.Status()})
		s.mu.Unlock()
	}()
	for _, m := range s.mounts {
		rest, ok := strip(r, m.svc.SandboxPrefix)
		if !ok {
			continue
		}
		provider = m.svc.Name
		if s.opts.Latency > 0 {
			t := time.NewTimer(s.opts.Latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if s.inject(sw, m) {
			return
		}
		m.sim.ServeHTTP(sw, rest)
		return
	}
	simkit.JSON(sw, http.StatusNotFound, map[string]any{"error": true,
		"message": "no simulated service here: paths start with " + strings.Join(s.Prefixes(), ", ")})
}

// inject answers a fault for a FailRate share of requests; it reports
// whether it did.
func (s *Sandbox) inject(w *simkit.StatusWriter, m mount) bool {
	if s.opts.FailRate <= 0 {
		return false
	}
	s.mu.Lock()
	hit := s.rng.Float64() < s.opts.FailRate
	kind := s.rng.IntN(3)
	s.mu.Unlock()
	if !hit {
		return false
	}
	switch kind {
	case 0:
		w.Header().Set("Retry-After", "1")
		simkit.JSON(w, http.StatusTooManyRequests, fault(m.svc, http.StatusTooManyRequests))
	case 1:
		simkit.JSON(w, http.StatusInternalServerError, fault(m.svc, http.StatusInternalServerError))
	default:
		conn, _, err := w.Hijack()
		if err != nil {
			simkit.JSON(w, http.StatusBadGateway, fault(m.svc, http.StatusBadGateway))
			return true
		}
		conn.Close()
	}
	return true
}

// strip returns r with prefix removed from its path (escaped and not), when
// the path is under prefix.
func strip(r *http.Request, prefix string) (*http.Request, bool) {
	p := r.URL.Path
	if p != prefix && !strings.HasPrefix(p, prefix+"/") {
		return nil, false
	}
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	u.Path = strings.TrimPrefix(p, prefix)
	if u.RawPath != "" {
		u.RawPath = strings.TrimPrefix(u.RawPath, prefix)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	r2.URL = &u
	return r2, true
}

// fault is the body of an injected failure in the service's error shape.
func fault(svc *engine.Service, status int) any {
	if svc.Fault == nil {
		return map[string]any{"error": true, "message": http.StatusText(status)}
	}
	return svc.Fault(status)
}
