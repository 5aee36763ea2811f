// Command launch runs a command and reports its wall time and peak
// resident memory, for BenchmarkMillion (cmd/reconcile).
//
//	launch STDOUT STDERR PROG [ARG...]
//
// It runs PROG with its output to the files STDOUT and STDERR and prints,
// on its own stdout, "pid PID start UNIX-NANOSECONDS" once PROG runs, then
// "exit CODE wall-ns NANOSECONDS maxrss-kib KIB" when PROG has exited, and
// exits 0 (1 and a message on stderr when PROG cannot be run).
//
// Why a launcher: a child's ru_maxrss (getrusage, wait4) is also at least
// the resident memory of the process it was forked from, as Linux records
// the old address space's peak when the child execs, and Go's os/exec
// forks with CLONE_VM. A benchmark holding hundreds of MB (a seeded
// sandbox, the inputs it generated) would report them as the child's. This
// launcher holds a few MB, less than any program measured through it, so
// the maxrss it reports is the program's own.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: launch STDOUT STDERR PROG [ARG...]")
		os.Exit(2)
	}
	if err := launch(os.Args[1], os.Args[2], os.Args[3], os.Args[4:]); err != nil {
		fmt.Fprintln(os.Stderr, "launch:", err)
		os.Exit(1)
	}
}

func launch(stdout, stderr, prog string, args []string) error {
	out, err := os.Create(stdout)
	if err != nil {
		return err
	}
	defer out.Close()
	errf, err := os.Create(stderr)
	if err != nil {
		return err
	}
	defer errf.Close()
	cmd := exec.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = out, errf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	fmt.Printf("pid %d start %d\n", cmd.Process.Pid, start.UnixNano())
	err = cmd.Wait()
	wall := time.Since(start)
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return err
	}
	var maxrss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = ru.Maxrss // KiB on Linux
	}
	fmt.Printf("exit %d wall-ns %d maxrss-kib %d\n", cmd.ProcessState.ExitCode(), wall.Nanoseconds(), maxrss)
	return nil
}
