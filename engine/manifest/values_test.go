package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/language"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/registry"
)

func TestValue(t *testing.T) {
	tests := []struct {
		key, text string
		want      engine.Value
		problem   string // the message, "" when the value is accepted
	}{
		{"name", "Ana", engine.String("Ana"), ""},
		{"name", "", engine.Value{}, "must not be empty"},
		{"name", strings.Repeat("ã", 250), engine.String(strings.Repeat("ã", 250)), ""},
		{"name", strings.Repeat("a", 251), engine.Value{}, "too long: 251 characters (at most 250)"},
		{"id", "00123", engine.String("00123"), ""},
		{"id", "1.2E+11", engine.Value{}, `"1.2E+11" is a number in scientific notation`},
		{"phone", "1,2E+11", engine.Value{}, `"1,2E+11" is a number in scientific notation`},
		{"document", "-5e3", engine.Value{}, `"-5e3" is a number in scientific notation`},
		{"document", "E5", engine.String("E5"), ""},
		{"document", "1.2E", engine.String("1.2E"), ""},
		{"name", "1.2E+11", engine.String("1.2E+11"), ""},
		{"email", "a@b.co", engine.String("a@b.co"), ""},
		{"email", "Ana.Silva+tag@mail.example.com.br", engine.String("Ana.Silva+tag@mail.example.com.br"), ""},
		{"email", "josé@exemplo.pt", engine.String("josé@exemplo.pt"), ""},
		{"email", "x@", engine.Value{}, `invalid e-mail address "x@"`},
		{"email", "@b.co", engine.Value{}, `invalid e-mail address "@b.co"`},
		{"email", "a@b", engine.Value{}, `invalid e-mail address "a@b"`},
		{"email", "a@@b.co", engine.Value{}, `invalid e-mail address "a@@b.co"`},
		{"email", "a@b..co", engine.Value{}, `invalid e-mail address "a@b..co"`},
		{"email", "a@.b.co", engine.Value{}, `invalid e-mail address "a@.b.co"`},
		{"email", "a@b.co.", engine.Value{}, `invalid e-mail address "a@b.co."`},
		{"email", "a b@c.co", engine.Value{}, `invalid e-mail address "a b@c.co"`},
		{"email", "a\u00a0b@c.co", engine.Value{}, `invalid e-mail address "a\u00a0b@c.co"`},
		{"email", "a\tb@c.co", engine.Value{}, `invalid e-mail address "a\tb@c.co"`},
		{"email", strings.Repeat("a", 245) + "@b.com", engine.Value{}, "too long: 251 characters (at most 250)"},
		{"bonifiq.enrolled", "true", engine.Bool(true), ""},
		{"bonifiq.enrolled", "TRUE", engine.Bool(true), ""},
		{"bonifiq.enrolled", "Yes", engine.Bool(true), ""},
		{"bonifiq.enrolled", "SIM", engine.Bool(true), ""},
		{"bonifiq.enrolled", "Verdadeiro", engine.Bool(true), ""},
		{"bonifiq.enrolled", "1", engine.Bool(true), ""},
		{"bonifiq.enrolled", "false", engine.Bool(false), ""},
		{"bonifiq.enrolled", "No", engine.Bool(false), ""},
		{"bonifiq.enrolled", "NÃO", engine.Bool(false), ""},
		{"bonifiq.enrolled", "nao", engine.Bool(false), ""},
		{"bonifiq.enrolled", "Falso", engine.Bool(false), ""},
		{"bonifiq.enrolled", "0", engine.Bool(false), ""},
		{"bonifiq.enrolled", "y", engine.Value{}, `invalid boolean "y"`},
		{"bonifiq.tier.id", "3", engine.Int(3), ""},
		{"bonifiq.tier.id", "+3", engine.Int(3), ""},
		{"bonifiq.tier.id", "003", engine.Int(3), ""},
		{"bonifiq.tier.id", "2147483647", engine.Int(2147483647), ""},
		{"bonifiq.tier.id", "2147483648", engine.Value{}, "2147483648 is out of range"},
		{"bonifiq.tier.id", "99999999999999999999", engine.Value{}, "99999999999999999999 is out of range"},
		{"bonifiq.tier.id", "0", engine.Value{}, "0 is out of range"},
		{"bonifiq.tier.grace_period_days", "0", engine.Int(0), ""},
		{"bonifiq.tier.grace_period_days", "-0", engine.Int(0), ""},
		{"bonifiq.tier.grace_period_days", "-1", engine.Value{}, "-1 is out of range"},
		{"bonifiq.tier.id", "3.0", engine.Value{}, `invalid integer "3.0"`},
		{"bonifiq.tier.id", "0x3", engine.Value{}, `invalid integer "0x3"`},
		{"bonifiq.birthday", "1988-04-12", engine.String("1988-04-12"), ""},
		{"bonifiq.birthday", "2000-02-29", engine.String("2000-02-29"), ""},
		{"bonifiq.birthday", "1900-02-29", engine.Value{}, `invalid date "1900-02-29"`},
		{"bonifiq.birthday", "2023-04-31", engine.Value{}, `invalid date "2023-04-31"`},
		{"bonifiq.birthday", "2023-00-10", engine.Value{}, `invalid date "2023-00-10"`},
		{"bonifiq.birthday", "1988-4-12", engine.Value{}, `invalid date "1988-4-12"`},
		{"bonifiq.birthday", "1988-04-12T00:00:00Z", engine.Value{}, `invalid date "1988-04-12T00:00:00Z"`},
		{"bonifiq.signup_date", "2023-11-07T05:31:56Z", engine.String("2023-11-07T05:31:56Z"), ""},
		{"bonifiq.signup_date", "2023-11-07T02:31:56-03:00", engine.String("2023-11-07T05:31:56Z"), ""},
		{"bonifiq.signup_date", "2023-11-07T05:31:56.120+00:00", engine.String("2023-11-07T05:31:56.12Z"), ""},
		{"bonifiq.signup_date", "2023-11-07", engine.String("2023-11-07T00:00:00Z"), ""},
		{"bonifiq.signup_date", "2023-11-31", engine.Value{}, `invalid time "2023-11-31"`},
		{"bonifiq.signup_date", "2023-11-07 05:31:56", engine.Value{}, `invalid time "2023-11-07 05:31:56"`},
		{"tomticket.language", "pt-BR", engine.String("pt-BR"), ""},
		{"tomticket.language", "PT-BR", engine.Value{}, `invalid value "PT-BR"`},
		{"invisiblecollector.locale", "fr-fr", engine.String("fr-fr"), ""},
		{"invisiblecollector.country", "BR", engine.String("BR"), ""},
		{"invisiblecollector.country", "UK", engine.Value{}, `invalid country code "UK"`},
		{"invisiblecollector.country", "BRA", engine.Value{}, `invalid country code "BRA"`},
		{"tomticket.custom_fields.cf", "anything 1.2E+11", engine.String("anything 1.2E+11"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.key+"="+tc.text, func(t *testing.T) {
			k := registry.Default().LookupKey(tc.key)
			if k == nil {
				t.Fatalf("no key %q", tc.key)
			}
			got, p := value(k, tc.text)
			if p.msg != tc.problem {
				t.Fatalf("problem = %q, want %q", p.msg, tc.problem)
			}
			if got != tc.want {
				t.Errorf("value = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestValueAllocations(t *testing.T) {
	keys := map[string]string{
		"id": "1001", "name": "Maria Silva", "email": "maria@example.com", "phone": "+55 11 99999-0000",
		"bonifiq.enrolled": "sim", "bonifiq.tier.id": "2147483647", "bonifiq.birthday": "1988-04-12",
		"tomticket.language": "pt-BR", "invisiblecollector.country": "BR",
	}
	for path, text := range keys {
		k := registry.Default().LookupKey(path)
		if n := testing.AllocsPerRun(100, func() { value(k, text) }); n != 0 {
			t.Errorf("value(%s, %q) allocates %v times", path, text, n)
		}
	}
}

func TestSuggest(t *testing.T) {
	candidates := []string{"id", "name", "email", "phone", "document", "bonifiq", "invisiblecollector", "tomticket"}
	for word, want := range map[string]string{
		"emial": "email", "EMAIL": "email", "nme": "name", "ud": "id", "x": "", "zz": "",
		"tomtciket": "tomticket", "invisible_collector": "invisiblecollector", "fone": "phone", "address": "",
	} {
		if got := suggest(word, candidates); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
	if d := levenshtein("kitten", "sitting"); d != 3 {
		t.Errorf("levenshtein = %d, want 3", d)
	}
	if d := levenshtein("não", "nao"); d != 1 {
		t.Errorf("levenshtein counts bytes: %d", d)
	}
}

// TestCountries checks the code list against the ISO 3166-1 count and
// against the regions x/text knows as countries.
func TestCountries(t *testing.T) {
	n := 0
	for a := byte('A'); a <= 'Z'; a++ {
		for b := byte('A'); b <= 'Z'; b++ {
			code := string([]byte{a, b})
			if !isCountry(code) {
				continue
			}
			n++
			if r, err := language.ParseRegion(code); err != nil || !r.IsCountry() {
				t.Errorf("%s is not a country for x/text", code)
			}
		}
	}
	if n != 249 {
		t.Errorf("%d country codes, want 249", n)
	}
	for _, s := range []string{"br", "B", "", "BRA", "ÁB", "XK", "UK", "EU"} {
		if isCountry(s) {
			t.Errorf("isCountry(%q) = true", s)
		}
	}
}

func TestNested(t *testing.T) {
	if got, want := nested("bonifiq.tier.id"), "bonifiq: {tier: {id: ...}}"; got != want {
		t.Errorf("nested = %q, want %q", got, want)
	}
}

// TestDotIDsAreRefused: "." and ".." would become path segments
// (POST /v1/pvt/Customer/../changestatus); validate refuses them, with the
// position, in YAML and CSV alike.
func TestDotIDsAreRefused(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("customers:\n  - id: \"..\"\n    name: X\n    bonifiq: {}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "b.csv"), []byte("id,name,bonifiq.enrolled\n.,Y,true\n"), 0o600)
	_, diags := Load(registry.Default(), []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.csv")})
	var got []string
	for _, d := range diags {
		got = append(got, d.String())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{`a.yaml:2:9: customers[0].id: ".." cannot be an id`, `b.csv:2:1: id: "." cannot be an id`} {
		if !strings.Contains(all, want) {
			t.Errorf("want %q in:\n%s", want, all)
		}
	}
}
