package manifest

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

func TestDateFormats(t *testing.T) {
	birthday := registry.Default().LookupKey("bonifiq.birthday")
	signup := registry.Default().LookupKey("bonifiq.signup_date")
	for _, tc := range []struct {
		format, text string
		key          *engine.Key
		want         string // the value, or the problem
	}{
		{"DD/MM/YYYY", "12/04/1988", birthday, "1988-04-12"},
		{"DD/MM/YYYY", "2/4/1988", birthday, "1988-04-02"},
		{"MM/DD/YYYY", "4/12/1988", birthday, "1988-04-12"},
		{"MM/DD/YYYY", "12/04/1988", birthday, "1988-12-04"},
		{"YYYY-MM-DD", "1988-04-12", birthday, "1988-04-12"},
		{"DD.MM.YYYY", "12.04.1988", birthday, "1988-04-12"},
		{"DDMMYYYY", "12041988", birthday, "1988-04-12"},
		{"DD/MM/YYYY", "12/04/1988", signup, "1988-04-12T00:00:00Z"},
		{"DD/MM/YYYY hh:mm:ss", "07/11/2023 05:31:56", signup, "2023-11-07T05:31:56Z"},
		{"DD/MM/YYYY hh:mm", "07/11/2023 5:31", signup, "2023-11-07T05:31:00Z"},
		{"YYYY-MM-DDThh:mm:ss", "2023-11-07T05:31:56", signup, "2023-11-07T05:31:56Z"},
		{"DD/MM/YYYY hh:mm", "12/04/1988 00:00", birthday, "1988-04-12"},
		{"DD/MM/YYYY hh:mm", "12/04/1988 10:30", birthday, `"12/04/1988 10:30" has a time of day (bonifiq.birthday is a date, without a time)`},
		{"DD/MM/YYYY", "1988-04-12", birthday, `invalid date "1988-04-12" (not in the declared format DD/MM/YYYY (sources[0].date_format in m.yaml))`},
		{"DD/MM/YYYY", "12/04/88", birthday, `invalid date "12/04/88" (not in the declared format DD/MM/YYYY (sources[0].date_format in m.yaml))`},
		{"DD/MM/YYYY", "12/04/1988 ", birthday, `invalid date "12/04/1988 " (not in the declared format DD/MM/YYYY (sources[0].date_format in m.yaml))`},
		{"DD/MM/YYYY", "31/02/1988", birthday, `invalid date "31/02/1988" (there is no such day in the calendar)`},
		{"MM/DD/YYYY", "13/01/1988", birthday, `invalid date "13/01/1988" (there is no such day in the calendar)`},
		{"DD/MM/YYYY hh:mm", "12/04/1988 24:00", signup, `invalid time "12/04/1988 24:00" (there is no such time of day)`},
	} {
		df, msg := parseDateFormat(tc.format)
		if df == nil {
			t.Fatalf("parseDateFormat(%q): %s", tc.format, msg)
		}
		df.where = "sources[0].date_format in m.yaml"
		v, p := dateValue(tc.key, tc.text, df)
		got := v.S
		if !p.ok() {
			got = p.msg + " (" + p.detail + ")"
		}
		if got != tc.want {
			t.Errorf("%s %q as %s: got %s, want %s", tc.format, tc.text, tc.key.Path, got, tc.want)
		}
	}

	for format, want := range map[string]string{
		"DD/MM/YY":         `unknown token "YY"`,
		"D/M/YYYY":         `unknown token "D"`,
		"dd/mm/yyyy":       `unknown token "dd"`,
		"MM/YYYY":          "missing DD",
		"DD/MM/YYYY/DD":    "DD appears twice",
		"DD/MM/YYYY hh":    "a time is hh:mm or hh:mm:ss",
		"DD/MM/YYYY mm:ss": "a time is hh:mm or hh:mm:ss",
	} {
		if df, msg := parseDateFormat(format); df != nil || msg != want {
			t.Errorf("parseDateFormat(%q) = %v, %q; want the error %q", format, df, msg, want)
		}
	}
}

func TestLocalDatesWithoutFormat(t *testing.T) {
	runLoadCases(t, []loadCase{
		{
			name: "dates a spreadsheet wrote in a local format",
			files: map[string]string{
				"m.yaml": "sources:\n  - file: a.csv\n    columns: {Id: id, Nasc: bonifiq.birthday, Cad: bonifiq.signup_date}\n",
				"a.csv":  "Id;Nasc;Cad\n1;12/04/1988;25.12.2020 10:30\n2;25/04/1988;12/31/2020\n3;1988-04-12;2020-12-31\n4;12-04-88;\n",
				"b.csv":  "id,bonifiq.birthday\n5,05/06/1990\n",
			},
			paths: []string{"m.yaml", "b.csv"},
			want: []string{
				`a.csv:2:3: Nasc: invalid date "12/04/1988" (12/04/1988 could be day 12 of month 4 or day 4 of month 12: declare how dates are written, date_format: DD/MM/YYYY or MM/DD/YYYY, on sources[0] in m.yaml)`,
				`a.csv:2:14: Cad: invalid time "25.12.2020 10:30" (declare how dates are written: date_format: DD.MM.YYYY hh:mm on sources[0] in m.yaml)`,
				`a.csv:3:3: Nasc: invalid date "25/04/1988" (declare how dates are written: date_format: DD/MM/YYYY on sources[0] in m.yaml)`,
				`a.csv:3:14: Cad: invalid time "12/31/2020" (declare how dates are written: date_format: MM/DD/YYYY on sources[0] in m.yaml)`,
				`a.csv:5:3: Nasc: invalid date "12-04-88" (write it as YYYY-MM-DD, such as 1988-04-12)`,
				`b.csv:2:3: bonifiq.birthday: invalid date "05/06/1990" (05/06/1990 could be day 5 of month 6 or day 6 of month 5: declare how dates are written, date_format: DD/MM/YYYY or MM/DD/YYYY, on a sources entry that reads b.csv)`,
			},
			customers: []*engine.Customer{
				cust("1", "a.csv:2:1", bq),
				cust("2", "a.csv:3:1", bq),
				cust("3", "a.csv:4:1", bq, "bonifiq.birthday", "1988-04-12", "bonifiq.signup_date", "2020-12-31T00:00:00Z"),
				cust("4", "a.csv:5:1", bq),
				cust("5", "b.csv:2:1", bq),
			},
		},
		{
			name: "a source's date format, and a column's own",
			files: map[string]string{
				"m.yaml": `sources:
  - file: a.csv
    date_format: DD/MM/YYYY
    columns:
      Id: id
      Nasc: bonifiq.birthday
      Cad: {key: bonifiq.signup_date, date_format: MM/DD/YYYY hh:mm}
`,
				"a.csv": "Id,Nasc,Cad\n1,12/04/1988,04/12/2023 17:05\n2,1988-04-12,2023-04-12\n",
			},
			paths: []string{"m.yaml"},
			want: []string{
				`a.csv:3:3: Nasc: invalid date "1988-04-12" (not in the declared format DD/MM/YYYY (sources[0].date_format in m.yaml))`,
				`a.csv:3:14: Cad: invalid date "2023-04-12" (not in the declared format MM/DD/YYYY hh:mm (sources[0].columns["Cad"].date_format in m.yaml))`,
			},
			customers: []*engine.Customer{
				cust("1", "a.csv:2:1", bq, "bonifiq.birthday", "1988-04-12", "bonifiq.signup_date", "2023-04-12T17:05:00Z"),
				cust("2", "a.csv:3:1", bq),
			},
		},
	})
}

// readmeSources returns the sources entry that README's spreadsheet section
// shows for a CSV exported by Excel in Brazil, and the file it names.
func readmeSources(t *testing.T) (manifest, file string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		if strings.Contains(block[1], "encoding: cp1252") && strings.Contains(block[1], "date_format: DD/MM/YYYY") {
			m := regexp.MustCompile(`file: (\S+\.csv)`).FindStringSubmatch(block[1])
			if m == nil {
				t.Fatalf("README's sources entry names no CSV file:\n%s", block[1])
			}
			return block[1], m[1]
		}
	}
	t.Fatal("README shows no sources entry with encoding: cp1252 and date_format: DD/MM/YYYY")
	return "", ""
}

// TestBrazilianExcelCSV loads a CSV as Excel saves it in Brazil (Windows-1252,
// semicolons, CRLF, DD/MM/YYYY dates, accented names, an empty last line)
// through the sources entry README shows: valid at the first try.
func TestBrazilianExcelCSV(t *testing.T) {
	manifest, file := readmeSources(t)
	csv := "Código;Nome;E-mail;Telefone;Nascimento;Participa;Nível\r\n" +
		"2001;João Conceição;joao@example.com;+55 11 99876-5432;12/04/1988;Sim;1\r\n" +
		"2002;Márcia Ângela Müller;marcia@example.com;;03/11/1975;Não;2\r\n" +
		";;;;;;\r\n" +
		"2003;Çarla Ñúñez;carla@example.com;5511998765432;01/02/2001;sim;\r\n" +
		"\r\n"
	cp1252, err := charmap.Windows1252.NewEncoder().String(csv)
	if err != nil {
		t.Fatal(err)
	}
	runLoadCases(t, []loadCase{{
		name:  "README's sources entry",
		files: map[string]string{"clientes.yaml": manifest, file: cp1252},
		paths: []string{"clientes.yaml"},
		customers: []*engine.Customer{
			cust("2001", file+":2:1", bq, "name", "João Conceição", "email", "joao@example.com", "phone", "+55 11 99876-5432",
				"bonifiq.birthday", "1988-04-12", "bonifiq.enrolled", true, "bonifiq.enabled", true, "bonifiq.tier.id", 1),
			cust("2002", file+":3:1", bq, "name", "Márcia Ângela Müller", "email", "marcia@example.com",
				"bonifiq.birthday", "1975-11-03", "bonifiq.enrolled", false, "bonifiq.enabled", true, "bonifiq.tier.id", 2),
			cust("2003", file+":5:1", bq, "name", "Çarla Ñúñez", "email", "carla@example.com", "phone", "5511998765432",
				"bonifiq.birthday", "2001-02-01", "bonifiq.enrolled", true, "bonifiq.enabled", true),
		},
	}})
}
