package engine

import "slices"

// Record is one completed step of an apply, as the state must remember it:
// the fields a call settled, or the removal of an address. Records hold
// absolute values, so replaying one twice is harmless.
type Record struct {
	Address string `json:"address"`
	// Set holds the fields the call settled, with their applied values.
	Set Fields `json:"set,omitempty"`
	// Managed lists every field the manifests manage for the address; the
	// state drops fields outside it (they stopped being managed).
	Managed []string `json:"managed,omitempty"`
	// IDs holds service ids the call returned.
	IDs Fields `json:"ids,omitempty"`
	// Delete removes the address (forget, or a completed disable).
	Delete bool `json:"delete,omitempty"`
}

// Recorder receives every completed call as it completes. Record must hand
// the record to the operating system (a write, not a buffer in the process)
// before returning: once it returns, a crash of the process loses nothing.
// Apply calls it from many goroutines at once.
type Recorder interface {
	Record(rec Record) error
}

// ApplyRecord folds rec into s.
func (s *State) ApplyRecord(rec Record) {
	if rec.Delete {
		delete(s.Resources, rec.Address)
		return
	}
	prov, id, ok := SplitAddress(rec.Address)
	if !ok {
		return
	}
	e := s.Resources[rec.Address]
	if e == nil {
		e = &Entry{Provider: prov, ID: id}
		s.Resources[rec.Address] = e
	}
	for _, f := range rec.Set {
		e.Fields = e.Fields.Set(f.Name, f.Value)
	}
	if rec.Managed != nil {
		kept := e.Fields[:0]
		for _, f := range e.Fields {
			if slices.Contains(rec.Managed, f.Name) {
				kept = append(kept, f)
			}
		}
		e.Fields = kept
	}
	for _, f := range rec.IDs {
		e.IDs = e.IDs.Set(f.Name, f.Value)
	}
	// A completed call means the service has the customer now.
	e.IDs = e.IDs.Delete(AbsentID)
}

// AppendJSON appends rec as one compact JSON object, the line format of the
// state journals (file and PostgreSQL); json.Unmarshal reads it back.
func (rec Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"address":`...)
	b = appendJSONString(b, rec.Address)
	if rec.Delete {
		b = append(b, `,"delete":true`...)
	}
	if rec.Set != nil {
		b = append(b, `,"set":`...)
		b = AppendFieldsJSON(b, rec.Set)
	}
	if rec.Managed != nil {
		b = append(b, `,"managed":[`...)
		for i, m := range rec.Managed {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, m)
		}
		b = append(b, ']')
	}
	if len(rec.IDs) > 0 {
		b = append(b, `,"ids":`...)
		b = AppendFieldsJSON(b, rec.IDs)
	}
	return append(b, '}')
}
