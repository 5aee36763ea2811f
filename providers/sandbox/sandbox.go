// Package sandbox serves the three service simulators on one HTTP server,
// under /bonifiq, /invisiblecollector and /tomticket/v2.0, with optional
// latency and injected faults, and keeps their data in a file between runs.
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

	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/internal/simkit"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// Where each simulator is mounted.
const (
	BonifiQPrefix            = "/bonifiq"
	InvisibleCollectorPrefix = "/invisiblecollector"
	TomTicketPrefix          = "/tomticket/v2.0"
)

// The sandbox credentials, which the simulators accept (and nothing else).
const (
	BonifiQToken            = bonifiq.SandboxToken
	BonifiQKey              = bonifiq.SandboxKey
	InvisibleCollectorToken = invisiblecollector.SandboxToken
	TomTicketToken          = tomticket.SandboxToken
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
}

// Request is one request the sandbox answered.
type Request struct {
	Provider string    `json:"provider"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
	Time     time.Time `json:"time"`
	Status   int       `json:"status"` // 0 for a dropped connection
}

// Data is the content of the data file.
type Data struct {
	FormatVersion      string                      `json:"format_version"`
	BonifiQ            bonifiq.Snapshot            `json:"bonifiq"`
	InvisibleCollector invisiblecollector.Snapshot `json:"invisiblecollector"`
	TomTicket          tomticket.Snapshot          `json:"tomticket"`
}

// Sandbox is the three simulators behind one handler.
type Sandbox struct {
	opts    Options
	bq      *bonifiq.Sim
	ic      *invisiblecollector.Sim
	tt      *tomticket.Sim
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
	s := &Sandbox{
		opts: opts,
		bq:   bonifiq.NewSim(bonifiq.SimOptions{}),
		ic:   invisiblecollector.NewSim(invisiblecollector.SimOptions{Seed: opts.Seed}),
		tt:   tomticket.NewSim(tomticket.SimOptions{}),
		rng:  rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)),
	}
	s.handler = http.HandlerFunc(s.serve)
	if opts.DataFile != "" {
		b, err := os.ReadFile(opts.DataFile)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("sandbox: %w", err)
		default:
			var d Data
			if err := json.Unmarshal(b, &d); err != nil {
				return nil, fmt.Errorf("sandbox: data file %s: %w", opts.DataFile, err)
			}
			if d.FormatVersion != DataFormatVersion {
				return nil, fmt.Errorf("sandbox: data file %s has format_version %q; this build reads %q", opts.DataFile, d.FormatVersion, DataFormatVersion)
			}
			s.bq.Restore(d.BonifiQ)
			s.ic.Restore(d.InvisibleCollector)
			s.tt.Restore(d.TomTicket)
		}
	}
	return s, nil
}

// BonifiQ returns the BonifiQ simulator, for admin edits.
func (s *Sandbox) BonifiQ() *bonifiq.Sim { return s.bq }

// InvisibleCollector returns the InvisibleCollector simulator.
func (s *Sandbox) InvisibleCollector() *invisiblecollector.Sim { return s.ic }

// TomTicket returns the TomTicket simulator.
func (s *Sandbox) TomTicket() *tomticket.Sim { return s.tt }

// Handler serves the three simulators under their prefixes.
func (s *Sandbox) Handler() http.Handler { return s.handler }

// Data returns a copy of the simulated services' data.
func (s *Sandbox) Data() Data {
	return Data{FormatVersion: DataFormatVersion, BonifiQ: s.bq.Snapshot(), InvisibleCollector: s.ic.Snapshot(), TomTicket: s.tt.Snapshot()}
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
// at baseURL: the three base URLs and the sandbox credentials.
func Env(baseURL string) []string {
	base := strings.TrimRight(baseURL, "/")
	return []string{
		bonifiq.EnvBaseURL + "=" + base + BonifiQPrefix,
		bonifiq.EnvToken + "=" + BonifiQToken,
		bonifiq.EnvKey + "=" + BonifiQKey,
		invisiblecollector.EnvBaseURL + "=" + base + InvisibleCollectorPrefix,
		invisiblecollector.EnvToken + "=" + InvisibleCollectorToken,
		tomticket.EnvBaseURL + "=" + base + TomTicketPrefix,
		tomticket.EnvToken + "=" + TomTicketToken,
	}
}

// Env is the package's Env, for convenience.
func (s *Sandbox) Env(baseURL string) []string { return Env(baseURL) }

// mount is one simulator and where it lives.
type mount struct {
	provider string
	prefix   string
	handler  http.Handler
	// fault answers an injected failure in the service's own error shape.
	fault func(status int) any
}

func (s *Sandbox) mounts() []mount {
	return []mount{
		{bonifiq.Name, BonifiQPrefix, s.bq, func(status int) any {
			return map[string]any{"ErrorMessage": http.StatusText(status), "ErrorCode": status, "Result": nil, "HasError": true, "Severity": 2}
		}},
		{invisiblecollector.Name, InvisibleCollectorPrefix, s.ic, func(status int) any {
			return map[string]any{"code": status, "message": http.StatusText(status)}
		}},
		{tomticket.Name, TomTicketPrefix, s.tt, func(status int) any {
			return map[string]any{"error": true, "message": http.StatusText(status)}
		}},
	}
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
	for _, m := range s.mounts() {
		rest, ok := strip(r, m.prefix)
		if !ok {
			continue
		}
		provider = m.provider
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
		m.handler.ServeHTTP(sw, rest)
		return
	}
	simkit.JSON(sw, http.StatusNotFound, map[string]any{"error": true,
		"message": "no simulated service here: paths start with " + BonifiQPrefix + ", " + InvisibleCollectorPrefix + " or " + TomTicketPrefix})
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
		simkit.JSON(w, http.StatusTooManyRequests, m.fault(http.StatusTooManyRequests))
	case 1:
		simkit.JSON(w, http.StatusInternalServerError, m.fault(http.StatusInternalServerError))
	default:
		conn, _, err := w.Hijack()
		if err != nil {
			simkit.JSON(w, http.StatusBadGateway, m.fault(http.StatusBadGateway))
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
