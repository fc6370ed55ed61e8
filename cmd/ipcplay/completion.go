package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

// The scripts ask the binary itself for candidates through urfave/cli's
// hidden --generate-bash-completion flag (EnableBashCompletion), so they
// stay right as commands and flags change.
const bashCompletion = `# bash completion for ipcplay; load with: source <(ipcplay completion bash)
_ipcplay_complete() {
  local cur opts
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == "-"* ]]; then
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "${cur}" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _ipcplay_complete ipcplay
`

const zshCompletion = `#compdef ipcplay
# zsh completion for ipcplay; load with: source <(ipcplay completion zsh)
_ipcplay() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == "-"* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [ "$funcstack[1]" = "_ipcplay" ]; then
  _ipcplay "$@"
else
  compdef _ipcplay ipcplay
fi
`

var completionCommand = &cli.Command{
	Name:  "completion",
	Usage: "print a shell completion script (bash or zsh)",
	UsageText: `ipcplay completion bash|zsh

Example:
   source <(ipcplay completion bash)     # in ~/.bashrc
   source <(ipcplay completion zsh)      # in ~/.zshrc`,
	Action: func(c *cli.Context) error {
		if err := usageArgs(c, 1, 1, "one shell: bash or zsh"); err != nil {
			return err
		}
		switch sh := c.Args().First(); sh {
		case "bash":
			fmt.Fprint(c.App.Writer, bashCompletion)
		case "zsh":
			fmt.Fprint(c.App.Writer, zshCompletion)
		default:
			return ipc.Usagef("completion: unknown shell %q: must be bash or zsh", sh)
		}
		return nil
	},
}
