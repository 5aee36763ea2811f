package engine

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// MarshalJSON encodes fs as a JSON object in name order.
func (fs Fields) MarshalJSON() ([]byte, error) { return AppendFieldsJSON(nil, fs), nil }

// UnmarshalJSON decodes a JSON object of string, integer, boolean or null
// values, sorted by name.
func (fs *Fields) UnmarshalJSON(b []byte) error {
	var m map[string]Value
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	out := make(Fields, 0, len(m))
	for k, v := range m {
		out = append(out, Field{Name: k, Value: v})
	}
	out.Sort()
	*fs = out
	return nil
}

// planDoc is the JSON shape of a plan: exactly SPEC 3.3's for -json, plus,
// in a saved plan (-out), what apply needs to carry it out.
type planDoc struct {
	FormatVersion string         `json:"format_version"`
	StateLineage  string         `json:"state_lineage"`
	StateSerial   int64          `json:"state_serial"`
	Refreshed     bool           `json:"refreshed,omitempty"`
	Changes       []*changeDoc   `json:"changes"`
	Summary       Summary        `json:"summary"`
	Targets       []string       `json:"targets,omitempty"`
	Providers     map[string]cfg `json:"providers,omitempty"`
}

type changeDoc struct {
	*Change
	// Saved plans only.
	Desired *resourceDoc `json:"desired,omitempty"`
	IDs     Fields       `json:"ids,omitempty"`
	Prior   string       `json:"prior,omitempty"`
}

type resourceDoc struct {
	Fields Fields `json:"fields"`
	Params Fields `json:"params,omitempty"`
}

type cfg struct {
	RateLimit   float64  `json:"rate_limit"`
	Burst       int      `json:"burst"`
	Concurrency int      `json:"concurrency"`
	MaxRetries  int      `json:"max_retries"`
	Timeout     string   `json:"timeout"`
	BaseURL     string   `json:"base_url,omitempty"`
	OnRemove    OnRemove `json:"on_remove"`
}

// WritePlanJSON writes p as one JSON document. With saved set it also
// writes what `apply PLANFILE` needs: each change's desired resource, the
// service ids, the digest of the state entry the plan saw, the targets and
// the provider settings.
func WritePlanJSON(w io.Writer, p *Plan, saved bool) error {
	doc := planDoc{
		FormatVersion: PlanFormatVersion,
		StateLineage:  p.StateLineage,
		StateSerial:   p.StateSerial,
		Refreshed:     p.Refreshed,
		Changes:       make([]*changeDoc, len(p.Changes)),
		Summary:       p.Summary,
	}
	for i, ch := range p.Changes {
		cd := &changeDoc{Change: ch}
		if saved {
			if ch.Desired != nil {
				cd.Desired = &resourceDoc{Fields: ch.Desired.Fields, Params: ch.Desired.Params}
				if cd.Desired.Fields == nil {
					cd.Desired.Fields = Fields{}
				}
			}
			cd.IDs = ch.IDs
			cd.Prior = ch.Prior
		}
		doc.Changes[i] = cd
	}
	if saved {
		doc.Targets = p.Targets
		doc.Providers = map[string]cfg{}
		for name, c := range p.Providers {
			doc.Providers[name] = cfg{c.RateLimit, c.Burst, c.Concurrency, c.MaxRetries, c.Timeout.String(), c.BaseURL, c.OnRemove}
		}
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	return bw.Flush()
}

// ErrPlanFile wraps every error about a saved plan that cannot be read.
var ErrPlanFile = errors.New("saved plan cannot be read")

// ReadPlanFile reads a plan saved with WritePlanJSON(saved=true). Calls
// are not read: apply plans them again from each change, the same way.
func ReadPlanFile(r io.Reader) (*Plan, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrPlanFile, fmt.Sprintf(format, args...))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fail("the file is empty")
	}
	var doc planDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fail("not a reconcile plan (%v)", err)
	}
	if doc.FormatVersion == "" {
		return nil, fail("not a reconcile plan: no format_version")
	}
	if doc.FormatVersion != PlanFormatVersion {
		return nil, fail("format_version %q; this build reads %q", doc.FormatVersion, PlanFormatVersion)
	}
	if doc.StateLineage == "" {
		return nil, fail("no state_lineage")
	}
	if doc.Providers == nil {
		return nil, fail("it was printed with -json, not saved with -out: plan again with -out FILE")
	}
	p := &Plan{StateLineage: doc.StateLineage, StateSerial: doc.StateSerial, Summary: doc.Summary, Targets: doc.Targets, Refreshed: doc.Refreshed, Providers: map[string]ProviderConfig{}}
	for name, c := range doc.Providers {
		if !IsProvider(name) {
			return nil, fail("unknown provider %q", name)
		}
		d, err := time.ParseDuration(c.Timeout)
		if err != nil || d <= 0 || c.RateLimit <= 0 || c.Burst < 1 || c.Concurrency < 1 || c.MaxRetries < 0 {
			return nil, fail("provider %q: invalid settings", name)
		}
		p.Providers[name] = ProviderConfig{RateLimit: c.RateLimit, Burst: c.Burst, Concurrency: c.Concurrency, MaxRetries: c.MaxRetries, Timeout: d, BaseURL: c.BaseURL, OnRemove: c.OnRemove}
	}
	seen := map[string]bool{}
	for i, cd := range doc.Changes {
		if cd == nil || cd.Change == nil {
			return nil, fail("changes[%d]: empty", i)
		}
		ch := cd.Change
		prov, id, ok := SplitAddress(ch.Address)
		if !ok || prov != ch.Provider || id != ch.ID || !IsProvider(prov) {
			return nil, fail("changes[%d]: address %q does not match provider %q and id %q", i, ch.Address, ch.Provider, ch.ID)
		}
		if seen[ch.Address] {
			return nil, fail("changes[%d]: %s listed twice", i, ch.Address)
		}
		seen[ch.Address] = true
		switch ch.Action {
		case ActionCreate, ActionUpdate, ActionDisable:
			if cd.Desired == nil {
				return nil, fail("changes[%d]: %s has no desired fields", i, ch.Address)
			}
		case ActionForget:
		default:
			return nil, fail("changes[%d]: unknown action %q", i, ch.Action)
		}
		if cd.Prior == "" {
			return nil, fail("changes[%d]: %s has no prior state digest", i, ch.Address)
		}
		if cd.Desired != nil {
			ch.Desired = &Resource{Provider: prov, ID: id, Fields: cd.Desired.Fields, Params: cd.Desired.Params, Source: parseFileLine(ch.Source)}
		}
		ch.IDs = cd.IDs
		ch.Prior = cd.Prior
		ch.Calls = nil
		p.Changes = append(p.Changes, ch)
	}
	return p, nil
}

// parseFileLine reads FILE:LINE back into a Pos.
func parseFileLine(s string) Pos {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Pos{File: s}
	}
	n, err := strconv.ParseInt(s[i+1:], 10, 32)
	if err != nil {
		return Pos{File: s}
	}
	return Pos{File: s[:i], Line: int32(n)}
}
