package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/reconcile-dev/reconcile/providers/registry"
)

func loadMessages(t *testing.T, paths ...string) string {
	t.Helper()
	_, diags := Load(registry.Default(), paths)
	var out []string
	for _, d := range diags {
		out = append(out, d.String())
	}
	return strings.Join(out, "\n")
}

// TestManifestThatIsADeviceIsRefused: a manifest symlinked to /dev/zero is
// refused at once, not read forever.
func TestManifestThatIsADeviceIsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"zero.csv", "zero.yaml"} {
		link := filepath.Join(dir, name)
		if err := os.Symlink("/dev/zero", link); err != nil {
			t.Skip("no /dev/zero:", err)
		}
		start := time.Now()
		msgs := loadMessages(t, link)
		if !strings.Contains(msgs, "not a regular file") {
			t.Errorf("%s: %s", name, msgs)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s took %v", name, d) // it read /dev/zero
		}
	}
}

// TestSymlinkedSecretIsNotEchoed: a manifest that is a link to some other
// file (a git credential URL) is not echoed back as an "unknown column".
func TestSymlinkedSecretIsNotEchoed(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "credentials")
	os.WriteFile(secret, []byte("https://deploy:ghp_0123456789abcdefghijklmnopqrstuvwxyz@github.com\n"), 0o600)
	link := filepath.Join(dir, "customers.csv")
	os.Symlink(secret, link)
	msgs := loadMessages(t, link)
	if strings.Contains(msgs, "abcdefghij") || !strings.Contains(msgs, "unknown column") {
		t.Errorf("the message echoes the file's first line:\n%s", msgs)
	}
	// A symlink to a real manifest is followed.
	real := filepath.Join(dir, "real.csv")
	os.WriteFile(real, []byte("id,name,bonifiq.enrolled\n1,Ana,true\n"), 0o600)
	link2 := filepath.Join(dir, "link.csv")
	os.Symlink(real, link2)
	if d, diags := Load(registry.Default(), []string{link2}); diags.HasErrors() || len(d.Customers) != 1 {
		t.Errorf("a symlink to a manifest: %v", diags)
	}
}

// TestDirectorySkipsWhatIsNotARegularFile: a FIFO named like a manifest is
// skipped, and said so.
func TestDirectorySkipsWhatIsNotARegularFile(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.csv"), 0o600); err != nil {
		t.Skip("mkfifo:", err)
	}
	os.WriteFile(filepath.Join(dir, "ok.csv"), []byte("id,name,bonifiq.enrolled\n1,Ana,true\n"), 0o600)
	msgs := loadMessages(t, dir)
	if !strings.Contains(msgs, `"pipe.csv" (not a regular file)`) {
		t.Errorf("the FIFO is not named as skipped:\n%s", msgs)
	}
}

// TestRowLimitAdmitsRealRows: a row of 512 KiB (a long custom field) loads;
// one of more than 1 MiB is refused with its line, and the rows after an
// unclosed quote do not pile up past the limit.
func TestRowLimitAdmitsRealRows(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.csv")
	os.WriteFile(ok, []byte("id,name,tomticket.custom_fields.cf_notes\n1,Ana,"+strings.Repeat("n", 512<<10)+"\n"), 0o600)
	if d, diags := Load(registry.Default(), []string{ok}); diags.HasErrors() || len(d.Customers) != 1 {
		t.Errorf("a 512 KiB row: %v", diags)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("id,name,bonifiq.enrolled\n1,\"Ana,true\n"+strings.Repeat("2,Bia,true\n", 200000)), 0o600)
	if msgs := loadMessages(t, bad); !strings.Contains(msgs, "row longer than 1 MiB") {
		t.Errorf("an unclosed quote swallowing 2 MiB of rows:\n%s", msgs)
	}
}
