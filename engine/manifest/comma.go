package manifest

import (
	"bufio"
	"bytes"
	"os"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Comma returns the delimiter for a CSV about the customers of these
// manifest files, such as the report of an apply, so that a spreadsheet
// opens it in columns where the manifests came from: ';' when more of the
// CSV files among them use ';' than ',' (Excel writes ';' where the decimal
// separator is a comma: Brazil, most of Europe), ',' otherwise. Files that
// are not CSV, or cannot be read any more, do not count; a file named twice
// counts once.
func Comma(files []string) rune {
	seen := make(map[string]bool, 4)
	semis, commas := 0, 0
	for _, f := range files {
		if seen[f] || !isCSV(f) {
			continue
		}
		seen[f] = true
		switch fileComma(f) {
		case ';':
			semis++
		case ',':
			commas++
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

// fileComma detects the delimiter of a CSV file as loading it does, or
// returns 0 when it cannot be read. ',' and ';' are the same bytes in UTF-8
// and in the single-byte encodings; a UTF-16 file is decoded first.
func fileComma(path string) rune {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	if bom, _ := br.Peek(2); bytes.Equal(bom, []byte("\xff\xfe")) || bytes.Equal(bom, []byte("\xfe\xff")) {
		dec := unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM).NewDecoder()
		br = bufio.NewReaderSize(transform.NewReader(br, dec), 64<<10)
	}
	return detectComma(br)
}
