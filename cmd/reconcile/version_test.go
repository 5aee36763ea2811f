package main

import (
	"runtime/debug"
	"testing"
)

// TestVersionFromBuildInfo: the version line comes from the build: the
// module version of go install ...@v1.2.3, the VCS revision of a build
// from a checkout, the -ldflags value when one was given, "dev" when the
// build says nothing.
func TestVersionFromBuildInfo(t *testing.T) {
	info := func(version string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/reconcile-dev/reconcile", Version: version}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	for _, tc := range []struct {
		name, ldflags string
		read          func() (*debug.BuildInfo, bool)
		want          string
	}{
		{"go install @version", "dev", info("v1.2.3"),
			"reconcile v1.2.3 (go1.26.8; state format 1, plan format 1)"},
		{"checkout", "dev", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-05-01T10:00:00Z", "vcs.modified", "true"),
			"reconcile dev (revision 0123456789ab, 2026-05-01T10:00:00Z, modified; go1.26.8; state format 1, plan format 1)"},
		{"stamped from VCS", "dev", info("v0.1.1-0.20260501100000-0123456789ab", "vcs.revision", "0123456789abcdef0123", "vcs.modified", "false"),
			"reconcile v0.1.1-0.20260501100000-0123456789ab (revision 0123456789ab; go1.26.8; state format 1, plan format 1)"},
		{"-ldflags", "v9.9.9", info("v1.2.3"),
			"reconcile v9.9.9 (go1.26.8; state format 1, plan format 1)"},
		{"no build information", "dev", func() (*debug.BuildInfo, bool) { return nil, false }, ""},
	} {
		got := versionFrom(tc.ldflags, tc.read).String()
		if tc.want == "" {
			if v := versionFrom(tc.ldflags, tc.read); v.version != "dev" || v.revision != "" {
				t.Errorf("%s: %q", tc.name, got)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
