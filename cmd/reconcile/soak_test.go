package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/engine/state"
	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// TestSoak applies thousands of customers across the three services to a
// sandbox with latency and injected faults, killing reconcile with SIGKILL
// a few times along the way. At the end the sandbox's data equals the
// manifests exactly, and the state equals both. It runs only with
// RECONCILE_SOAK=1 (RECONCILE_SOAK_CUSTOMERS sets the size, default 20,000;
// .ci/run runs a short form).
func TestSoak(t *testing.T) {
	if os.Getenv("RECONCILE_SOAK") != "1" {
		t.Skip("soak test: set RECONCILE_SOAK=1 (and RECONCILE_SOAK_CUSTOMERS=N) to run it")
	}
	n := 20000
	if v := os.Getenv("RECONCILE_SOAK_CUSTOMERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 {
			t.Fatalf("RECONCILE_SOAK_CUSTOMERS=%q: want a number >= 100", v)
		}
	}
	sb, err := sandbox.New(sandbox.Options{Latency: 2 * time.Millisecond, FailRate: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	// Count every request and every injected fault in front of the sandbox
	// (its own request log keeps only the most recent ones).
	var counts requestCounts
	srv := httptest.NewServer(counts.wrap(sb.Handler()))
	defer srv.Close()
	env := append(sb.Env(srv.URL), "RECONCILE_STATE=")
	dir := t.TempDir()

	// 49% bonifiq, 50% invisiblecollector, 1% tomticket (3 requests/s).
	type want struct {
		id, name, email, lang, vat string
		prov                       string
		tier                       int
		enrolled, enabled          bool
	}
	var wants []want
	var csv strings.Builder
	csv.WriteString("id,name,email,bonifiq.enrolled,bonifiq.enabled,bonifiq.tier.id,invisiblecollector.vat_number,invisiblecollector.country,tomticket.language\n")
	for i := range n {
		w := want{id: fmt.Sprintf("s%06d", i), name: fmt.Sprintf("Soak Customer %d", i), email: fmt.Sprintf("s%d@example.com", i)}
		switch r := i % 100; {
		case r < 49:
			w.prov, w.tier, w.enrolled, w.enabled = "bonifiq", 1+i%4, i%3 != 0, i%5 != 0
			fmt.Fprintf(&csv, "%s,%s,%s,%t,%t,%d,,,\n", w.id, w.name, w.email, w.enrolled, w.enabled, w.tier)
		case r < 99:
			w.prov, w.vat = "invisiblecollector", fmt.Sprintf("PT%09d", i)
			fmt.Fprintf(&csv, "%s,%s,%s,,,,%s,PT,\n", w.id, w.name, w.email, w.vat)
		default:
			w.prov, w.lang = "tomticket", []string{"pt-BR", "en-US", "es_ES"}[i%3]
			fmt.Fprintf(&csv, "%s,%s,%s,,,,,,%s\n", w.id, w.name, w.email, w.lang)
		}
		wants = append(wants, w)
	}
	mdir := filepath.Join(dir, "manifests")
	os.Mkdir(mdir, 0o755)
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(mdir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("customers.csv", csv.String())
	write("providers.yaml", "providers:\n"+
		"  bonifiq: {rate_limit: 2000, concurrency: 16, max_retries: 10}\n"+
		"  invisiblecollector: {rate_limit: 2000, concurrency: 16, max_retries: 10}\n"+
		"  tomticket: {max_retries: 10}\n")

	// A few SIGKILLs in the middle: each run is killed once it has
	// recorded a fifth of all the calls (its journal has that many lines).
	records := 3*n*49/100 + n*50/100 + n/100
	journal := filepath.Join(dir, "reconcile.state.json.journal")
	kills := 0
	for range 3 {
		var out bytes.Buffer
		cmd := reconcileCmd(dir, env, "apply", "-auto-approve", "-parallelism", "32")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		deadline := time.After(5 * time.Minute)
	wait:
		for {
			select {
			case <-exited:
				break wait
			case <-deadline:
				t.Fatalf("apply did not record %d calls in 5 minutes:\n%s", records/5, tail(out.Bytes(), 20))
			case <-time.After(5 * time.Millisecond):
			}
			if data, err := os.ReadFile(journal); err == nil && bytes.Count(data, []byte{'\n'}) > records/5 {
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				kills++
				break
			}
		}
	}
	// Then apply until it succeeds (it should at once: retries absorb the faults).
	var last []byte
	ok := false
	for attempt := 0; attempt < 3 && !ok; attempt++ {
		out, err := reconcileCmd(dir, env, "apply", "-auto-approve", "-parallelism", "32").CombinedOutput()
		last, ok = out, err == nil
	}
	if !ok {
		t.Fatalf("apply did not converge:\n%s", tail(last, 40))
	}
	out, err := reconcileCmd(dir, env, "plan", "-detailed-exitcode").CombinedOutput()
	if err != nil {
		t.Fatalf("a plan after the soak is not empty: %v\n%s", err, tail(out, 40))
	}

	// The sandbox holds exactly the manifests; the state holds exactly both.
	st, err := state.NewFile(filepath.Join(dir, "reconcile.state.json")).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Resources) != n {
		t.Errorf("the state holds %d addresses, want %d", len(st.Resources), n)
	}
	compared, lost := 0, 0
	for _, w := range wants {
		e := st.Resources[engine.Address(w.prov, w.id)]
		var wantFields engine.Fields
		var inService engine.Fields
		switch w.prov {
		case "bonifiq":
			c, found := bonifiq.SimOf(sb.Sim(bonifiq.Name)).Customer(w.id)
			if !found {
				lost++
				continue
			}
			wantFields = engine.Fields{{Name: "email", Value: engine.String(w.email)}, {Name: "enabled", Value: engine.Bool(w.enabled)}, {Name: "enrolled", Value: engine.Bool(w.enrolled)}, {Name: "name", Value: engine.String(w.name)}, {Name: "tier.id", Value: engine.Int(int64(w.tier))}}
			inService = engine.Fields{{Name: "email", Value: strp(c.Email)}, {Name: "enabled", Value: engine.Bool(c.IsEnabled)}, {Name: "enrolled", Value: engine.Bool(c.IsEnrolled)}, {Name: "name", Value: engine.String(c.Name)}, {Name: "tier.id", Value: engine.Int(int64(c.TierId))}}
		case "invisiblecollector":
			c, found := invisiblecollector.SimOf(sb.Sim(invisiblecollector.Name)).Customer(w.id)
			if !found {
				lost++
				continue
			}
			wantFields = engine.Fields{{Name: "country", Value: engine.String("PT")}, {Name: "email", Value: engine.String(w.email)}, {Name: "name", Value: engine.String(w.name)}, {Name: "vat_number", Value: engine.String(w.vat)}}
			inService = engine.Fields{{Name: "country", Value: engine.String(c.Country)}, {Name: "email", Value: strp(c.Email)}, {Name: "name", Value: engine.String(c.Name)}, {Name: "vat_number", Value: strp(c.VatNumber)}}
		case "tomticket":
			c, found := tomticket.SimOf(sb.Sim(tomticket.Name)).Customer(w.id)
			if !found {
				lost++
				continue
			}
			wantFields = engine.Fields{{Name: "email", Value: engine.String(w.email)}, {Name: "language", Value: engine.String(w.lang)}, {Name: "name", Value: engine.String(w.name)}}
			inService = engine.Fields{{Name: "email", Value: engine.String(c.Email)}, {Name: "language", Value: engine.String(c.Language)}, {Name: "name", Value: engine.String(c.Name)}}
		}
		if diff := cmp.Diff(wantFields, inService); diff != "" {
			t.Errorf("%s/%s in the sandbox (-manifest +service):\n%s", w.prov, w.id, diff)
		}
		if e == nil {
			t.Errorf("%s/%s missing from the state", w.prov, w.id)
		} else if diff := cmp.Diff(wantFields, e.Fields); diff != "" {
			t.Errorf("%s/%s in the state (-manifest +state):\n%s", w.prov, w.id, diff)
		}
		compared++
	}
	t.Logf("soak: %d customers, %d requests served, %d faults injected (429, 500, dropped connections), %d SIGKILLs survived, %d records compared with the sandbox and the state, %d lost",
		n, counts.total.Load(), counts.faults.Load(), kills, compared, lost)
	if kills < 3 {
		t.Errorf("only %d of 3 applies were killed: the test did not exercise the restarts", kills)
	}
	if lost > 0 {
		t.Errorf("%d customers lost", lost)
	}
}

func strp(s *string) engine.Value {
	if s == nil {
		return engine.Null()
	}
	return engine.String(*s)
}

func tail(b []byte, lines int) string {
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// requestCounts counts the requests a handler serves and the faults among
// them (429, 5xx, and connections dropped without an answer).
type requestCounts struct {
	total, faults atomic.Int64
}

func (rc *requestCounts) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &countingWriter{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		rc.total.Add(1)
		if cw.status == 0 || cw.status == http.StatusTooManyRequests || cw.status >= 500 {
			rc.faults.Add(1)
		}
	})
}

type countingWriter struct {
	http.ResponseWriter
	status int
}

func (cw *countingWriter) WriteHeader(code int) {
	if cw.status == 0 {
		cw.status = code
	}
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *countingWriter) Write(b []byte) (int, error) {
	if cw.status == 0 {
		cw.status = http.StatusOK
	}
	return cw.ResponseWriter.Write(b)
}

// Hijack lets the sandbox drop the connection (an injected fault).
func (cw *countingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(cw.ResponseWriter).Hijack()
}
