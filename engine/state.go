package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// StateFormatVersion is the version of the state format this build writes
// and the only one it reads.
const StateFormatVersion = "1"

// State is what reconcile last applied: one entry per address.
type State struct {
	// Lineage identifies this state's history; made once, never changed. A
	// saved plan carries it, and is refused by a state of another lineage.
	Lineage string
	// Serial grows by one on every write.
	Serial int64
	// Resources maps an address (PROVIDER/ID) to its entry.
	Resources map[string]*Entry
}

// NewState returns an empty state with a fresh lineage.
func NewState() *State {
	return &State{Lineage: NewLineage(), Resources: map[string]*Entry{}}
}

// Entry is one address in the state.
type Entry struct {
	Provider string
	ID       string
	// Fields holds the last applied value of every managed field, by its
	// name inside the provider, sorted.
	Fields Fields
	// IDs holds the service's own ids (invisiblecollector "gid", bonifiq
	// "PublicId") and the parameters needed to address the customer later
	// (tomticket "id_type"), sorted.
	IDs Fields
}

// Address returns PROVIDER/ID.
func (e *Entry) Address() string { return Address(e.Provider, e.ID) }

// AbsentID is the id that marks an entry for a customer a read found the
// service does not have (reconcile import): the state holds no field of it,
// the plan plans it as a create whose first request is the service's create
// (Change.Missing), and the first completed call drops the mark.
const AbsentID = "absent"

// AbsentEntry returns the entry that records that the service has no
// customer at provider/id.
func AbsentEntry(provider, id string) *Entry {
	return &Entry{Provider: provider, ID: id, IDs: Fields{{Name: AbsentID, Value: Bool(true)}}}
}

// Absent reports whether e only records that the service has no such
// customer (AbsentEntry).
func (e *Entry) Absent() bool {
	if e == nil {
		return false
	}
	v, ok := e.IDs.Get(AbsentID)
	return ok && v == Bool(true)
}

// Clone returns a deep copy of e.
func (e *Entry) Clone() *Entry {
	c := *e
	c.Fields = e.Fields.Clone()
	c.IDs = e.IDs.Clone()
	return &c
}

// Digest summarises e's content. A saved plan keeps the digest of every
// entry it touches, so apply can tell whether that entry changed since;
// a nil entry's digest is "absent".
func (e *Entry) Digest() string {
	if e == nil {
		return "absent"
	}
	b := make([]byte, 0, 256)
	b = appendEntryJSON(b, e)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// AppendJSON appends e as one JSON object, the line format of the state file:
// {"address":"bonifiq/1001","fields":{...},"ids":{...}}.
func (e *Entry) AppendJSON(b []byte) []byte { return appendEntryJSON(b, e) }

func appendEntryJSON(b []byte, e *Entry) []byte {
	b = append(b, `{"address":`...)
	b = appendJSONString(b, e.Address())
	b = append(b, `,"fields":`...)
	b = AppendFieldsJSON(b, e.Fields)
	if len(e.IDs) > 0 {
		b = append(b, `,"ids":`...)
		b = AppendFieldsJSON(b, e.IDs)
	}
	return append(b, '}')
}

// AppendFieldsJSON appends fs as a JSON object in name order.
func AppendFieldsJSON(b []byte, fs Fields) []byte {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.Name)
		b = append(b, ':')
		b = f.Value.AppendJSON(b)
	}
	return append(b, '}')
}

// LockInfo says who holds a state lock, for the message a second user sees.
type LockInfo struct {
	ID        string    `json:"id"`
	Who       string    `json:"who"` // user@host
	Operation string    `json:"operation"`
	Created   time.Time `json:"created"`
	PID       int       `json:"pid,omitempty"`
	Path      string    `json:"path,omitempty"` // what is locked
}

// String renders the holder for humans.
func (li LockInfo) String() string {
	return fmt.Sprintf("ID %s, held by %s for %q since %s", li.ID, li.Who, li.Operation, li.Created.UTC().Format(time.RFC3339))
}

// LockedError is returned when another process holds the state lock.
type LockedError struct {
	Info LockInfo
	// Waited is how long the command waited (-lock-timeout) before giving up.
	Waited time.Duration
}

func (e *LockedError) Error() string {
	msg := "state is locked: " + e.Info.String()
	if e.Waited > 0 {
		msg += fmt.Sprintf(" (waited %s)", e.Waited)
	}
	return msg + "; if its holder is gone, run: reconcile force-unlock " + e.Info.ID
}

// ErrStateCorrupt wraps every error about a state that cannot be read.
var ErrStateCorrupt = errors.New("state cannot be read")

// Unlocker releases a held lock.
type Unlocker interface {
	Unlock() error
}

// Backend stores a state. The file backend lives in engine/state; others
// (PostgreSQL) implement the same contract.
type Backend interface {
	// Load reads the whole state. A state that does not exist yet is an empty
	// state with a fresh lineage and serial 0. An unreadable state is an
	// error wrapping ErrStateCorrupt, and is never overwritten.
	Load(ctx context.Context) (*State, error)
	// Save replaces the stored state with s, atomically, after incrementing
	// s.Serial. The caller holds the lock.
	Save(ctx context.Context, s *State) error
	// Lock takes the exclusive lock for operation, waiting up to timeout
	// (0: fail at once). A held lock gives *LockedError.
	Lock(ctx context.Context, operation string, timeout time.Duration) (Unlocker, error)
	// ForceUnlock removes the lock with this id, whoever holds it.
	ForceUnlock(ctx context.Context, id string) error
	// OpenJournal starts recording completed calls for s, durably, between
	// two saves: Load folds the records of a journal left by a crashed
	// command into the state it returns, and Save of a state that includes
	// them discards the journal. The caller holds the lock.
	OpenJournal(ctx context.Context, s *State) (Journal, error)
	// String names the backend for messages: the file path or database.
	String() string
}

// Journal records completed calls durably between two saves of the state.
type Journal interface {
	Recorder
	// Close flushes the journal to stable storage and closes it.
	Close() error
}

// NewLineage returns a new random UUID (version 4).
func NewLineage() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
