// Package manifest loads and validates the manifests that declare the
// desired customers (SPEC section 2): YAML files, canonical CSV files and
// workbooks (.xlsx), and the spreadsheets that a YAML manifest's sources
// entry maps.
//
// Load returns every customer it could read and every problem it found, in
// every file, as positioned engine.Diagnostics: nothing stops at the first
// error, and nothing is planned until the diagnostics hold no error. A
// diagnostic's summary starts with the path of what it is about, so it reads
// on its own after its position:
//
//	manifests/customers.yaml:12:12: customers[3].email: invalid e-mail address "x@"
//	manifests/export/clientes.csv:7:31: Nível: 0 is out of range (it must be from 1 to 2147483647)
//
// In YAML the path is the key path from the top of the file, with 0-based
// list indexes; in CSV it is the column's heading as the file writes it. The
// position is the offending value, or the key for an unknown key; a CSV
// column counts characters, not bytes. Details in parentheses are hints.
//
// Choices the SPEC leaves open:
//
//   - A file is empty, and an error, when it declares no customer, no
//     provider setting and no source: a YAML file with only comments, or with
//     customers: [] and nothing else; a CSV without a header row, or with a
//     header and no rows.
//   - A file named twice (directly and through its directory) is read once.
//     A sources file named directly with -f is skipped with a warning: it is
//     read through its manifest, with that manifest's columns. A file named
//     by two sources entries is an error at the second.
//   - In CSV, a row whose cells are all empty (after trimming) is ignored
//     wherever it is, not only at the end: spreadsheets leave such rows
//     between blocks of data.
//   - A row that cannot be keyed (no id, an invalid one, a duplicate) is
//     reported and left out of the desired customers; its other cells are
//     still checked.
//   - A CSV that is not valid UTF-8 is reported once, at the first row that
//     is not, and the rest of the file is not read.
//   - A sources entry without columns reads its file with canonical headers,
//     so that defaults and encoding also serve canonical CSVs.
//   - Headings of a sources file that columns does not name are listed in one
//     note per file; a heading that columns names twice, or that the file has
//     twice, is an error.
//   - YAML anchors, aliases and merge keys (<<) work as YAML defines them.
//   - Where the id, phone or document looks like a number in scientific
//     notation (1.2E+11, 1,2E+11), it is an error even when quoted: a
//     spreadsheet has lost digits, and the value cannot be trusted.
//   - A record whose every provider block is in error gets no "managed in no
//     provider" warning, only the errors. A CSV in which no column (or
//     default) belongs to a provider gets that warning once, at its header.
//   - invisiblecollector.country is required in every record managed in
//     invisiblecollector, since every call to it carries the country.
//   - In a workbook, the headings are the first row that is not empty (a
//     sheet may start lower), and the cells are read by what they store
//     (see xlsxbook.go). A sources entry's sheet counts positions from 1 in
//     the workbook's order, hidden sheets included. A date cell has no time
//     zone: it is read as UTC, as a date_format's times are.
//   - In a workbook, a column with no heading is not an error until one of
//     its cells holds a value: with canonical headings that is an error, with
//     a sources entry's columns a note, and under a heading merged across
//     columns a warning (only the merge's first column is read).
//   - Without a date_format only YYYY-MM-DD (and RFC 3339 for times) is a
//     date: 12/04/1988 is an error whose hint names the date_format to
//     declare, even when the day cannot be the month (25/04/1988), since a
//     column read cell by cell could mix both orders. With a date_format,
//     every text date must follow it, YYYY-MM-DD included.
//   - An encoding is any name the IANA registry gives one that x/text
//     decodes, plus Windows code pages as cpNNNN. A CSV with a UTF-16 byte
//     order mark is read only with encoding: UTF-16, as before: Excel writes
//     UTF-16 only as tab-separated "Unicode text", not as CSV, so such a
//     file is more likely a mistake than a manifest.
//
// Loading a canonical CSV of a million rows allocates nothing per row beyond
// the one string encoding/csv makes of each row: customers and their fields
// come from shared blocks, keys are the schema's own strings, values are
// substrings of the row string or constants, and the id map is sized once
// from the rows in the first buffer. (A Go string never changes: with
// ReuseRecord csv.Reader reuses the slice, never the cells, so they need no
// copy.)
package manifest
