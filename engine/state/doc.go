// Package state stores reconcile's state in a local file: File implements
// engine.Backend.
//
// # Format
//
// A state file is UTF-8 JSON Lines. The first line is a header:
//
//	{"format_version":"1","lineage":"<uuid>","serial":12,"resources":2}
//
// format_version is the format's version, a string; this build reads and
// writes "1" only, and refuses any other version with a message to upgrade
// reconcile. lineage is a UUID made once when the state is created; serial
// grows by one on every save; resources is the number of lines that follow,
// so a truncated file is told from a short one.
//
// Then comes one line per address, in address order, each
// engine.Entry.AppendJSON:
//
//	{"address":"bonifiq/1001","fields":{"email":"a@b.c","enabled":true,"phone":null,"tier.id":3},"ids":{"PublicId":"x"}}
//
// address is PROVIDER/ID with a known provider. fields holds the last
// applied value of every managed field and ids the service's own ids
// (omitted when empty); values are JSON strings, integers (64-bit), true,
// false or null, and nothing else. Names are unique within an object.
//
// Readers accept any valid JSON with this meaning: whitespace, keys in any
// order, members in any order (they are sorted after decoding), escapes,
// blank lines, CRLF line ends. Unknown keys are errors, since saving would
// drop them. A line may be up to MaxLineBytes long.
//
// # Reading
//
// A missing file is an empty state with a fresh lineage (or the lineage of
// a journal left beside it, see below) and serial 0; nothing is created. Anything else that is not a state as described, from
// a binary file to a duplicate address or a count that does not match,
// gives a *CorruptError (wrapping engine.ErrStateCorrupt) that names the
// file, the line, the column where known, and the problem, as in
//
//	reconcile.state.json:3:52: field "tier.id": 1.5 is not an integer; ...
//
// Reading never writes. Lines are decoded in parallel by a hand-written
// decoder for the shape above, falling back to encoding/json for any other
// form, and the first bad line in the file is the one reported.
//
// # Saving
//
// Save writes the new state to a temporary file in the same directory
// (mode 0600), syncs it, makes the current file FILE.backup (a hard link
// renamed into place, so FILE.backup too is always whole), renames the new
// file over FILE and syncs the directory. A crash at any moment leaves
// FILE either the previous state or the new one, never a mix; at worst a
// temporary file (.FILE.tmp-<random>) remains beside it, which the next
// holder of the lock removes.
//
// A state path that is a symbolic link is followed, once, to the file it
// leads to (which the first save creates if it does not exist yet): that
// file is the one locked, saved, journaled and backed up, and the link
// stays a link, so a state reached by two names is still locked once.
//
// Save never replaces a file that is not a readable state, nor one that
// holds another lineage (someone swapped the file) or a higher serial than
// the state being saved was read at (someone wrote it meanwhile): it
// returns an error and writes nothing.
//
// # Journal
//
// Between two saves, a command that applies changes records each completed
// call in FILE.journal (OpenJournal). Load folds a journal left by a
// command that did not finish into the state it returns; Save removes the
// journal once the file includes it.
//
// # Locking
//
// Commands that write the state hold an OS lock (flock) on FILE.lock, a
// separate file that is never renamed or removed; the holder writes its
// engine.LockInfo there as JSON, for the message a second user sees. The OS
// releases the lock when the holding process ends, however it ends, so a
// kill -9 leaves at most stale info, which the next Lock overwrites and
// ForceUnlock clears; a live holder's lock cannot be forced. FILE.lock is
// opened without following symbolic links, and one that is not a regular
// file is refused, so a link planted there never has its target truncated.
//
// Every operating-system call goes through a small seam (fsys), which the
// tests replace to make each one fail in turn. The package builds on Unix
// systems with flock(2) and O_NOFOLLOW (Linux, macOS, the BSDs).
package state
