// Package enginetest generates large manifests and states for benchmarks and
// tests, so that no megabytes are checked in.
package enginetest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"

	"github.com/reconcile-dev/reconcile/engine"
)

// CSVHeader is the canonical header of generated manifests: every customer
// is managed in bonifiq and tomticket.
const CSVHeader = "id,name,email,phone,bonifiq.enrolled,bonifiq.tier.id,tomticket.language"

// row returns customer i's cells, in CSVHeader order.
func row(i int) (id, name, email, phone, enrolled, tier, lang string) {
	id = strconv.Itoa(100000 + i)
	name = "Customer " + id
	email = "customer" + id + "@example.com"
	phone = "+55 11 9" + fmt.Sprintf("%04d-%04d", i/10000%10000, i%10000)
	enrolled = "true"
	if i%3 == 0 {
		enrolled = "false"
	}
	tier = strconv.Itoa(1 + i%4)
	lang = [...]string{"pt-BR", "en-US", "es_ES"}[i%3]
	return
}

// WriteCSV writes n customers to path as a canonical CSV manifest.
func WriteCSV(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	w.WriteString(CSVHeader + "\n")
	for i := 0; i < n; i++ {
		id, name, email, phone, enrolled, tier, lang := row(i)
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s,%s\n", id, name, email, phone, enrolled, tier, lang)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// State returns the state that applying WriteCSV's n customers leaves,
// except that one customer in changedEvery (0: none) has an older e-mail in
// both providers, so a plan shows it as an update.
func State(n, changedEvery int) *engine.State {
	s := engine.NewState()
	s.Serial = 1
	s.Resources = make(map[string]*engine.Entry, 2*n)
	for i := 0; i < n; i++ {
		id, name, email, phone, enrolled, tier, lang := row(i)
		if changedEvery > 0 && i%changedEvery == 0 {
			email = "old." + email
		}
		t, _ := strconv.ParseInt(tier, 10, 64)
		b := &engine.Entry{Provider: "bonifiq", ID: id, Fields: engine.Fields{
			{Name: "email", Value: engine.String(email)},
			{Name: "enrolled", Value: engine.Bool(enrolled == "true")},
			{Name: "name", Value: engine.String(name)},
			{Name: "phone", Value: engine.String(phone)},
			{Name: "tier.id", Value: engine.Int(t)},
		}, IDs: engine.Fields{{Name: "PublicId", Value: engine.String("pub-" + id)}}}
		tt := &engine.Entry{Provider: "tomticket", ID: id, Fields: engine.Fields{
			{Name: "email", Value: engine.String(email)},
			{Name: "language", Value: engine.String(lang)},
			{Name: "name", Value: engine.String(name)},
			{Name: "phone", Value: engine.String(phone)},
		}}
		s.Resources[b.Address()] = b
		s.Resources[tt.Address()] = tt
	}
	return s
}
