package main

import (
	"bytes"
	"context"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// bashShim goes before cobra's bash completion script. That script calls
// two functions of the bash-completion package (_get_comp_words_by_ref and
// _filedir); without the package, these minimal versions stand in, so that
// completion works either way.
const bashShim = `# reconcile's completion works with or without the bash-completion package:
# without it, the minimal versions below stand in for the two functions of
# that package the script uses.
if ! declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
_get_comp_words_by_ref() {
    # The words are the line up to the cursor split on blanks only, so that
    # = and : never split one (what -n =: asks for).
    while [[ $# -gt 0 && $1 == -* ]]; do
        case $1 in
        -n | -i | -c) shift 2 ;;
        *) shift ;;
        esac
    done
    local __line=${COMP_LINE:0:COMP_POINT}
    local -a __words=()
    read -r -a __words <<<"$__line"
    if [[ -z $__line || $__line == *[[:blank:]] ]]; then
        __words+=("")
    fi
    local __cword=$((${#__words[@]} - 1))
    local __var
    for __var in "$@"; do
        case $__var in
        cur) cur=${__words[__cword]} ;;
        prev) prev=""; ((__cword > 0)) && prev=${__words[__cword - 1]} ;;
        words) words=("${__words[@]}") ;;
        cword) cword=$__cword ;;
        esac
    done
    return 0
}
fi
if ! declare -F _filedir >/dev/null 2>&1; then
_filedir() {
    local IFS=$'\n'
    if [[ ${1-} == -d ]]; then
        COMPREPLY+=($(compgen -d -- "${cur-}"))
    else
        COMPREPLY+=($(compgen -f -- "${cur-}"))
    fi
}
fi

`

// customizeCompletion makes the completion command's bash script work
// without bash-completion, and completes the state's addresses for -target
// and the state commands.
func (c *cli) customizeCompletion(root *cobra.Command) {
	for _, cmd := range root.Commands() {
		switch cmd.Name() {
		case "completion":
			cmd.Long = `Completion prints the script that makes your shell complete reconcile's commands,
flags (in the one-dash style too: -sta<TAB> gives -state) and, for -target and the
state commands, the addresses in the state. In bash it works with or without the
bash-completion package:

  source <(reconcile completion bash)              # this shell
  reconcile completion bash > ~/.local/share/bash-completion/completions/reconcile`
			for _, sh := range cmd.Commands() {
				if sh.Name() == "bash" {
					sh.Long = strings.ReplaceAll(sh.Long, "This script depends on the 'bash-completion' package.\nIf it is not installed already, you can install it via your OS's package manager.",
						"This script works with or without the 'bash-completion' package.")
					sh.RunE = func(cmd *cobra.Command, _ []string) error {
						noDesc, _ := cmd.Flags().GetBool("no-descriptions")
						var b bytes.Buffer
						if err := cmd.Root().GenBashCompletionV2(&b, !noDesc); err != nil {
							return err
						}
						out := cmd.OutOrStdout()
						if _, err := io.WriteString(out, bashShim); err != nil {
							return err
						}
						_, err := out.Write(b.Bytes())
						return err
					}
				}
			}
		case "plan", "apply", "import":
			sandbox := cmd.Flags().Lookup("sandbox")
			cmd.RegisterFlagCompletionFunc("target", func(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
				return c.stateAddresses(cmd.Context(), sandbox != nil && sandbox.Value.String() == "true", toComplete, nil, true), cobra.ShellCompDirectiveNoFileComp
			})
		case "state":
			for _, sub := range cmd.Commands() {
				switch sub.Name() {
				case "list", "show", "rm":
					sandbox := sub.Flags().Lookup("sandbox")
					multi := sub.Name() == "rm"
					sub.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
						if len(args) > 0 && !multi {
							return nil, cobra.ShellCompDirectiveNoFileComp
						}
						return c.stateAddresses(cmd.Context(), sandbox != nil && sandbox.Value.String() == "true", toComplete, args, sub.Name() != "show"), cobra.ShellCompDirectiveNoFileComp
					}
				}
			}
		}
	}
}

// stateAddresses completes toComplete with the addresses of the state the
// flags name (the sandbox's with sandbox), except those in skip; with
// patterns, "PROVIDER/*" for each provider the state holds too.
func (c *cli) stateAddresses(ctx context.Context, sandbox bool, toComplete string, skip []string, patterns bool) []cobra.Completion {
	if ctx == nil {
		ctx = context.Background()
	}
	b, err := c.resolve(sandbox).backend(c.reg)
	if err != nil {
		return nil
	}
	s, err := b.Load(ctx)
	if err != nil {
		return nil
	}
	var out []cobra.Completion
	provs := map[string]bool{}
	for _, addr := range sortedAddresses(s, "") {
		prov, _, _ := strings.Cut(addr, "/")
		if patterns && !provs[prov] {
			provs[prov] = true
			if p := prov + "/*"; strings.HasPrefix(p, toComplete) && !slices.Contains(skip, p) {
				out = append(out, p)
			}
		}
		if strings.HasPrefix(addr, toComplete) && !slices.Contains(skip, addr) {
			out = append(out, addr)
		}
	}
	return out
}

// isCompletionRequest reports whether args ask cobra for completions (what
// the shell scripts run: reconcile __complete ARGS... TOCOMPLETE).
func isCompletionRequest(args []string) bool {
	return len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd)
}

// completionArgs prepares a completion request: a word being completed in
// the one-dash style (-sta) is asked for in cobra's (--sta). oneDash says
// so, for fixCompletions.
func completionArgs(args []string) (out []string, oneDash bool) {
	out = slices.Clone(args)
	last := out[len(out)-1]
	if strings.HasPrefix(last, "-") && !strings.HasPrefix(last, "--") {
		oneDash = true
		if len(last) > 1 && !strings.Contains(last, "=") {
			out[len(out)-1] = "-" + last
		}
	}
	return out, oneDash
}

// fixCompletions rewrites cobra's completion lines ("COMPLETION\tDESC",
// then ":DIRECTIVE"): long flags in the one-dash style when the word was
// typed so, and descriptions without the backticks that name a flag's
// value in its help (`FILE`).
func fixCompletions(out []byte, oneDash bool) []byte {
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if l == "" || strings.HasPrefix(l, ":") {
			continue
		}
		comp, desc, hasDesc := strings.Cut(l, "\t")
		if oneDash && strings.HasPrefix(comp, "--") {
			comp = comp[1:]
		}
		if hasDesc {
			l = comp + "\t" + strings.ReplaceAll(desc, "`", "")
		} else {
			l = comp
		}
		lines[i] = l
	}
	return []byte(strings.Join(lines, "\n"))
}
