package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/invisiblecollector"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// rejectingSandbox serves the sandbox, except that InvisibleCollector
// rejects the customers in reject with a 422, as it rejects invalid data.
func rejectingSandbox(t *testing.T, reject ...string) *httptest.Server {
	t.Helper()
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := icCustomerID(r)
		for _, rej := range reject {
			if ok && id == rej {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnprocessableEntity)
				fmt.Fprintln(w, unprocessable)
				return
			}
		}
		sb.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestReportOpensInExcel applies a CSV exported by Excel in Brazil and
// reads the report as a pt-BR Excel opens a CSV: UTF-8 only with its byte
// order mark, ';' between cells, CRLF line ends.
func TestReportOpensInExcel(t *testing.T) {
	srv := rejectingSandbox(t, "2002")
	dir := t.TempDir()
	manifest := `providers:
  invisiblecollector: {rate_limit: 1000, concurrency: 4}
sources:
  - file: exportação/clientes.csv
    encoding: cp1252
    columns:
      "Código": id
      "Nome": name
      "NIF": invisiblecollector.vat_number
      "País": invisiblecollector.country
      "Cidade": invisiblecollector.city
`
	export, err := charmap.Windows1252.NewEncoder().String("Código;Nome;NIF;País;Cidade\r\n" +
		"2001;João Conceição;123;BR;São Paulo\r\n" +
		"2002;Márcia Ângela;456;BR;Brasília\r\n" +
		"2003;Çarla Núñez;PT500000001;PT;Lisboa\r\n" +
		"\r\n")
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"clientes.yaml": manifest, "exportação/clientes.csv": export})

	r := runReconcile(t, dir, sandbox.Env(srv.URL), "apply", "-auto-approve", "-report", "relatório.csv", "-f", "clientes.yaml")
	if r.code != 1 {
		t.Fatalf("apply exited %d, want 1 (one customer rejected)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(filepath.Join(dir, "relatório.csv"))
	if err != nil {
		t.Fatalf("%v\nstdout:\n%s\nstderr:\n%s", err, r.stdout, r.stderr)
	}
	body, ok := bytes.CutPrefix(data, []byte("\xef\xbb\xbf"))
	if !ok {
		t.Fatalf("the report does not start with a UTF-8 byte order mark, so Excel reads it as Windows-1252:\n%q", data)
	}
	if n, crlf := bytes.Count(body, []byte("\n")), bytes.Count(body, []byte("\r\n")); n != 4 || crlf != n {
		t.Errorf("the report has %d line ends, %d of them CRLF; want 4, all CRLF:\n%q", n, crlf, body)
	}
	cr := csv.NewReader(bytes.NewReader(body))
	cr.Comma = ';'
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatalf("reading the report with ';': %v\n%s", err, body)
	}
	want := [][]string{
		{"address", "action", "status", "http_status", "message", "source"},
		{"invisiblecollector/2001", "create", "ok", "201", "", "exportação/clientes.csv:2"},
		{"invisiblecollector/2002", "create", "failed", "422", "", "exportação/clientes.csv:3"},
		{"invisiblecollector/2003", "create", "ok", "201", "", "exportação/clientes.csv:4"},
	}
	// The message is the service's, after the call that drew it.
	if len(recs) == len(want) {
		msg := recs[2][4]
		if !strings.HasSuffix(msg, ": 422 Unprocessable Entity: Unprocessable request") {
			t.Errorf("the failed row's message is %q, want the service's", msg)
		}
		want[2][4] = msg
		for _, i := range []int{1, 3} {
			if strings.HasPrefix(recs[i][3], "20") {
				want[i][3] = recs[i][3]
			}
		}
	}
	if diff := cmp.Diff(want, recs); diff != "" {
		t.Errorf("the report, read as Excel in Brazil reads it (-want +got):\n%s", diff)
	}
}

// TestReportXLSX applies a workbook and writes the report as a workbook:
// the failed row names the sheet and cell of its customer.
func TestReportXLSX(t *testing.T) {
	srv := rejectingSandbox(t, "2")
	dir := t.TempDir()
	wb := excelize.NewFile()
	for i, row := range [][]any{
		{"id", "name", "invisiblecollector.vat_number", "invisiblecollector.country"},
		{1, "Ana", "PT500000001", "PT"},
		{2, "Bia", 123456789, "BR"},
	} {
		if err := wb.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &row); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.SetSheetName("Sheet1", "Plan1"); err != nil {
		t.Fatal(err)
	}
	if err := wb.SaveAs(filepath.Join(dir, "clientes.xlsx")); err != nil {
		t.Fatal(err)
	}

	r := runReconcile(t, dir, sandbox.Env(srv.URL), "apply", "-auto-approve", "-report", "report.xlsx", "-f", "clientes.xlsx")
	if r.code != 1 {
		t.Fatalf("apply exited %d, want 1 (one customer rejected)\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if want := "invisiblecollector/2 (clientes.xlsx: Plan1!A3): "; !strings.Contains(r.stdout, want) {
		t.Errorf("the failures listed after the summary: want %q in\n%s", want, r.stdout)
	}
	rep, err := excelize.OpenFile(filepath.Join(dir, "report.xlsx"))
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	rows, err := rep.GetRows("report")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 {
		t.Fatalf("report has %d rows, want 3: %q", len(rows), rows)
	}
	if diff := cmp.Diff([]string{"address", "action", "status", "http_status", "message", "source"}, rows[0]); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	failed := rows[2]
	if len(failed) != 6 || failed[0] != "invisiblecollector/2" || failed[2] != "failed" || failed[3] != "422" ||
		!strings.HasSuffix(failed[4], "Unprocessable request") || failed[5] != "clientes.xlsx: Plan1!A3" {
		t.Errorf("the failed row is %q; want invisiblecollector/2, failed, 422, the service's message, clientes.xlsx: Plan1!A3", failed)
	}
	// A number cell has no type attribute, which excelize reads as unset.
	if typ, err := rep.GetCellType("report", "D3"); err != nil || (typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset) {
		t.Errorf("http_status is stored as cell type %v (%v), want a number", typ, err)
	}
	if typ, _ := rep.GetCellType("report", "E3"); typ != excelize.CellTypeInlineString {
		t.Errorf("message is stored as cell type %v, want text", typ)
	}
}

// TestReportBytes checks the report's exact bytes: the delimiter follows the
// CSV manifests, cells are quoted only when they must be.
func TestReportBytes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"semi.csv": "id;name\r\n1;a\r\n", "comma.csv": "id,name\n2,b\n"})
	res := func(file string) *engine.Result {
		src := engine.Pos{File: filepath.Join(dir, file), Line: 2}
		return &engine.Result{Items: []*engine.Item{
			{Change: &engine.Change{Address: "bonifiq/1", Action: engine.ActionCreate, Source: src.FileLine(), Desired: &engine.Resource{Source: src}},
				Status: engine.StatusFailed, HTTPStatus: 400, Message: `bonifiq: upsert 1: 400 Bad Request: "Email"; inválido`},
			{Change: &engine.Change{Address: "tomticket/9", Action: engine.ActionForget}, Status: engine.StatusOK},
		}}
	}
	for _, tc := range []struct{ manifest, want string }{
		{"semi.csv", "\ufeffaddress;action;status;http_status;message;source\r\n" +
			`bonifiq/1;create;failed;400;"bonifiq: upsert 1: 400 Bad Request: ""Email""; inválido";` + filepath.Join(dir, "semi.csv") + ":2\r\n" +
			"tomticket/9;forget;ok;;;\r\n"},
		{"comma.csv", "\ufeffaddress,action,status,http_status,message,source\r\n" +
			`bonifiq/1,create,failed,400,"bonifiq: upsert 1: 400 Bad Request: ""Email""; inválido",` + filepath.Join(dir, "comma.csv") + ":2\r\n" +
			"tomticket/9,forget,ok,,,\r\n"},
		{"m.yaml", "\ufeffaddress,action,status,http_status,message,source\r\n" +
			`bonifiq/1,create,failed,400,"bonifiq: upsert 1: 400 Bad Request: ""Email""; inválido",` + filepath.Join(dir, "m.yaml") + ":2\r\n" +
			"tomticket/9,forget,ok,,,\r\n"},
	} {
		path := filepath.Join(dir, tc.manifest+".report.csv")
		if err := writeReport(path, res(tc.manifest), func(s string) string { return s }); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, string(got)); diff != "" {
			t.Errorf("report of %s (-want +got):\n%s", tc.manifest, diff)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReportCellsAreNeverFormulas: a service's message that looks like a
// spreadsheet formula is written as text.
func TestReportCellsAreNeverFormulas(t *testing.T) {
	for in, want := range map[string]string{
		`=HYPERLINK("http://x","y")`: `'=HYPERLINK("http://x","y")`,
		"+1 555":                     "'+1 555",
		"-2":                         "'-2",
		"@SUM(A1)":                   "'@SUM(A1)",
		"ok":                         "ok",
		"":                           "",
	} {
		if got := noFormula(in); got != want {
			t.Errorf("noFormula(%q) = %q, want %q", in, got, want)
		}
	}
}

// icCustomerID returns the id of the InvisibleCollector customer a sandbox
// request writes: from the path of a PUT, or the body's externalId of a
// POST (a create tried as a POST first, when most creates so far were new).
func icCustomerID(r *http.Request) (string, bool) {
	if r.Method == http.MethodPost && r.URL.Path == invisiblecollector.Service.SandboxPrefix+"/customers" {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var c struct {
			ExternalID string `json:"externalId"`
		}
		json.Unmarshal(body, &c)
		return c.ExternalID, true
	}
	return strings.CutPrefix(r.URL.Path, invisiblecollector.Service.SandboxPrefix+"/customers/")
}

// TestReportStreamsItsRows: the report's rows are written as they are made,
// one per item in order, and a report of no changes is its header alone,
// in CSV and in a workbook.
func TestReportStreamsItsRows(t *testing.T) {
	dir := t.TempDir()
	var items []*engine.Item
	for i := range 2000 { // more than the rows' channel holds
		items = append(items, &engine.Item{Change: &engine.Change{Address: fmt.Sprintf("bonifiq/%04d", i), Action: engine.ActionUpdate, Source: "c.csv:2"},
			Status: engine.StatusOK, HTTPStatus: 200})
	}
	items[7].Message = "=cmd" // a formula, kept as text
	redact := func(s string) string { return s }
	for _, tt := range []struct {
		name  string
		items []*engine.Item
	}{
		{"none", nil},
		{"many", items},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".csv")
			if err := writeReport(path, &engine.Result{Items: tt.items}, redact); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, []byte("\ufeffaddress,action,status,http_status,message,source\r\n")) {
				t.Fatalf("report starts %q", b[:min(len(b), 80)])
			}
			rows, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1+len(tt.items) {
				t.Fatalf("%d rows, want the header and %d", len(rows), len(tt.items))
			}
			for i, it := range tt.items {
				if rows[i+1][0] != it.Change.Address || rows[i+1][3] != "200" {
					t.Fatalf("row %d = %q, want %s's", i+1, rows[i+1], it.Change.Address)
				}
			}
			if len(tt.items) > 7 && rows[8][4] != "'=cmd" {
				t.Errorf("row 8's message %q, want the formula as text", rows[8][4])
			}
			xl := filepath.Join(dir, tt.name+".xlsx")
			if err := writeReport(xl, &engine.Result{Items: tt.items}, redact); err != nil {
				t.Fatal(err)
			}
			f, err := excelize.OpenFile(xl)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sheet, err := f.GetRows("report")
			if err != nil {
				t.Fatal(err)
			}
			if len(sheet) != 1+len(tt.items) || sheet[0][0] != "address" {
				t.Fatalf("workbook: %d rows starting %q, want the header and %d", len(sheet), sheet[0], len(tt.items))
			}
		})
	}
}
