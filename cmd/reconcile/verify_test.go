package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/reconcile-dev/reconcile/providers/bonifiq"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
	"github.com/reconcile-dev/reconcile/providers/tomticket"
)

// dropping serves the sandbox, except that the service under prefix
// accepts writes but stores no `wire` field: it answers "done" and forgets
// it, as only a real service could show. It counts the writes it receives.
type dropping struct {
	prefix, wire string
	mu           sync.Mutex
	writes, all  int
}

func (d *dropping) handler(sb *sandbox.Sandbox) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, d.prefix) {
			d.mu.Lock()
			d.all++
			if r.Method != http.MethodGet {
				d.writes++
			}
			d.mu.Unlock()
			if r.Method != http.MethodGet {
				d.strip(r)
			}
		}
		sb.Handler().ServeHTTP(w, r)
	})
}

// strip removes the field from a JSON or multipart body.
func (d *dropping) strip(r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		var m map[string]json.RawMessage
		if json.Unmarshal(body, &m) == nil {
			delete(m, d.wire)
			body, _ = json.Marshal(m)
		}
	case "multipart/form-data":
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			v, _ := io.ReadAll(p)
			if p.FormName() != d.wire {
				mw.WriteField(p.FormName(), string(v))
			}
		}
		mw.Close()
		body = buf.Bytes()
		r.Header.Set("Content-Type", mw.FormDataContentType())
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
}

// TestCanaryCatchesAFieldThatDoesNotStick: against a service that accepts
// every write and stores no phone (or city), the canary catches it within
// its first 3 customers, the rest of that service is not written, the
// field is not in the state, the next plan still shows it, and the report
// names it.
func TestCanaryCatchesAFieldThatDoesNotStick(t *testing.T) {
	for _, tt := range []struct {
		service, prefix, wire, field, block string
	}{
		{bonifiq.Name, bonifiq.Service.SandboxPrefix, "Phone", "phone", "    bonifiq: {enrolled: true}\n"},
		{invisiblecollector.Name, invisiblecollector.Service.SandboxPrefix, "city", "city", ""},
		{tomticket.Name, tomticket.Service.SandboxPrefix, "phone", "phone", "    tomticket: {language: pt-BR}\n"},
	} {
		t.Run(tt.service, func(t *testing.T) {
			sb, err := sandbox.New(sandbox.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := &dropping{prefix: tt.prefix, wire: tt.wire}
			srv := httptest.NewServer(d.handler(sb))
			defer srv.Close()
			dir := t.TempDir()
			limits := "{rate_limit: 1000, concurrency: 4}"
			if tt.service == tomticket.Name {
				limits = "{concurrency: 4}" // its own 3/s: the simulator enforces it
			}
			m := newManifest("  " + tt.service + ": " + limits + "\n")
			for i := range 20 {
				body := fmt.Sprintf("    name: Customer %d\n    phone: \"+55 11 5555-%04d\"\n", i, i)
				if tt.service == invisiblecollector.Name {
					body += fmt.Sprintf("    invisiblecollector: {vat_number: \"PT%09d\", country: PT, city: Lisboa}\n", 500000000+i)
				}
				m.customer(fmt.Sprintf("c%03d", i), body+tt.block)
			}
			m.write(t, dir)
			r := runReconcile(t, dir, sandbox.Env(srv.URL), "apply", "-auto-approve", "-report", "report.csv", "-f", "m.yaml", "-target", tt.service+"/*")
			if r.code != 1 {
				t.Fatalf("apply exited %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.field+" did not stick: sent ") {
				t.Errorf("the output does not name the field that did not stick:\n%s", r.stdout)
			}
			// At most the canary's 3 customers are written (a TomTicket
			// or InvisibleCollector create may take two requests).
			if perCreate := map[string]int{tomticket.Name: 2, invisiblecollector.Name: 2}[tt.service]; d.writes > 3*max(perCreate, 1) {
				t.Errorf("%s received %d writes: the canary should stop it after its first 3 customers", tt.service, d.writes)
			}
			rows := reportRows(t, dir+"/report.csv")
			failed, notAttempted := 0, 0
			var lost string
			for addr, row := range rows {
				switch row[2] {
				case "failed":
					failed++
					lost = addr
					if !strings.Contains(row[4], tt.field+" did not stick") {
						t.Errorf("report row %v does not name the field", row)
					}
				case "not_attempted":
					notAttempted++
				}
			}
			if failed < 1 || failed > 3 || failed+notAttempted != 20 {
				t.Errorf("report: %d failed, %d not attempted; want the canary's (1 to 3) failed and the rest not attempted", failed, notAttempted)
			}
			if lost == "" {
				t.FailNow()
			}
			// The state has the canary's customers without the field; the
			// next plan still sends it.
			show := runReconcile(t, dir, nil, "state", "show", lost)
			if show.code != 0 || strings.Contains(show.stdout, "    "+tt.field+" ") || !strings.Contains(show.stdout, "Customer ") {
				t.Logf("apply:\n%s", r.stdout)
				t.Errorf("state show %s: %d\n%s%s", lost, show.code, show.stdout, show.stderr)
			}
			plan := runReconcile(t, dir, nil, "plan", "-f", "m.yaml", "-target", lost, "-no-color")
			if !strings.Contains(plan.stdout, "+ "+tt.field+" = ") {
				t.Errorf("the next plan does not show %s again:\n%s", tt.field, plan.stdout)
			}
		})
	}
}

// TestCanaryCostsNoRequestWhereTheAnswerShowsTheRecord: a service that
// stores everything passes the canary, and where its write's answer shows
// the record (BonifiQ, InvisibleCollector) verifying costs no request.
func TestCanaryCostsNoRequestWhereTheAnswerShowsTheRecord(t *testing.T) {
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &dropping{prefix: "/", wire: "none"} // drops nothing; counts everything
	srv := httptest.NewServer(d.handler(sb))
	defer srv.Close()
	dir := t.TempDir()
	m := newManifest("  bonifiq: {rate_limit: 1000, concurrency: 4}\n  invisiblecollector: {rate_limit: 1000, concurrency: 4}\n")
	for i := range 10 {
		m.customer(fmt.Sprintf("c%03d", i), fmt.Sprintf("    name: Customer %d\n    phone: \"+55 11 5555-%04d\"\n    bonifiq: {enrolled: true}\n"+
			"    invisiblecollector: {vat_number: \"PT%09d\", country: PT, city: Lisboa}\n", i, i, 500000000+i))
	}
	m.write(t, dir)
	r := runReconcile(t, dir, sandbox.Env(srv.URL), "apply", "-auto-approve", "-verify", "-f", "m.yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "20 created") {
		t.Fatalf("apply: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	gets := 0
	for _, req := range sb.Requests() {
		if req.Method == http.MethodGet {
			gets++
		}
	}
	if gets != 0 {
		t.Errorf("%d reads: verifying BonifiQ and InvisibleCollector writes should read their answers, not the services", gets)
	}
}

// TestVerifyEveryWrite: -verify on 1,000 customers against the sandbox
// finds no mismatch and makes the requests the plan estimated: BonifiQ's
// writes verified from their answers (no read), TomTicket's by a read each.
func TestVerifyEveryWrite(t *testing.T) {
	sb, base := startSandbox(t, sandbox.Options{})
	dir := t.TempDir()
	m := newManifest("  bonifiq: {rate_limit: 5000, concurrency: 16}\n")
	for i := range 1000 {
		block := "    bonifiq: {enrolled: true}\n"
		if i < 6 {
			block += "    tomticket: {language: pt-BR}\n"
		}
		m.customer(fmt.Sprintf("v%04d", i), fmt.Sprintf("    name: Customer %d\n    email: c%d@example.com\n", i, i)+block)
	}
	m.write(t, dir)
	env := sandbox.Env(base)
	plan := runReconcile(t, dir, env, "plan", "-json", "-f", "m.yaml")
	if plan.code != 0 {
		t.Fatal(plan.stderr)
	}
	r := runReconcile(t, dir, env, "apply", "-auto-approve", "-verify", "-parallelism", "32", "-f", "m.yaml", "-no-color")
	if r.code != 0 || !strings.Contains(r.stdout, "1006 created") {
		t.Fatalf("apply -verify: %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "bonifiq: 1,000 calls, about") {
		t.Errorf("the plan apply showed does not estimate bonifiq's 1,000 requests:\n%s", r.stdout[strings.Index(r.stdout, "Apply will make"):])
	}
	if !strings.Contains(r.stdout, "tomticket: 6 calls, 12–18 requests (6 reads to verify writes)") {
		t.Errorf("the plan apply showed does not count TomTicket's verifying reads:\n%s", r.stdout[strings.Index(r.stdout, "Apply will make"):])
	}
	counts := map[string]int{}
	for _, req := range sb.Requests() {
		if req.Status != 429 {
			counts[req.Provider+" "+req.Method]++
		}
	}
	if counts["bonifiq POST"] != 1000 || counts["bonifiq GET"] != 0 {
		t.Errorf("bonifiq: %v; want 1,000 upserts and no read", counts)
	}
	if tt := counts["tomticket POST"] + counts["tomticket GET"]; tt < 12 || tt > 18 || counts["tomticket GET"] != 6 {
		t.Errorf("tomticket: %v; want 12–18 requests, 6 of them reads", counts)
	}
}
