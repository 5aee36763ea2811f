package manifest

import (
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
)

func TestLoadCSV(t *testing.T) {
	runLoadCases(t, []loadCase{
		{
			name: "semicolons, BOM, quotes, null and empty cells",
			files: map[string]string{"a.csv": "\xef\xbb\xbfid;name;phone;bonifiq.enrolled;bonifiq.tier.id;tomticket.custom_fields.cf_plan;invisiblecollector.city\r\n" +
				"1001;  Maria Silva ;\"+55 11; 9\";Sim;3;premium;\r\n" +
				"1002;\"João \"\"J\"\" Souza\";~;;;~;\r\n" +
				" 1003 ;;;;;;\r\n"},
			want: []string{
				`a.csv:4:1: warning: customer "1003": managed in no provider (fill a cell of a bonifiq, invisiblecollector or tomticket column)`,
			},
			customers: []*engine.Customer{
				cust("1001", "a.csv:2:1", []string{"bonifiq", "tomticket"}, "name", "Maria Silva", "phone", "+55 11; 9",
					"bonifiq.enrolled", true, "bonifiq.tier.id", 3, "tomticket.custom_fields.cf_plan", "premium"),
				cust("1002", "a.csv:3:1", tt, "name", `João "J" Souza`, "phone", nil, "tomticket.custom_fields.cf_plan", nil),
				cust("1003", "a.csv:4:1", nil),
			},
		},
		{
			name:  "header problems",
			files: map[string]string{"a.csv": "Email,nme,bonifiq.tier,tier.id,,email,tomticket.custom_fields.,bonifiq.enrolled\nx@y.z,a,1,1,,x@y.z,a,true\n"},
			want: []string{
				`a.csv:1: missing id column (every row needs the customer's id: add an id column)`,
				`a.csv:1:1: Email: unknown column (did you mean "email"?)`,
				`a.csv:1:7: nme: unknown column (did you mean "name"?)`,
				`a.csv:1:11: bonifiq.tier: unknown column (did you mean "bonifiq.tier.id"?)`,
				`a.csv:1:24: tier.id: unknown column (did you mean "bonifiq.tier.id"?)`,
				`a.csv:1:32: column 5: empty header (name the column with a manifest key, such as email, or remove it)`,
				`a.csv:1:39: tomticket.custom_fields.: unknown column (a custom field is tomticket.custom_fields.FIELD_ID)`,
			},
		},
		{
			name:  "duplicate columns",
			files: map[string]string{"a.csv": "id,email,name,email\n1,a@b.co,x,c@d.co\n"},
			want: []string{
				"a.csv:1: warning: no column belongs to a provider: no row is managed in any provider (add a column of a provider, such as bonifiq.enrolled or tomticket.language)",
				"a.csv:1:15: email: duplicate column (first at a.csv:1:4) (a key has one column)",
			},
			customers: []*engine.Customer{cust("1", "a.csv:2:1", nil, "email", "a@b.co", "name", "x")},
		},
		{
			name: "rows: ragged, empty, missing id, bad quotes",
			files: map[string]string{"a.csv": "id,name,bonifiq.enrolled\n" +
				"1,Ana,true\n" +
				"2,Bia\n" +
				",,\n" +
				"   ,  ,\n" +
				"3,Caio,true,extra\n" +
				",Dani,true\n" +
				"~,Eva,true\n" +
				"4,F\"x\",true\n" +
				"5,Gil,false\n" +
				",,\n" +
				"\n" +
				" , , \n"},
			want: []string{
				"a.csv:3:1: row has 2 cells, but the header has 3 (every row needs one cell per column; quote cells that hold the delimiter)",
				"a.csv:6:1: row has 4 cells, but the header has 3 (every row needs one cell per column; quote cells that hold the delimiter)",
				"a.csv:7:1: id: missing id (every row needs the customer's id)",
				"a.csv:8:1: id: cannot be null (every row needs the customer's id)",
				`a.csv:9:4: invalid CSV: bare " in non-quoted-field (quote a cell that holds quotes, and double the quotes inside it (""))`,
			},
			customers: []*engine.Customer{
				cust("1", "a.csv:2:1", bq, "name", "Ana", "bonifiq.enrolled", true),
				cust("5", "a.csv:10:1", bq, "name", "Gil", "bonifiq.enrolled", false),
			},
		},
		{
			name: "values and record rules, positions in characters",
			files: map[string]string{"a.csv": "name,id,phone,email,bonifiq.birthday,bonifiq.tier.comments,tomticket.id_type,invisiblecollector.country,bonifiq.enrolled\n" +
				"José,1,\"1,2E+11\",x@,1990-13-01,ok,,br,~\n" +
				"\"Ana\nMaria\",ana@x.com,\"+55 11 99999-0000 ramal 2\",bia@x.com,,,email,,\n" +
				"Çé,3,,,,,internal,,\n"},
			want: []string{
				`a.csv:2:8: phone: "1,2E+11" is a number in scientific notation (a spreadsheet turned the number into scientific notation; format the column as text and export it again)`,
				`a.csv:2:18: email: invalid e-mail address "x@"`,
				`a.csv:2:21: bonifiq.birthday: invalid date "1990-13-01" (there is no such day in the calendar)`,
				`a.csv:2:32: bonifiq.tier.id: required when other tier keys are set (changing the tier's grace period or comments needs the tier's id)`,
				`a.csv:2:36: invisiblecollector.country: invalid country code "br" (did you mean "BR"? country codes are upper case)`,
				`a.csv:2:39: bonifiq.enrolled: cannot be null (the service cannot hold it empty; leave the key out to leave the field unmanaged)`,
				"a.csv:4:18: phone: too long for tomticket: 25 characters (at most 20) (TomTicket keeps phone numbers of up to 20 characters)",
				`a.csv:4:46: email: must equal the id "ana@x.com" with tomticket.id_type: email (TomTicket identifies the customer by the e-mail address in its id)`,
			},
		},
		{
			name:  "a CSV that is not UTF-8",
			files: map[string]string{"a.csv": "id,name,bonifiq.enrolled\n1,Ana,true\n2,Jo\xe3o,true\n"},
			want:  []string{"a.csv:3: not valid UTF-8 (save it as UTF-8, or read it through a manifest's sources entry with encoding: windows-1252)"},
		},
		{
			name:  "UTF-16",
			files: map[string]string{"a.csv": "\xff\xfei\x00d\x00"},
			want:  []string{"a.csv: UTF-16 is not supported without encoding: UTF-16 (save the file as UTF-8 (CSV UTF-8 in Excel), or read it through a manifest's sources entry with encoding: UTF-16)"},
		},
	})
}

func TestLoadSources(t *testing.T) {
	clientes := "Código;Nome;E-mail;Participa;Nível;Idioma;Observações\n" +
		"2001;Beatriz;b@example.com;sim;1;pt-BR;x\n" +
		"2002;Rafael;r@example.com;;;;\n" +
		"2003;Fernanda;;não;;es_ES;\n"
	manifest := `sources:
  - file: export/clientes.csv
    columns:
      "Código": id
      "Nome": name
      "E-mail": email
      "Participa": bonifiq.enrolled
      "Nível": bonifiq.tier.id
      "Idioma": tomticket.language
    defaults: {bonifiq.enrolled: true, bonifiq.enabled: false, tomticket.custom_fields.cf_origin: export}
`
	runLoadCases(t, []loadCase{
		{
			name: "columns, defaults and the directory listing",
			files: map[string]string{
				"m/clientes.yaml":       manifest,
				"m/export/clientes.csv": clientes,
				"m/z.csv":               "id,bonifiq.enrolled\n9,true\n",
			},
			paths:  []string{"m", "m/export"},
			loaded: []string{"m/clientes.yaml", "m/export/clientes.csv", "m/z.csv"},
			want: []string{
				`m/export/clientes.csv:1: note: ignored columns: "Observações" (map them in sources[0].columns of m/clientes.yaml to load them)`,
			},
			customers: []*engine.Customer{
				cust("2001", "m/export/clientes.csv:2:1", []string{"bonifiq", "tomticket"}, "name", "Beatriz", "email", "b@example.com",
					"bonifiq.enrolled", true, "bonifiq.enabled", false, "bonifiq.tier.id", 1, "tomticket.language", "pt-BR",
					"tomticket.custom_fields.cf_origin", "export"),
				cust("2002", "m/export/clientes.csv:3:1", []string{"bonifiq", "tomticket"}, "name", "Rafael", "email", "r@example.com",
					"bonifiq.enrolled", true, "bonifiq.enabled", false, "tomticket.custom_fields.cf_origin", "export"),
				cust("2003", "m/export/clientes.csv:4:1", []string{"bonifiq", "tomticket"}, "name", "Fernanda",
					"bonifiq.enrolled", false, "bonifiq.enabled", false, "tomticket.language", "es_ES",
					"tomticket.custom_fields.cf_origin", "export"),
				cust("9", "m/z.csv:2:1", bq, "bonifiq.enrolled", true),
			},
		},
		{
			name: "windows-1252",
			files: map[string]string{
				"a.yaml":    "sources:\n  - file: w.csv\n    encoding: windows-1252\n    columns: {\"C\xc3\xb3digo\": id, Nome: name, Pa\xc3\xads: invisiblecollector.country}\n",
				"w.csv":     "C\xf3digo;Nome;Pa\xeds\n1;Jo\xe3o;PT\n2;\xc1gata;br\n",
				"x.yaml":    "sources:\n  - file: u.csv\n    columns: {Nome: name, Id: id}\n",
				"u.csv":     "Id,Nome\n1,Jo\xe3o\n",
				"bom.yaml":  "sources:\n  - {file: bom.csv, encoding: windows-1252, columns: {id: id}}\n",
				"bom.csv":   "\xef\xbb\xbfid\n3\n",
				"zzzz.yaml": "customers: [{id: '0', bonifiq: {}}]\n",
			},
			paths: []string{"a.yaml", "x.yaml", "bom.yaml"},
			want: []string{
				`w.csv:3:9: País: invalid country code "br" (did you mean "BR"? country codes are upper case)`,
				"u.csv:1: warning: no column belongs to a provider: no row is managed in any provider (map a column to a key of a provider, such as bonifiq.enrolled, or give one in sources[0].defaults)",
				"u.csv:2: not valid UTF-8 (if it is an Excel export, add encoding: windows-1252 to sources[0] in x.yaml)",
				"bom.csv: warning: starts with a UTF-8 byte order mark, but is read as windows-1252 (if the file is UTF-8, drop encoding: windows-1252 from sources[0] in bom.yaml)",
				"bom.csv:1: warning: no column belongs to a provider: no row is managed in any provider (map a column to a key of a provider, such as bonifiq.enrolled, or give one in sources[0].defaults)",
			},
			customers: []*engine.Customer{
				cust("1", "w.csv:2:1", ic, "name", "João", "invisiblecollector.country", "PT"),
				cust("2", "w.csv:3:1", ic, "name", "Ágata"),
				cust("3", "bom.csv:2:1", nil),
			},
		},
		{
			name: "problems in the sources entry",
			files: map[string]string{
				"a.yaml": `sources:
  - file: s.csv
    columns:
      "Code": id
      "Name": nome
      "Mail": email
      "Mail2": email
      "Tier": bonifiq.tier
      "Missing": phone
    defaults: {id: "1", bonifiq.enroled: true, bonifiq.tier.id: 0, phone: ~, name: ~}
    encodng: utf-8
  - file: nowhere.csv
    columns: {Code: id}
  - file: s.csv
  - columns: {a: id}
  - file: t.csv
    encoding: utf-9
  - file: n.csv
    columns: {Name: name}
  - file: ""
  - file: ~
  - file: {a: b}
`,
				"s.csv": "Code,Name,Mail,mising\n1,Ana,a@b.co,x\n",
				"t.csv": "id\n1\n",
				"n.csv": "Name\nAna\n",
			},
			paths: []string{"a.yaml"},
			want: []string{
				`a.yaml:5:15: sources[0].columns["Name"]: unknown key "nome" (did you mean "name"?)`,
				`a.yaml:7:16: sources[0].columns["Mail2"]: email is already mapped from "Mail" (map each key from one column)`,
				`a.yaml:8:15: sources[0].columns["Tier"]: unknown key "bonifiq.tier" (did you mean "bonifiq.tier.id"?)`,
				`a.yaml:9:7: sources[0].columns["Missing"]: no such column in s.csv (did you mean "mising"?)`,
				`a.yaml:10:16: sources[0].defaults.id: id cannot have a default (each row needs its own id)`,
				`a.yaml:10:25: sources[0].defaults.bonifiq.enroled: unknown key (did you mean "bonifiq.enrolled"?)`,
				`a.yaml:10:65: sources[0].defaults.bonifiq.tier.id: 0 is out of range (it must be from 1 to 2147483647)`,
				`a.yaml:10:84: sources[0].defaults.name: cannot be null (the service cannot hold it empty; leave the key out to leave the field unmanaged)`,
				`a.yaml:11:5: sources[0].encodng: unknown key (did you mean "encoding"?)`,
				`a.yaml:12:11: sources[1].file: nowhere.csv: no such file or directory`,
				`a.yaml:14:11: sources[2].file: s.csv is named twice (first at a.yaml:2:11) (read each file through one sources entry)`,
				`a.yaml:15:5: sources[3]: missing file (name the spreadsheet, relative to this manifest: file: export/customers.csv)`,
				`a.yaml:17:15: sources[4].encoding: unknown encoding "utf-9" (did you mean "utf-8"?)`,
				`a.yaml:19:14: sources[5].columns: no column maps to id (map the column that holds the customer's id, such as "Código": id)`,
				`a.yaml:20:11: sources[6].file: needs a file name`,
				`a.yaml:21:11: sources[7].file: needs a file name`,
				`a.yaml:22:11: sources[8].file: needs a file name, not a mapping`,
				"s.csv:1: warning: no column belongs to a provider: no row is managed in any provider (map a column to a key of a provider, such as bonifiq.enrolled, or give one in sources[0].defaults)",
				`s.csv:1: note: ignored columns: "mising" (map them in sources[0].columns of a.yaml to load them)`,
			},
			customers: []*engine.Customer{cust("1", "s.csv:2:1", nil, "email", "a@b.co", "phone", nil)},
		},
		{
			name: "a sources file named with -f is read through its manifest",
			files: map[string]string{
				"a.yaml": "sources:\n  - file: s.csv\n    columns: {Code: id, Enrolled: bonifiq.enrolled}\n",
				"s.csv":  "Code,Enrolled\n1,yes\n",
			},
			paths:  []string{"s.csv", "a.yaml"},
			loaded: []string{"a.yaml", "s.csv"},
			want:   []string{"s.csv: warning: skipped: this file is a source of a.yaml (it is read there, with the columns that manifest maps)"},
		},
		{
			name: "sources with canonical headers, defaults and rules",
			files: map[string]string{
				"a.yaml": "sources:\n  - file: s.csv\n    defaults: {bonifiq.tier.comments: migrated, tomticket.language: en-US}\n",
				"s.csv":  "id,bonifiq.tier.id,tomticket.language\n1,2,\n2,,pt-BR\n",
			},
			paths: []string{"a.yaml"},
			want:  []string{"s.csv:3:1: bonifiq.tier.id: required when other tier keys are set (changing the tier's grace period or comments needs the tier's id)"},
			customers: []*engine.Customer{
				cust("1", "s.csv:2:1", []string{"bonifiq", "tomticket"}, "bonifiq.tier.id", 2, "bonifiq.tier.comments", "migrated", "tomticket.language", "en-US"),
				cust("2", "s.csv:3:1", []string{"bonifiq", "tomticket"}, "bonifiq.tier.comments", "migrated", "tomticket.language", "pt-BR"),
			},
		},
	})
}
