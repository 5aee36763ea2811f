package manifest

import (
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/encoding/unicode"
)

// encodingAliases are the names people use for encodings that the IANA
// registry knows by another name: Windows code pages are "cp1252" to Python
// and Excel users, "windows-1252" to IANA.
var encodingAliases = map[string]string{
	"utf8":    "utf-8",
	"latin-1": "ISO-8859-1",
	"cp1250":  "windows-1250",
	"cp1251":  "windows-1251",
	"cp1252":  "windows-1252",
	"cp1253":  "windows-1253",
	"cp1254":  "windows-1254",
	"cp1255":  "windows-1255",
	"cp1256":  "windows-1256",
	"cp1257":  "windows-1257",
	"cp1258":  "windows-1258",
}

// encodingNames are suggested when a name is unknown.
var encodingNames = []string{"utf-8", "windows-1252", "cp1252", "latin1", "ISO-8859-1", "ISO-8859-15", "UTF-16", "UTF-16LE", "UTF-16BE"}

// lookupEncoding resolves an encoding's name, as IANA registers it (any
// case, any registered alias) or as encodingAliases knows it. It returns nil
// for UTF-8, which is read as it is, and ok false for a name it cannot
// decode.
func lookupEncoding(name string) (enc encoding.Encoding, ok bool) {
	if a, found := encodingAliases[strings.ToLower(name)]; found {
		name = a
	}
	e, err := ianaindex.IANA.Encoding(name)
	if err != nil || e == nil { // nil, nil: a registered name x/text cannot decode
		return nil, false
	}
	if e == unicode.UTF8 {
		return nil, true
	}
	return e, true
}

// unknownEncodingHint suggests a close name, or the common ones.
func unknownEncodingHint(name string) string {
	if h := didYouMean(name, encodingNames); h != "" {
		return h
	}
	return "use an IANA name such as utf-8, windows-1252 (or cp1252: Excel's \"CSV\" on Windows), ISO-8859-1 (latin1) or UTF-16"
}

// isUTF16 reports whether e decodes UTF-16, which a byte order mark
// announces.
func isUTF16(e encoding.Encoding) bool {
	if e == nil {
		return false
	}
	name, _ := ianaindex.IANA.Name(e)
	return strings.HasPrefix(name, "UTF-16")
}

// setEncoding reads a sources entry's encoding.
func (f *yamlFile) setEncoding(src *source, v *yaml.Node, label string) {
	text, ok := f.scalar(v, label, "an encoding", "leave the key out to read UTF-8")
	if !ok {
		return
	}
	enc, ok := lookupEncoding(text)
	if !ok {
		f.errorf(v, unknownEncodingHint(text), "%s: unknown encoding %q", label, text)
		src.skip = true
		return
	}
	src.enc, src.encodingNode = enc, v
	if enc != nil {
		src.encoding = text
	}
}
