// Command reconcile keeps customer records in BonifiQ, InvisibleCollector and
// TomTicket in the state that reviewed YAML and CSV manifests describe: plan
// shows what would change, apply makes the changes and records them.
package main

import (
	"context"
	"os"
)

func main() {
	// Signals are handled by the commands that need them (apply stops
	// gracefully on the first Ctrl-C); elsewhere they end the process.
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
