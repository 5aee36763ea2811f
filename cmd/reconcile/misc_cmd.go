package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
)

func (c *cli) newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Long: `Version prints reconcile's version: the module version it was built from (go install
...@v1.2.3), or "dev" for a build from a checkout, the VCS revision when the build
recorded it, the Go version, and the state and plan format versions. -v and --version
print the same line.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintln(c.stdout, buildVersion().String())
			return nil
		},
	}
}

// versionInfo is what the build says about itself.
type versionInfo struct {
	// version is the -ldflags "-X main.version=..." value, else the main
	// module's version (v1.2.3 for go install ...@v1.2.3, a pseudo-version
	// for a build stamped from VCS), else "dev".
	version string
	// revision, revTime and modified are the VCS revision the build
	// recorded (-buildvcs), its commit time, and whether the tree had
	// uncommitted changes.
	revision, revTime string
	modified          bool
	goVersion         string
}

// buildVersion reads the build information of this binary.
func buildVersion() versionInfo { return versionFrom(version, debug.ReadBuildInfo) }

// versionFrom is buildVersion with the -ldflags value and the build
// information given.
func versionFrom(ldflags string, read func() (*debug.BuildInfo, bool)) versionInfo {
	v := versionInfo{version: ldflags, goVersion: runtime.Version()}
	bi, ok := read()
	if !ok {
		return v
	}
	if bi.GoVersion != "" {
		v.goVersion = bi.GoVersion
	}
	if v.version == "" || v.version == "dev" {
		v.version = "dev"
		if mv := bi.Main.Version; mv != "" && mv != "(devel)" {
			v.version = mv
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
			if len(v.revision) > 12 {
				v.revision = v.revision[:12]
			}
		case "vcs.time":
			v.revTime = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}

// String is what version, -v and --version print: "reconcile v1.2.3
// (revision 0123456789ab, 2026-05-01T10:00:00Z; go1.26.8; state format 1,
// plan format 1)".
func (v versionInfo) String() string {
	var parts []string
	if v.revision != "" {
		rev := "revision " + v.revision
		if v.revTime != "" {
			rev += ", " + v.revTime
		}
		if v.modified {
			rev += ", modified"
		}
		parts = append(parts, rev)
	}
	parts = append(parts, v.goVersion, fmt.Sprintf("state format %s, plan format %s", engine.StateFormatVersion, engine.PlanFormatVersion))
	return fmt.Sprintf("reconcile %s (%s)", v.version, strings.Join(parts, "; "))
}

func (c *cli) newValidateCmd() *cobra.Command {
	m := &manifestFlags{notes: true}
	cmd := &cobra.Command{
		Use:   "validate [flags]",
		Short: "Check the manifests and report every problem",
		Long: `Validate reads the manifests and checks every value against the manifest reference
(README.md): types, lengths, e-mails, countries, enums, duplicate ids, unknown keys.
It prints every problem in every file at once, as FILE:LINE:COL: message, and exits 1
if there is any error, with the notes the other commands keep quiet about (columns a
source does not map, files of a manifest directory that are not manifests). It calls
no service.`,
		Example: "  reconcile validate\n  reconcile validate -f customers.yaml -f export/",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			d, err := c.loadManifests(m)
			if err != nil {
				return err
			}
			names := c.reg.Names()
			counts := make([]int, len(names))
			for _, cu := range d.Customers {
				for i := range names {
					if cu.Managed&(1<<i) != 0 {
						counts[i]++
					}
				}
			}
			fmt.Fprintf(c.stdout, "The manifests are valid: %s (", plural(len(d.Customers), "customer", "customers"))
			for i, name := range names {
				if i > 0 {
					fmt.Fprint(c.stdout, ", ")
				}
				fmt.Fprintf(c.stdout, "%s %s", name, thousands(counts[i]))
			}
			fmt.Fprintln(c.stdout, ").")
			return nil
		},
	}
	m.register(cmd)
	return cmd
}
