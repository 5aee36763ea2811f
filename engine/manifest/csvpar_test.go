package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

// messyHeader is the header of writeMessyCSV's files: shared keys, keys of
// two providers, and the keys of both providers' record rules.
const messyHeader = "id,name,email,phone,bonifiq.enrolled,bonifiq.tier.id,bonifiq.tier.comments,tomticket.language,tomticket.id_type,tomticket.internal_id"

// writeMessyCSV writes n rows (after the header) with problems scattered
// through them: bad cells, record rules broken, duplicate ids far apart
// and next to each other, ids that differ only in case (twice), missing and
// null ids, ragged and empty rows, broken quotes, quoted cells that span
// lines, cells with quotes and with non-ASCII text (columns count
// characters), CRLF line ends. stop, when not "", replaces row stopAt by a
// row that ends reading: "utf8" (not valid UTF-8) or "long" (more than
// MaxRecordBytes).
func writeMessyCSV(tb testing.TB, path string, n int, stop string, stopAt int) {
	tb.Helper()
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString(messyHeader + "\n")
	langs := [...]string{"pt-BR", "en-US", "es_ES"}
	for i := range n {
		eol := "\n"
		if i%2 == 1 {
			eol = "\r\n"
		}
		if stop != "" && i == stopAt {
			switch stop {
			case "utf8":
				fmt.Fprintf(w, "u%06d,Caf\xe9,,,true,,,,,%s", i, eol)
			case "long":
				fmt.Fprintf(w, "l%06d,%s,,,true,,,,,%s", i, strings.Repeat("x", MaxRecordBytes), eol)
			}
			continue
		}
		switch {
		case i%281 == 0:
			w.WriteString(",,,,,,,,," + eol)
			continue
		case i%283 == 0:
			w.WriteString(" " + eol)
			continue
		case i%277 == 0:
			fmt.Fprintf(w, "r%06d,Ragged,x@y.co%s", i, eol)
			continue
		}
		id := fmt.Sprintf("ab%06d", i)
		switch {
		case i%251 == 7 && i > 3000:
			id = fmt.Sprintf("ab%06d", i-3000) // a duplicate far back
		case i%251 == 8:
			id = fmt.Sprintf("ab%06d", i-1) // the row before's
		case i%257 == 11:
			id = fmt.Sprintf("AB%06d", i-1) // differs from the row before's in case only
		case i%257 == 12:
			id = fmt.Sprintf("AB%06d", i-2) // the same variant again
		case i%257 == 13:
			id = fmt.Sprintf("Ab%06d", i-3) // a third spelling
		case i%263 == 5:
			id = "  "
		case i%269 == 3:
			id = " ~ "
		case i%271 == 9:
			id = "1.2E+11"
		}
		name := fmt.Sprintf("Customer %d", i)
		switch {
		case i%5 == 0:
			name = fmt.Sprintf("José Ñandú %d", i)
		case i%7 == 0:
			name = fmt.Sprintf(`"Ana ""A"", Maria %d"`, i)
		case i%11 == 0:
			name = fmt.Sprintf("\"Ana\nMaria %d\"", i)
		case i%13 == 0:
			name = fmt.Sprintf("  Beto %d ", i)
		case i%359 == 0:
			name = `Bad"quote`
		}
		email := fmt.Sprintf("c%d@example.com", i)
		if i%293 == 0 {
			email = "bad@"
		}
		phone := fmt.Sprintf("+55 11 9%04d-%04d", i/10000%10000, i%10000)
		if i%307 == 0 {
			phone = "+55 11 99999-0000 ramal 2 ou 3"
		}
		enrolled := "true"
		switch {
		case i%3 == 0:
			enrolled = "false"
		case i%311 == 0:
			enrolled = "maybe"
		}
		tier := fmt.Sprint(1 + i%4)
		switch {
		case i%313 == 0:
			tier = "0"
		case i%317 == 0:
			tier = "x"
		case i%331 == 0:
			tier = "~"
		case i%337 == 0:
			tier = ""
		}
		comments := ""
		if i%337 == 0 || i%17 == 0 {
			comments = "vip"
		}
		lang := langs[i%3]
		if i%347 == 0 {
			lang = "pt-br"
		}
		idType, internal := "", ""
		switch {
		case i%349 == 0:
			internal = "x1"
		case i%353 == 0:
			idType, internal = "email", "x2"
		}
		if i%367 == 0 || i%257 == 11 && i%3 == 0 {
			// Managed in no provider, warned at the row's start, where an
			// id that differs only in case is warned too.
			enrolled, tier, comments, lang, idType, internal = "", "", "", "", "", ""
		}
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s%s", id, name, email, phone, enrolled, tier, comments, lang, idType, internal, eol)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// loadWith loads paths with csvWorkers, csvBatchRows and csvPlainLines
// set to workers, rows and plain, and returns the diagnostics, rendered,
// and the customers.
func loadWith(t *testing.T, workers, rows int, plain bool, paths ...string) ([]string, []*engine.Customer) {
	t.Helper()
	defer func(w, r int, p bool) { csvWorkers, csvBatchRows, csvPlainLines = w, r, p }(csvWorkers, csvBatchRows, csvPlainLines)
	csvWorkers, csvBatchRows, csvPlainLines = workers, rows, plain
	d, diags := Load(registry.Default(), paths)
	got := make([]string, len(diags))
	for i, dg := range diags {
		got[i] = dg.String()
	}
	return got, d.Customers
}

// TestCSVBatchesMatchOneByOne loads CSVs of many batches, with problems
// scattered through them, by batches of several sizes and by several
// workers, and checks that every configuration gives exactly the
// diagnostics and customers of loading the records one at a time on one
// worker, all read by csv.Reader, which is reading them in order as a
// loop would; and pins some of them.
func TestCSVBatchesMatchOneByOne(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeMessyCSV(t, "messy.csv", 20_000, "", 0)
	writeMessyCSV(t, "again.csv", 9_000, "", 0) // its ids are messy.csv's
	writeMessyCSV(t, "utf8.csv", 9_000, "utf8", 7_001)
	writeMessyCSV(t, "long.csv", 9_000, "long", 5_003)
	const noProvider = " (fill a cell of a bonifiq, invisiblecollector or tomticket column)"
	const caseOnly = " (services that match e-mail addresses ignore case, so both may reach the same customer)"
	cases := []struct {
		paths []string
		// pins are diagnostics that must be among those loading gives, in
		// this order, and last the last one; nDiags and nCust are how many diagnostics and
		// customers it gives.
		pins          []string
		last          string
		nDiags, nCust int
	}{
		{
			paths: []string{"messy.csv"},
			pins: []string{
				`messy.csv:5:1: id: cannot be null (every row needs the customer's id)`,
				`messy.csv:7:1: id: missing id (every row needs the customer's id)`,
				// The row before's id; a case variant, seen twice, and another.
				`messy.csv:10:1: duplicate id "ab000007" (first at messy.csv:9:1)`,
				`messy.csv:13:1: warning: id "AB000010" differs only in letter case from "ab000010" (at messy.csv:12:1)` + caseOnly,
				`messy.csv:15:1: duplicate id "AB000010" (first at messy.csv:13:1)`,
				`messy.csv:16:1: warning: id "Ab000010" differs only in letter case from "ab000010" (at messy.csv:12:1)` + caseOnly,
				// Record rules, the reader's errors.
				`messy.csv:328:40: phone: too long for tomticket: 30 characters (at most 20) (TomTicket keeps phone numbers of up to 20 characters)`,
				`messy.csv:359:64: bonifiq.tier.id: required when other tier keys are set (changing the tier's grace period or comments needs the tier's id)`,
				`messy.csv:383:13: invalid CSV: bare " in non-quoted-field (quote a cell that holds quotes, and double the quotes inside it (""))`,
				// Two warnings at one position, in the order they are made:
				// the row's, then its id's.
				`messy.csv:560:1: warning: customer "AB000524": managed in no provider` + noProvider,
				`messy.csv:560:1: warning: id "AB000524" differs only in letter case from "ab000524" (at messy.csv:559:1)` + caseOnly,
				// Columns in characters: after "José Ñandú 1465", and on the
				// second line of a quoted cell.
				`messy.csv:1558:26: email: invalid e-mail address "bad@"`,
				`messy.csv:2022:66: bonifiq.tier.id: invalid integer "x" (write a whole number such as 3)`,
				`messy.csv:2027:1: id: "1.2E+11" is a number in scientific notation (a spreadsheet turned the number into scientific notation; format the column as text and export it again)`,
				`messy.csv:2062:1: row has 3 cells, but the header has 10 (every row needs one cell per column; quote cells that hold the delimiter)`,
				`messy.csv:3424:13: email: invalid e-mail address "bad@"`,
				// An id 3,000 rows back, batches away.
				`messy.csv:10399:1: duplicate id "ab006796" (first at messy.csv:7215:1)`,
			},
			nDiags: 1340, nCust: 19394,
		},
		{
			paths: []string{"messy.csv", "again.csv"},
			pins:  []string{`again.csv:2022:1: duplicate id "ab001902" (first at messy.csv:2022:1)`},
		},
		{
			paths: []string{"utf8.csv"},
			last:  "utf8.csv:7434: not valid UTF-8 (save it as UTF-8, or read it through a manifest's sources entry with encoding: windows-1252)",
		},
		{
			paths: []string{"long.csv"},
			last:  "long.csv:5314: row longer than 1 MiB: not read (a cell holds far more than a customer's data: check the export (an unclosed quote swallows the rows after it))",
		},
	}
	// Where the reader's own splitting of lines stops and csv.Reader's
	// takes over: lines longer than its buffer, quotes, the last line, line
	// ends.
	long := strings.Repeat("y", 100<<10)
	edges := map[string]string{
		"noeol.csv": "id,name,bonifiq.enrolled\n1,Ana,true\n2,Bia,false",
		"creol.csv": "id,name,bonifiq.enrolled\r\n1,Ana,true\r\n2,Bia,false\r",
		"blank.csv": "id,name,bonifiq.enrolled\n\n\r\n1,Ana,true\n\n\n2,Bia,x\n\r\n\n",
		"longline.csv": "id,name,bonifiq.enrolled,tomticket.custom_fields.cf_a\n1,Ana,true," + long + "\n2,Bia,x,\"" + long + "\n" + long + "\"\n3,Caio,y,z\n" +
			strings.Repeat("4,Dani,true,q\n", 3000) + "5,\"E\nva\",maybe,\"a\"\"b\"\n6,F\"x,true,a\n7,Gil,sim,b\n",
		"eofquote.csv": "id,name,bonifiq.enrolled\n1,Ana,true\n2,\"Bia,false\n3,Caio,true\n",
		"semi.csv":     "id;name;bonifiq.enrolled\n1;Ana;true\n2;\"B;ia\";false\n3;Caio,x;maybe\n",
		"quotehdr.csv": "\"id\",\"na\nme\",bonifiq.enrolled\n1,Ana,true\n2,Bia,nope\n",
		"spaces.csv":   "id,name,bonifiq.enrolled\n  \n , , \n1, Ana ,true\n\t2\t,Bia,x\n",
		"crmid.csv":    "id,name,bonifiq.enrolled\n1,A\rna,true\n2,Bia,x\r\r\n3,C,true\n",
	}
	for _, name := range slices.Sorted(maps.Keys(edges)) {
		if err := os.WriteFile(name, []byte(edges[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct {
			paths         []string
			pins          []string
			last          string
			nDiags, nCust int
		}{paths: []string{name}})
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.paths, ","), func(t *testing.T) {
			want, wantCust := loadWith(t, 1, 1, false, tc.paths...)
			at := 0
			for _, p := range tc.pins {
				i := slices.Index(want[at:], p)
				if i < 0 {
					t.Errorf("missing, or out of order: %s", p)
					continue
				}
				at += i + 1
			}
			if tc.last != "" && (len(want) == 0 || want[len(want)-1] != tc.last) {
				t.Errorf("the last diagnostic is not %s", tc.last)
			}
			if tc.nDiags != 0 && (len(want) != tc.nDiags || len(wantCust) != tc.nCust) {
				t.Errorf("%d diagnostics and %d customers, want %d and %d", len(want), len(wantCust), tc.nDiags, tc.nCust)
			}
			for _, cfg := range []struct {
				workers, rows int
				plain         bool
			}{{1, 1, true}, {1, 2048, true}, {2, 1, true}, {3, 7, true}, {2, 300, false}, {2, 300, true}, {4, 5000, true}, {csvWorkers, csvBatchRows, true}} {
				got, gotCust := loadWith(t, cfg.workers, cfg.rows, cfg.plain, tc.paths...)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%+v: diagnostics (-one by one +batched):\n%s", cfg, diff)
				}
				if !slices.EqualFunc(wantCust, gotCust, sameCustomer) {
					t.Errorf("%+v: customers (-one by one +batched):\n%s", cfg, cmp.Diff(wantCust, gotCust))
				}
			}
		})
	}
}

// sameCustomer is cmp.Equal for customers, fast enough for thousands.
func sameCustomer(a, b *engine.Customer) bool {
	return a.ID == b.ID && a.Pos == b.Pos && a.Managed == b.Managed && slices.Equal(a.Fields, b.Fields)
}

// TestBoundedRecordsRuns checks boundedRecords, which skips ahead over runs
// without quotes, against counting byte by byte, on streams with records
// below, at and past MaxRecordBytes, read in chunks of random sizes.
func TestBoundedRecordsRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := func(n int) string { return strings.Repeat("x", n) }
	// Records at the limit and one byte past it, read as io.ReadAll asks.
	fixed := []string{
		x(MaxRecordBytes) + "\n" + x(MaxRecordBytes) + "\n",
		x(MaxRecordBytes+1) + "\n",
		"a\n" + x(MaxRecordBytes+1),
		`"` + x(MaxRecordBytes-2) + `"` + "\n",
		`"` + x(MaxRecordBytes-1) + `"` + "\n",
		`"` + x(MaxRecordBytes/2) + "\n" + x(MaxRecordBytes/2-3) + `"` + "\n",
		`"` + x(MaxRecordBytes/2) + "\n" + x(MaxRecordBytes/2-2) + `"` + "\n",
	}
	for iter := range 40 + len(fixed) {
		var data []byte
		if iter >= 40 {
			data = []byte(fixed[iter-40])
		}
		for iter < 40 && len(data) < 3*MaxRecordBytes {
			switch k := rng.IntN(10); {
			case k < 5: // a short line
				data = append(data, bytes.Repeat([]byte("a"), rng.IntN(200))...)
				data = append(data, '\n')
			case k < 7: // a quoted cell with line breaks, quotes doubled or not
				data = append(data, '"')
				for range rng.IntN(20) {
					data = append(data, bytes.Repeat([]byte("b"), rng.IntN(5000))...)
					data = append(data, "\n\"\""[rng.IntN(3)])
				}
				data = append(data, '"', '\n')
			default: // a long line, near the limit
				n := MaxRecordBytes - 50 + rng.IntN(100)
				if iter%2 == 0 {
					n = rng.IntN(MaxRecordBytes / 2)
				}
				data = append(data, bytes.Repeat([]byte("c"), n)...)
				data = append(data, '\n')
			}
		}
		// Byte by byte, as the limit is defined.
		wantN, wantLine := len(data), 0
		n, line, quoted := 0, 0, false
		for i, c := range data {
			switch c {
			case '"':
				quoted = !quoted
			case '\n':
				line++
				if !quoted {
					n = 0
					continue
				}
			}
			n++
			if n > MaxRecordBytes {
				wantN, wantLine = i, line+1
				break
			}
		}
		c := &chunks{data: data, rng: rng}
		if iter >= 40 {
			c.rng = nil
		}
		b := &boundedRecords{r: c}
		got, err := io.ReadAll(b)
		var long *errRecordTooLong
		switch {
		case wantLine == 0 && err != nil:
			t.Fatalf("stream %d: %v, want none", iter, err)
		case wantLine != 0 && (!errors.As(err, &long) || long.line != wantLine):
			t.Fatalf("stream %d: %v, want a record too long on line %d", iter, err, wantLine)
		case len(got) != wantN:
			t.Fatalf("stream %d: read %d bytes, want %d", iter, len(got), wantN)
		}
	}
}

// chunks reads data in chunks of random sizes, or as much as asked for
// when rng is nil.
type chunks struct {
	data []byte
	rng  *rand.Rand
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	if c.rng != nil {
		p = p[:min(len(p), 1+c.rng.IntN(100_000))]
	}
	n := copy(p, c.data)
	c.data = c.data[n:]
	return n, nil
}

// FuzzCSVBatches loads a CSV one record at a time, every record read by
// csv.Reader, and batched with the reader splitting plain lines itself, and
// checks that both give the same diagnostics and customers.
func FuzzCSVBatches(f *testing.F) {
	for _, s := range fuzzSeeds(f, ".csv") {
		f.Add(s)
	}
	for _, s := range []string{
		"id,name,bonifiq.enrolled\n1,Ana,true\n2,Bia,false",
		"id,name\r\n1,\"A\r\nna\"\r\n\r\n2,B\"ia\r\n3,\"C\"\"\"\r",
		"id;name;email\n1;a;b@c.de\n\n;x;\n 2 ;\"y\n\";z\n",
		"id,name,bonifiq.enrolled\n1,Ana,true\n2,\"Bia,false\n3,Caio,true\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		t.Chdir(dir)
		if err := os.WriteFile("f.csv", data, 0o600); err != nil {
			t.Fatal(err)
		}
		want, wantCust := loadWith(t, 1, 1, false, "f.csv")
		got, gotCust := loadWith(t, 2, 3, true, "f.csv")
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("diagnostics (-csv.Reader one by one +batched):\n%s", diff)
		}
		if !slices.EqualFunc(wantCust, gotCust, sameCustomer) {
			t.Errorf("customers (-csv.Reader one by one +batched):\n%s", cmp.Diff(wantCust, gotCust))
		}
	})
}
