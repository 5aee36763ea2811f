package main

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// conventions gives the command tree terraform's conventions, once every
// command is added: a typo exits 1 with a suggestion (an unknown
// subcommand, help topic or flag), flag errors name the flag as it is
// written (-json) and say what value it wants, -v and --version print the
// version, and completion works with or without bash-completion.
func (c *cli) conventions(root *cobra.Command) {
	root.Version = buildVersion().String()
	root.SetVersionTemplate("{{.Version}}\n")
	root.InitDefaultVersionFlag()
	if f := root.Flags().Lookup("version"); f != nil {
		f.Usage = "print the version"
	}
	root.InitDefaultHelpFlag()
	root.SetFlagErrorFunc(flagError)
	root.SetHelpCommand(c.newHelpCmd())
	root.InitDefaultCompletionCmd()
	c.customizeCompletion(root)
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if cmd != root && cmd.HasSubCommands() && cmd.Run == nil && cmd.RunE == nil {
			cmd.Args = cobra.ArbitraryArgs
			cmd.RunE = unknownSubcommand
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// unknownSubcommand runs a command that only groups others (state,
// completion): alone it prints its help; with anything else it fails with
// the subcommands it could mean.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	return &exitError{code: 1, msg: fmt.Sprintf("unknown command %q for %q%s\n\nRun '%s -help' for usage.",
		args[0], cmd.CommandPath(), suggestCommands(cmd, args[0]), cmd.CommandPath())}
}

// suggestCommands renders cobra's "Did you mean this?" list of cmd's
// subcommands close to typed, or "".
func suggestCommands(cmd *cobra.Command, typed string) string {
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	s := cmd.SuggestionsFor(typed)
	if len(s) == 0 {
		return ""
	}
	return "\n\nDid you mean this?\n\t" + strings.Join(s, "\n\t")
}

// newHelpCmd is help that fails, with a suggestion, on a topic that is not
// a command (cobra's prints the usage and exits 0).
func (c *cli) newHelpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND]",
		Short: "Help about any command",
		Long:  "Help prints the help of any command: reconcile help apply, reconcile help state rm.",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			parent, _, err := cmd.Root().Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, sub := range parent.Commands() {
				if sub.IsAvailableCommand() && strings.HasPrefix(sub.Name(), toComplete) {
					out = append(out, cobra.CompletionWithDesc(sub.Name(), sub.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			target, rest, err := root.Find(args)
			if err != nil {
				return &exitError{code: 1, msg: fmt.Sprintf("unknown help topic %q%s\n\nRun 'reconcile help' for the commands.", strings.Join(args, " "), suggestCommands(root, args[0]))}
			}
			if len(rest) > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("unknown help topic %q: %q has no command %q%s", strings.Join(args, " "), target.CommandPath(), rest[0], suggestCommands(target, rest[0]))}
			}
			target.InitDefaultHelpFlag()
			target.InitDefaultVersionFlag()
			return target.Help()
		},
	}
}

// Patterns of pflag's errors, which flagError rewords.
var (
	unknownFlagRe     = regexp.MustCompile(`^unknown flag: -?-([^\s=]+)`)
	unknownShortRe    = regexp.MustCompile(`^unknown shorthand flag: '(.)' in -(\S+)`)
	invalidArgumentRe = regexp.MustCompile(`^invalid argument "(.*)" for "(?:-\w, )?--([^"]+)" flag: `)
	needsArgumentRe   = regexp.MustCompile(`^flag needs an argument: (?:'(.)' in )?-?-(\S+)`)
)

// flagError words pflag's errors the way the flags are documented (one
// dash), suggests the flags a typo may mean, and says what value a flag
// wants.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	usage := fmt.Sprintf("\n\nRun '%s -help' for usage.", cmd.CommandPath())
	if m := unknownFlagRe.FindStringSubmatch(msg); m != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("unknown flag -%s for %q%s%s", m[1], cmd.CommandPath(), suggestFlags(cmd, m[1]), usage)}
	}
	if m := unknownShortRe.FindStringSubmatch(msg); m != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("unknown flag -%s for %q%s%s", m[2], cmd.CommandPath(), suggestFlags(cmd, m[2]), usage)}
	}
	if m := invalidArgumentRe.FindStringSubmatch(msg); m != nil {
		want := "a valid value"
		if f := lookupFlag(cmd, m[2]); f != nil {
			want = wantValue(f)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("-%s %q: want %s%s", m[2], m[1], want, usage)}
	}
	if m := needsArgumentRe.FindStringSubmatch(msg); m != nil {
		name := m[2]
		if m[1] != "" {
			if f := cmd.Flags().ShorthandLookup(m[1]); f != nil {
				name = f.Name
			}
		}
		want := "a value"
		if f := lookupFlag(cmd, name); f != nil {
			want = wantValue(f)
		}
		return &exitError{code: 1, msg: fmt.Sprintf("-%s needs a value: %s%s", name, want, usage)}
	}
	return &exitError{code: 1, msg: msg + usage}
}

// lookupFlag finds a flag of cmd, its own or inherited.
func lookupFlag(cmd *cobra.Command, name string) *pflag.Flag {
	if f := cmd.Flags().Lookup(name); f != nil {
		return f
	}
	return cmd.InheritedFlags().Lookup(name)
}

// wantValue says what value f takes: "a whole number", "a duration such
// as 30s or 5m", or its placeholder ("FILE").
func wantValue(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "int", "int32", "int64", "uint", "uint32", "uint64":
		return "a whole number"
	case "float32", "float64":
		return "a number"
	case "bool":
		return "true or false"
	case "duration":
		return "a duration such as 30s or 5m"
	}
	if name, _ := pflag.UnquoteUsage(f); name != "" && name != "string" && name != "stringArray" {
		return name
	}
	return "a value"
}

// suggestFlags renders the flags of cmd close to typed (a name without
// dashes) as "Did you mean this?" lines, in the one-dash style.
func suggestFlags(cmd *cobra.Command, typed string) string {
	type cand struct {
		name string
		d    int
	}
	var cands []cand
	seen := map[string]bool{}
	visit := func(f *pflag.Flag) {
		if f.Hidden || seen[f.Name] {
			return
		}
		seen[f.Name] = true
		d := levenshtein(typed, f.Name)
		if d <= 2 || len(typed) >= 3 && (strings.HasPrefix(f.Name, typed) || strings.HasPrefix(typed, f.Name)) {
			cands = append(cands, cand{f.Name, d})
		}
	}
	cmd.Flags().VisitAll(visit)
	cmd.InheritedFlags().VisitAll(visit)
	if len(cands) == 0 {
		return ""
	}
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].d != cands[j].d {
			return cands[i].d < cands[j].d
		}
		return cands[i].name < cands[j].name
	})
	var b bytes.Buffer
	b.WriteString("\n\nDid you mean this?")
	for _, c := range cands[:min(len(cands), 3)] {
		b.WriteString("\n\t-" + c.name)
	}
	return b.String()
}

// levenshtein is the edit distance between a and b.
func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
