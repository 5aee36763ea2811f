// Package enginetest generates large manifests and states for benchmarks and
// tests, so that no megabytes are checked in.
//
// Two data sets:
//   - the canonical one (WriteCSV, State, WriteState): every customer
//     managed in bonifiq and tomticket, a state holding them all, one
//     customer in changedEvery with an older e-mail;
//   - the one-call one (WriteOneCallCSV, OneCallState, WriteOneCallState):
//     every customer managed in bonifiq only, by name, e-mail and enrolled,
//     and a state in which every customer's e-mail is older, so that each
//     customer is one update of one call (a BonifiQ profile PUT).
//
// WriteState and WriteOneCallState stream the state file, one customer's
// entries at a time, in the exact format state.Write writes: a million
// customers are written without building the engine.State.
package enginetest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/reconcile-dev/reconcile/engine"
)

// CSVHeader is the canonical header of generated manifests: every customer
// is managed in bonifiq and tomticket.
const CSVHeader = "id,name,email,phone,bonifiq.enrolled,bonifiq.tier.id,tomticket.language"

// OneCallCSVHeader is the header of the one-call manifest: every customer
// is managed in bonifiq only, by fields that go in one call (the profile).
const OneCallCSVHeader = "id,name,email,bonifiq.enrolled"

// firstID is customer 0's id; customer i's is firstID+i, in decimal.
const firstID = 100000

// row returns customer i's cells, in CSVHeader order.
func row(i int) (id, name, email, phone, enrolled, tier, lang string) {
	id = strconv.Itoa(firstID + i)
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
	return writeFile(path, func(w *bufio.Writer) error {
		w.WriteString(CSVHeader + "\n")
		for i := 0; i < n; i++ {
			id, name, email, phone, enrolled, tier, lang := row(i)
			fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s,%s\n", id, name, email, phone, enrolled, tier, lang)
		}
		return nil
	})
}

// WriteOneCallCSV writes n customers to path as the one-call CSV manifest
// (OneCallCSVHeader): the same customers as WriteCSV, managed in bonifiq
// only.
func WriteOneCallCSV(path string, n int) error {
	return writeFile(path, func(w *bufio.Writer) error {
		w.WriteString(OneCallCSVHeader + "\n")
		for i := 0; i < n; i++ {
			id, name, email, _, enrolled, _, _ := row(i)
			fmt.Fprintf(w, "%s,%s,%s,%s\n", id, name, email, enrolled)
		}
		return nil
	})
}

// entries returns customer i's entries in the canonical state: bonifiq's
// and tomticket's, with an older e-mail when changedEvery > 0 and i is a
// multiple of it.
func entries(i, changedEvery int) (b, tt *engine.Entry) {
	id, name, email, phone, enrolled, tier, lang := row(i)
	if changedEvery > 0 && i%changedEvery == 0 {
		email = "old." + email
	}
	t, _ := strconv.ParseInt(tier, 10, 64)
	b = &engine.Entry{Provider: "bonifiq", ID: id, Fields: engine.Fields{
		{Name: "email", Value: engine.String(email)},
		{Name: "enrolled", Value: engine.Bool(enrolled == "true")},
		{Name: "name", Value: engine.String(name)},
		{Name: "phone", Value: engine.String(phone)},
		{Name: "tier.id", Value: engine.Int(t)},
	}, IDs: engine.Fields{{Name: "PublicId", Value: engine.String("pub-" + id)}}}
	tt = &engine.Entry{Provider: "tomticket", ID: id, Fields: engine.Fields{
		{Name: "email", Value: engine.String(email)},
		{Name: "language", Value: engine.String(lang)},
		{Name: "name", Value: engine.String(name)},
		{Name: "phone", Value: engine.String(phone)},
	}}
	return b, tt
}

// OneCallEntry returns customer i's entry in the one-call state: what
// applying WriteOneCallCSV leaves, with an older e-mail (what a sandbox
// seeded for the one-call apply holds).
func OneCallEntry(i int) *engine.Entry {
	id, name, email, _, enrolled, _, _ := row(i)
	return &engine.Entry{Provider: "bonifiq", ID: id, Fields: engine.Fields{
		{Name: "email", Value: engine.String("old." + email)},
		{Name: "enrolled", Value: engine.Bool(enrolled == "true")},
		{Name: "name", Value: engine.String(name)},
	}, IDs: engine.Fields{{Name: "PublicId", Value: engine.String("pub-" + id)}}}
}

// State returns the state that applying WriteCSV's n customers leaves,
// except that one customer in changedEvery (0: none) has an older e-mail in
// both providers, so a plan shows it as an update.
func State(n, changedEvery int) *engine.State {
	s := engine.NewState()
	s.Serial = 1
	s.Resources = make(map[string]*engine.Entry, 2*n)
	for i := 0; i < n; i++ {
		b, tt := entries(i, changedEvery)
		s.Resources[b.Address()] = b
		s.Resources[tt.Address()] = tt
	}
	return s
}

// OneCallState returns the state that WriteOneCallState writes, in memory
// (for small tests): every one of the n customers in bonifiq, each with an
// older e-mail than WriteOneCallCSV's.
func OneCallState(n int) *engine.State {
	s := engine.NewState()
	s.Serial = 1
	s.Resources = make(map[string]*engine.Entry, n)
	for i := 0; i < n; i++ {
		e := OneCallEntry(i)
		s.Resources[e.Address()] = e
	}
	return s
}

// WriteState writes to w, byte for byte, what state.Write writes for
// State(n, changedEvery) with the given lineage (serial 1), building one
// customer's entries at a time.
func WriteState(w io.Writer, lineage string, n, changedEvery int) error {
	// Address order: every bonifiq/ address, then every tomticket/ one.
	return writeState(w, lineage, n, []func(i int) *engine.Entry{
		func(i int) *engine.Entry { b, _ := entries(i, changedEvery); return b },
		func(i int) *engine.Entry { _, tt := entries(i, changedEvery); return tt },
	})
}

// WriteOneCallState writes to w what state.Write writes for OneCallState(n)
// with the given lineage, one entry at a time.
func WriteOneCallState(w io.Writer, lineage string, n int) error {
	return writeState(w, lineage, n, []func(i int) *engine.Entry{OneCallEntry})
}

// WriteStateFile writes WriteState(n, changedEvery) to path, with a new
// lineage.
func WriteStateFile(path string, n, changedEvery int) error {
	return writeFile(path, func(w *bufio.Writer) error { return WriteState(w, engine.NewLineage(), n, changedEvery) })
}

// WriteOneCallStateFile writes WriteOneCallState(n) to path, with a new
// lineage.
func WriteOneCallStateFile(path string, n int) error {
	return writeFile(path, func(w *bufio.Writer) error { return WriteOneCallState(w, engine.NewLineage(), n) })
}

// writeState writes the state file of n customers whose entries services
// make, one service after the other: the services must be given in address
// order ("PROVIDER/" prefixes in byte order). The format is state.Write's:
// the header line, then one line per entry, entry.AppendJSON, in address
// order.
func writeState(w io.Writer, lineage string, n int, services []func(i int) *engine.Entry) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	line := fmt.Appendf(nil, `{"format_version":%q,"lineage":%q,"serial":1,"resources":%d}`+"\n",
		engine.StateFormatVersion, lineage, len(services)*n)
	bw.Write(line)
	order := idOrder(n)
	for _, entry := range services {
		for _, i := range order {
			line = append(entry(int(i)).AppendJSON(line[:0]), '\n')
			if _, err := bw.Write(line); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// idOrder returns the customers 0..n-1 in the byte order of their ids (the
// order of addresses in a state file): 999999 comes before 1000000 in
// numbers, not in bytes.
func idOrder(n int) []int32 {
	return idOrderFrom(firstID, n)
}

// idOrderFrom returns 0..n-1 ordered by the decimal strings of first+i.
func idOrderFrom(first, n int) []int32 {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = strconv.Itoa(first + i)
	}
	slices.Sort(ids)
	order := make([]int32, n)
	for k, id := range ids {
		v, _ := strconv.Atoi(id)
		order[k] = int32(v - first)
	}
	return order
}

// writeFile creates path and writes it through a buffered writer.
func writeFile(path string, write func(*bufio.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
