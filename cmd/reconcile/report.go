package main

import (
	"fmt"
	"os"

	"github.com/gocarina/gocsv"

	"github.com/reconcile-dev/reconcile/engine"
)

// reportRow is one row of -report FILE.csv.
type reportRow struct {
	Address    string `csv:"address"`
	Action     string `csv:"action"`
	Status     string `csv:"status"`
	HTTPStatus string `csv:"http_status"`
	Message    string `csv:"message"`
	Source     string `csv:"source"`
}

// writeReport writes one row per change, ready to fix in a spreadsheet.
func writeReport(path string, res *engine.Result, redact func(string) string) error {
	rows := make([]reportRow, 0, len(res.Items))
	for _, it := range res.Items {
		r := reportRow{Address: it.Change.Address, Action: string(it.Change.Action), Status: string(it.Status), Message: redact(it.Message), Source: it.Change.Source}
		if it.HTTPStatus != 0 {
			r.HTTPStatus = fmt.Sprint(it.HTTPStatus)
		}
		rows = append(rows, r)
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := gocsv.MarshalFile(&rows, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
