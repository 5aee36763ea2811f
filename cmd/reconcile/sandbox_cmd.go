package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/reconcile-dev/reconcile/engine"
	"github.com/reconcile-dev/reconcile/providers/sandbox"
)

// Files of the in-process sandbox (plan -sandbox, apply -sandbox).
const (
	sandboxStateFile = "reconcile.sandbox.state.json"
	sandboxDataFile  = "reconcile.sandbox.data.json"
)

func (c *cli) newSandboxCmd() *cobra.Command {
	var (
		addr     string
		latency  time.Duration
		failRate float64
		data     string
		answers  string
	)
	cmd := &cobra.Command{
		Use:   "sandbox [flags]",
		Short: "Serve a local simulator of the services",
		Long: `Sandbox serves simulators of ` + c.titles() + ` on one loopback
port (their documented paths, auth, validation and error bodies, and rate limits with
429), and prints the export lines that point reconcile at it with the sandbox
credentials (any other credential gets the service's 401).

-latency and -fail-rate add delay and injected 429/500/dropped-connection faults, to
see retries at work. Stop it with Ctrl-C.`,
		Example: `  reconcile sandbox -addr 127.0.0.1:8080
  eval "$(reconcile sandbox -addr 127.0.0.1:8080 | grep ^export)"   # in another shell, copy the exports`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if failRate < 0 || failRate >= 1 {
				return &exitError{code: 1, msg: fmt.Sprintf("-fail-rate %v: want a fraction in [0, 1)", failRate)}
			}
			alternate, err := sandboxAnswers(answers, "-answers")
			if err != nil {
				return err
			}
			sb, err := sandbox.New(sandbox.Options{Latency: latency, FailRate: failRate, DataFile: data, Registry: c.reg, Alternate: alternate})
			if err != nil {
				return err
			}
			base, err := sb.Start(addr)
			if err != nil {
				return fmt.Errorf("sandbox: %w", err)
			}
			defer sb.Close()
			fmt.Fprintf(c.stdout, "Sandbox serving %s at %s\n\n", c.titles(), base)
			for _, kv := range sb.Env(base) {
				k, v, _ := strings.Cut(kv, "=")
				fmt.Fprintf(c.stdout, "export %s=%s\n", k, shellQuote(v))
			}
			fmt.Fprintln(c.stdout, "\nPaste these into the shell that runs reconcile. Ctrl-C stops the sandbox.")
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(sig)
			select {
			case <-sig:
			case <-cmd.Context().Done():
			}
			if data != "" {
				return sb.Save()
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "loopback `HOST:PORT` to listen on")
	f.DurationVar(&latency, "latency", 0, "delay added to every request")
	f.Float64Var(&failRate, "fail-rate", 0, "fraction of requests answered with 429, 500 or a dropped connection")
	f.StringVar(&data, "data", "", "keep the simulated customers in `FILE` across runs")
	f.StringVar(&answers, "answers", "documented", "`documented` (not-found is a 404) or alternate (the other reading of the vendors' pages: BonifiQ not-found and no-op as 200 envelopes, TomTicket not-found as 200 error: true); also RECONCILE_SANDBOX_ANSWERS for -sandbox")
	return cmd
}

// sandboxAnswers reads the sandbox's answers setting (-answers, or
// RECONCILE_SANDBOX_ANSWERS for -sandbox): whether it serves the
// alternate readings of the vendors' pages.
func sandboxAnswers(v, name string) (bool, error) {
	switch v {
	case "", "documented":
		return false, nil
	case "alternate":
		return true, nil
	}
	return false, &exitError{code: 1, msg: fmt.Sprintf("%s %q: want documented or alternate", name, v)}
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// inProcessSandbox starts the simulator for -sandbox, with its data kept
// beside the state file, and returns the environment that points the
// providers at it.
func inProcessSandbox(reg *engine.Registry, statePath string, getenv func(string) string) (*sandbox.Sandbox, map[string]string, error) {
	alternate, err := sandboxAnswers(getenv("RECONCILE_SANDBOX_ANSWERS"), "RECONCILE_SANDBOX_ANSWERS")
	if err != nil {
		return nil, nil, err
	}
	sb, err := sandbox.New(sandbox.Options{Registry: reg, DataFile: filepath.Join(filepath.Dir(statePath), sandboxDataFile), Alternate: alternate})
	if err != nil {
		return nil, nil, err
	}
	base, err := sb.Start("127.0.0.1:0")
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: %w", err)
	}
	env := map[string]string{}
	for _, kv := range sb.Env(base) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return sb, env, nil
}
