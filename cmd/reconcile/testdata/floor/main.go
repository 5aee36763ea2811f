// Command floor is the floor the million-customer benchmarks
// (BenchmarkMillion in cmd/reconcile) compare reconcile with: it reads the
// CSV with encoding/csv (ReuseRecord) and then, when given one, scans the
// state line by line with a bufio.Scanner, and does nothing else. Run as a
// whole process, it costs what any program that reads the same two files
// costs: process start, reading, and the least parsing.
//
//	floor CSV [STATE]
package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
)

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintln(os.Stderr, "usage: floor CSV [STATE]")
		os.Exit(2)
	}
	records, cells, err := readCSV(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
	lines, bytes := 0, 0
	if len(os.Args) == 3 {
		if lines, bytes, err = scanState(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "floor:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("%d records, %d cells; %d state lines, %d bytes\n", records, cells, lines, bytes)
}

// readCSV reads every record of the CSV at path, reusing the record.
func readCSV(path string) (records, cells int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return records, cells, nil
		}
		if err != nil {
			return records, cells, err
		}
		records++
		cells += len(rec)
	}
}

// scanState reads the state at path line by line; a line may be as long
// as the state reader allows (16 MiB).
func scanState(path string) (lines, bytes int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 16<<20+1)
	for s.Scan() {
		lines++
		bytes += len(s.Bytes())
	}
	return lines, bytes, s.Err()
}
