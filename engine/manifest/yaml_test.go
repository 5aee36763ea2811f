package manifest

import (
	"strings"
	"testing"

	"github.com/reconcile-dev/reconcile/engine"
)

func TestLoadYAMLCustomers(t *testing.T) {
	runLoadCases(t, []loadCase{
		{
			name: "every key",
			files: map[string]string{"a.yaml": `customers:
  - id: 1001
    name: Maria Silva
    email: maria@example.com
    phone: "+55 11 99999-0000"
    document: 12345678909
    bonifiq:
      enrolled: sim
      birthday: 1988-04-12
      signup_date: 2021-06-01T14:30:00.5-03:00
      enabled: TRUE
      status_reason: migrated
      tier: {id: +3, grace_period_days: 30, comments: "kept Gold"}
    invisiblecollector:
      gid: g-1
      vat_number: "123456789"
      address: Rua Augusta, 1500
      zip_code: 01304-001
      city: São Paulo
      country: BR
      locale: zh-CN
    tomticket:
      id_type: internal
      create_tickets: 0
      organization_id: org
      portfolio_id: pf
      language: pt-BR
      custom_fields: {cf_plan: premium, cf_n: 3}
`},
			customers: []*engine.Customer{cust("1001", "a.yaml:2:9", []string{"bonifiq", "invisiblecollector", "tomticket"},
				"name", "Maria Silva", "email", "maria@example.com", "phone", "+55 11 99999-0000", "document", "12345678909",
				"bonifiq.enrolled", true, "bonifiq.birthday", "1988-04-12", "bonifiq.signup_date", "2021-06-01T17:30:00.5Z",
				"bonifiq.enabled", true, "bonifiq.status_reason", "migrated",
				"bonifiq.tier.id", 3, "bonifiq.tier.grace_period_days", 30, "bonifiq.tier.comments", "kept Gold",
				"invisiblecollector.gid", "g-1", "invisiblecollector.vat_number", "123456789",
				"invisiblecollector.address", "Rua Augusta, 1500", "invisiblecollector.zip_code", "01304-001",
				"invisiblecollector.city", "São Paulo", "invisiblecollector.country", "BR", "invisiblecollector.locale", "zh-CN",
				"tomticket.id_type", "internal", "tomticket.create_tickets", false, "tomticket.organization_id", "org",
				"tomticket.portfolio_id", "pf", "tomticket.language", "pt-BR",
				"tomticket.custom_fields.cf_plan", "premium", "tomticket.custom_fields.cf_n", "3",
			)},
		},
		{
			name: "null is managed and empty, absent is not managed",
			files: map[string]string{"a.yaml": `customers:
  - id: "1"
    email: null
    phone: ~
    document:
    bonifiq: {}
    tomticket:
      language: null
      custom_fields: {cf_plan: ~}
  - id: "2"
    name: ""
    invisiblecollector: {country: PT, city: ""}
`},
			want: []string{`a.yaml:11:11: customers[1].name: must not be empty (leave the key out to leave the field unmanaged)`},
			customers: []*engine.Customer{
				cust("1", "a.yaml:2:9", []string{"bonifiq", "tomticket"}, "email", nil, "phone", nil, "document", nil,
					"tomticket.language", nil, "tomticket.custom_fields.cf_plan", nil),
				cust("2", "a.yaml:10:9", ic, "invisiblecollector.country", "PT", "invisiblecollector.city", ""),
			},
		},
		{
			name: "null on keys that cannot be cleared",
			files: map[string]string{"a.yaml": `customers:
  - id: ~
    bonifiq: {}
  - id: "2"
    name: null
    bonifiq: {enrolled: null, enabled: ~, tier: {id: null, comments: x}}
    invisiblecollector: {country: null}
    tomticket: {id_type: null}
`},
			want: []string{
				"a.yaml:2:9: customers[0].id: cannot be null (every customer needs its id in your own store)",
				"a.yaml:5:11: customers[1].name: cannot be null (the service cannot hold it empty; leave the key out to leave the field unmanaged)",
				"a.yaml:6:25: customers[1].bonifiq.enrolled: cannot be null (the service cannot hold it empty; leave the key out to leave the field unmanaged)",
				"a.yaml:6:40: customers[1].bonifiq.enabled: cannot be null (the service cannot hold it empty; leave the key out to leave the field unmanaged)",
				"a.yaml:6:54: customers[1].bonifiq.tier.id: cannot be null (the service cannot hold it empty; leave the key out to leave the field unmanaged)",
				"a.yaml:7:35: customers[1].invisiblecollector.country: cannot be null (the service cannot hold it empty; leave the key out to leave the field unmanaged)",
				"a.yaml:8:26: customers[1].tomticket.id_type: cannot be null (the service cannot hold it empty; leave the key out to leave the field unmanaged)",
			},
		},
		{
			name: "unknown keys",
			files: map[string]string{"a.yaml": `custmers: []
Providers: {}
customers:
  - id: "1"
    Email: a@b.co
    enrolled: true
    bonifiq.enabled: true
    language: pt-BR
    bonifiq:
      tier: {idd: 1}
      email: a@b.co
      zzz: 1
    tomticket: {langauge: pt-BR}
    invisiblecolector: {}
`},
			want: []string{
				`a.yaml:1:1: custmers: unknown key (did you mean "customers"?)`,
				`a.yaml:2:1: Providers: unknown key (did you mean "providers"?)`,
				`a.yaml:5:5: customers[0].Email: unknown key (did you mean "email"?)`,
				`a.yaml:6:5: customers[0].enrolled: unknown key (enrolled belongs in bonifiq: {enrolled: ...})`,
				`a.yaml:7:5: customers[0].bonifiq.enabled: unknown key (nest the key instead of joining it with dots: bonifiq: {enabled: ...})`,
				`a.yaml:8:5: customers[0].language: unknown key (language belongs in tomticket: {language: ...})`,
				`a.yaml:10:14: customers[0].bonifiq.tier.idd: unknown key (did you mean "id"?)`,
				`a.yaml:11:7: customers[0].bonifiq.email: unknown key (email is a shared key: put it at the customer level, beside id)`,
				`a.yaml:12:7: customers[0].bonifiq.zzz: unknown key`,
				`a.yaml:13:17: customers[0].tomticket.langauge: unknown key (did you mean "language"?)`,
				`a.yaml:14:5: customers[0].invisiblecolector: unknown key (did you mean "invisiblecollector"?)`,
			},
		},
		{
			name: "blocks and values of the wrong kind",
			files: map[string]string{"a.yaml": `customers:
  - id: "1"
    bonifiq:
    tomticket: yes
    invisiblecollector: [country, BR]
  - id: [1]
    name: {first: Ana}
    email: [a@b.co]
    bonifiq: {tier: 3}
    tomticket: {custom_fields: [a], language: {x: 1}}
  - just a string
  - id: "4"
    tomticket: {custom_fields: {a.b: x, "": y}}
`},
			want: []string{
				"a.yaml:3:5: customers[0].bonifiq: must be a mapping, not a null (write bonifiq: {} for an empty block)",
				"a.yaml:4:16: customers[0].tomticket: must be a mapping, not a value (write tomticket: {} for an empty block)",
				"a.yaml:5:25: customers[0].invisiblecollector: must be a mapping, not a list (write invisiblecollector: {} for an empty block)",
				"a.yaml:6:9: customers[1].id: must be a value, not a list",
				"a.yaml:7:11: customers[1].name: must be a value, not a mapping",
				"a.yaml:8:12: customers[1].email: must be a value, not a list",
				"a.yaml:9:21: customers[1].bonifiq.tier: must be a mapping, not a value (write tier: {} for an empty block)",
				"a.yaml:10:32: customers[1].tomticket.custom_fields: must be a mapping, not a list (write custom_fields: {FIELD_ID: value})",
				"a.yaml:10:47: customers[1].tomticket.language: must be a value, not a mapping",
				"a.yaml:11:5: customers[2]: must be a mapping, not a value (write a customer as keys and values: - id: ...)",
				`a.yaml:13:33: customers[3].tomticket.custom_fields: invalid custom field id "a.b" (a field id has no dots or spaces)`,
				`a.yaml:13:41: customers[3].tomticket.custom_fields: invalid custom field id "" (a field id has no dots or spaces)`,
			},
		},
		{
			name: "ids",
			files: map[string]string{"a.yaml": `customers:
  - name: no id
    bonifiq: {}
  - id: " 7"
    bonifiq: {}
  - id: 1.2e+11
    bonifiq: {}
  - id: "1,2E+11"
    bonifiq: {}
  - id: ""
    bonifiq: {}
  - id: 0x1F
    bonifiq: {}
  - id: ` + strings.Repeat("é", 251) + `
    bonifiq: {}
  - id: ` + strings.Repeat("é", 250) + `
    bonifiq: {}
`},
			want: []string{
				"a.yaml:2:5: customers[0]: missing id (every customer needs its id in your own store)",
				`a.yaml:4:9: customers[1].id: " 7" has surrounding spaces (remove them: ids must match exactly)`,
				`a.yaml:6:9: customers[2].id: "1.2e+11" is a number in scientific notation (a spreadsheet turned the number into scientific notation; format the column as text and export it again)`,
				`a.yaml:8:9: customers[3].id: "1,2E+11" is a number in scientific notation (a spreadsheet turned the number into scientific notation; format the column as text and export it again)`,
				`a.yaml:10:9: customers[4].id: must not be empty (leave the key out to leave the field unmanaged)`,
				`a.yaml:14:9: customers[6].id: too long: 251 characters (at most 250)`,
			},
			customers: []*engine.Customer{cust("0x1F", "a.yaml:12:9", bq), cust(strings.Repeat("é", 250), "a.yaml:16:9", bq)},
		},
		{
			name: "values",
			files: map[string]string{"a.yaml": `customers:
  - id: "1"
    email: "x@"
    phone: 5.5e+12
    document: 1E5
    bonifiq:
      enrolled: talvez
      birthday: 2023-02-30
      signup_date: 12/04/1988
      enabled: 2
      tier: {id: 0, grace_period_days: 1.5, comments: ok}
    invisiblecollector:
      country: br
      locale: PT
    tomticket:
      language: pt_br
      id_type: EMAIL
      create_tickets: Não
  - id: "2"
    email: ana@example.com
    bonifiq:
      birthday: 2024-02-29
      signup_date: 2023-11-07
      tier: {id: 2147483647, grace_period_days: 2147483648}
    invisiblecollector: {country: XX, locale: en}
    tomticket: {language: english}
`},
			want: []string{
				`a.yaml:3:12: customers[0].email: invalid e-mail address "x@"`,
				`a.yaml:4:12: customers[0].phone: "5.5e+12" is a number in scientific notation (a spreadsheet turned the number into scientific notation; format the column as text and export it again)`,
				`a.yaml:5:15: customers[0].document: "1E5" is a number in scientific notation (a spreadsheet turned the number into scientific notation; format the column as text and export it again)`,
				`a.yaml:7:17: customers[0].bonifiq.enrolled: invalid boolean "talvez" (write true or false (yes/no, sim/não, verdadeiro/falso and 1/0 work too))`,
				`a.yaml:8:17: customers[0].bonifiq.birthday: invalid date "2023-02-30" (there is no such day in the calendar)`,
				`a.yaml:9:20: customers[0].bonifiq.signup_date: invalid time "12/04/1988" (write an RFC 3339 time such as 2023-11-07T05:31:56Z, or a date YYYY-MM-DD (midnight UTC))`,
				`a.yaml:10:16: customers[0].bonifiq.enabled: invalid boolean "2" (write true or false (yes/no, sim/não, verdadeiro/falso and 1/0 work too))`,
				`a.yaml:11:18: customers[0].bonifiq.tier.id: 0 is out of range (it must be from 1 to 2147483647)`,
				`a.yaml:11:40: customers[0].bonifiq.tier.grace_period_days: invalid integer "1.5" (write a whole number such as 3)`,
				`a.yaml:13:16: customers[0].invisiblecollector.country: invalid country code "br" (did you mean "BR"? country codes are upper case)`,
				`a.yaml:14:15: customers[0].invisiblecollector.locale: invalid value "PT" (did you mean "pt"?)`,
				`a.yaml:16:17: customers[0].tomticket.language: invalid value "pt_br" (did you mean "pt-BR"?)`,
				`a.yaml:17:16: customers[0].tomticket.id_type: invalid value "EMAIL" (did you mean "email"?)`,
				`a.yaml:24:49: customers[1].bonifiq.tier.grace_period_days: 2147483648 is out of range (it must be from 0 to 2147483647)`,
				`a.yaml:25:35: customers[1].invisiblecollector.country: invalid country code "XX" (use an ISO 3166-1 alpha-2 code such as BR, PT or US)`,
				`a.yaml:26:27: customers[1].tomticket.language: invalid value "english" (it must be one of pt-BR, es_ES, en-US)`,
			},
			customers: []*engine.Customer{
				cust("1", "a.yaml:2:9", []string{"bonifiq", "invisiblecollector", "tomticket"}, "bonifiq.tier.comments", "ok", "tomticket.create_tickets", false),
				cust("2", "a.yaml:19:9", []string{"bonifiq", "invisiblecollector", "tomticket"}, "email", "ana@example.com",
					"bonifiq.birthday", "2024-02-29", "bonifiq.signup_date", "2023-11-07T00:00:00Z", "bonifiq.tier.id", 2147483647,
					"invisiblecollector.locale", "en"),
			},
		},
		{
			name: "record rules",
			files: map[string]string{"a.yaml": `customers:
  - id: "1"
    bonifiq: {tier: {grace_period_days: 5, comments: x}}
  - id: "2"
    tomticket: {internal_id: C-1}
  - id: "3"
    email: other@example.com
    tomticket: {id_type: email, internal_id: C-3}
  - id: Ana@Example.com
    email: ana@example.COM
    tomticket: {id_type: email}
  - id: bia@example.com
    email: null
    tomticket: {id_type: email}
  - id: "6"
    phone: "+55 (11) 99999-0000 ramal 2"
    bonifiq: {}
  - id: "7"
    phone: "+55 (11) 99999-0000 ramal 2"
    tomticket: {}
  - id: "8"
    invisiblecollector: {city: Lisboa}
  - id: "9"
    name: Nobody
  - id: "10"
    invisiblecollector: {country: pt}
    bonifiq: {tier: {id: x, comments: y}}
`},
			want: []string{
				"a.yaml:3:54: customers[0].bonifiq.tier.id: required when other tier keys are set (changing the tier's grace period or comments needs the tier's id)",
				"a.yaml:5:30: customers[1].tomticket.internal_id: only allowed with tomticket.id_type: email (TomTicket keeps an internal_id only for customers identified by e-mail)",
				"a.yaml:6:9: customers[2].id: must be an e-mail address with tomticket.id_type: email (TomTicket identifies these customers by their e-mail address)",
				`a.yaml:7:12: customers[2].email: must equal the id "3" with tomticket.id_type: email (TomTicket identifies the customer by the e-mail address in its id)`,
				`a.yaml:13:12: customers[4].email: must equal the id "bia@example.com" with tomticket.id_type: email (TomTicket identifies the customer by the e-mail address in its id)`,
				"a.yaml:19:12: customers[6].phone: too long for tomticket: 27 characters (at most 20) (TomTicket keeps phone numbers of up to 20 characters)",
				"a.yaml:22:5: customers[7].invisiblecollector.country: required when the customer is managed in invisiblecollector (InvisibleCollector needs the country on every create and update)",
				"a.yaml:23:9: warning: customers[8]: managed in no provider (add a bonifiq, invisiblecollector or tomticket block)",
				`a.yaml:26:35: customers[9].invisiblecollector.country: invalid country code "pt" (did you mean "PT"? country codes are upper case)`,
				`a.yaml:27:26: customers[9].bonifiq.tier.id: invalid integer "x" (write a whole number such as 3)`,
			},
		},
		{
			name: "syntax error",
			files: map[string]string{
				"a.yaml": "customers:\n  - id: \"1\"\n   name: x\n",
				"b.yaml": "customers: [\n",
				"d.yaml": "customers:\n  - id: \"1\"\n    name: a\n     b: c\n",
				"c.yaml": "customers:\n  - id: \xff\n",
			},
			want: []string{
				"a.yaml:1: invalid YAML: did not find expected '-' indicator",
				"b.yaml:1: invalid YAML: did not find expected node content",
				"c.yaml:2:9: not valid UTF-8 (save the file as UTF-8)",
				"d.yaml:4: invalid YAML: mapping values are not allowed in this context",
			},
		},
		{
			name:      "multiple documents",
			files:     map[string]string{"a.yaml": "customers:\n  - id: \"1\"\n    bonifiq: {}\n---\ncustomers:\n  - id: \"2\"\n"},
			want:      []string{"a.yaml:4:1: more than one YAML document in one file (put each document in its own file, or merge them into one)"},
			customers: []*engine.Customer{cust("1", "a.yaml:2:9", bq)},
		},
		{
			name:  "not a mapping",
			files: map[string]string{"a.yaml": "- id: 1\n", "b.yaml": "customers: {id: 1}\nsources: x\nproviders: [bonifiq]\n"},
			want: []string{
				"a.yaml:1:1: a manifest must be a mapping of customers, providers and sources, not a list",
				"b.yaml:1:12: customers: must be a list, not a mapping (write each customer as a list item: - id: ...)",
				"b.yaml:2:10: sources: must be a list, not a value (write each source as a list item: - file: export/customers.csv)",
				"b.yaml:3:12: providers: must be a mapping of provider names to settings, not a list",
			},
		},
		{
			name:  "duplicate keys",
			files: map[string]string{"a.yaml": "customers:\n  - id: \"1\"\n    name: a\n    name: b\n    bonifiq: {enrolled: true, enrolled: false}\ncustomers: []\n"},
			want: []string{
				"a.yaml:4:5: customers[0].name: duplicate key (first at a.yaml:3:5)",
				"a.yaml:5:31: customers[0].bonifiq.enrolled: duplicate key (first at a.yaml:5:15)",
				"a.yaml:6:1: customers: duplicate key (first at a.yaml:1:1)",
			},
			customers: []*engine.Customer{cust("1", "a.yaml:2:9", bq, "name", "a", "bonifiq.enrolled", true)},
		},
		{
			name: "anchors, aliases and merge keys",
			files: map[string]string{"a.yaml": `customers:
  - id: "1"
    tomticket: &tt {language: pt-BR, create_tickets: true}
    bonifiq: &bq
      enrolled: true
  - id: "2"
    tomticket:
      <<: *tt
      language: en-US
    bonifiq: *bq
  - id: "3"
    <<: {name: Merged, email: m@example.com}
    name: Own
    invisiblecollector: {<<: [{country: PT}, {country: BR, city: Porto}]}
  - id: "4"
    <<: [just, strings]
    bonifiq: {}
`},
			want: []string{
				"a.yaml:16:10: customers[3]: <<: can merge only mappings",
				"a.yaml:16:16: customers[3]: <<: can merge only mappings",
			},
			customers: []*engine.Customer{
				cust("1", "a.yaml:2:9", []string{"bonifiq", "tomticket"}, "bonifiq.enrolled", true, "tomticket.language", "pt-BR", "tomticket.create_tickets", true),
				cust("2", "a.yaml:6:9", []string{"bonifiq", "tomticket"}, "bonifiq.enrolled", true, "tomticket.language", "en-US", "tomticket.create_tickets", true),
				cust("3", "a.yaml:11:9", ic, "name", "Own", "email", "m@example.com", "invisiblecollector.country", "PT", "invisiblecollector.city", "Porto"),
				cust("4", "a.yaml:15:9", bq),
			},
		},
	})
}
