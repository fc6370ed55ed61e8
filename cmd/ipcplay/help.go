package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

// helpCmd is `ipcplay help [COMMAND [SUBCOMMAND]]`. It replaces urfave/cli's
// own, which says nothing and exits 0 for a command that does not exist.
var helpCmd = &cli.Command{
	Name:    "help",
	Aliases: []string{"h"},
	Usage:   "show the commands, or one command's help",
	// No `ipcplay help help` subcommand.
	HideHelpCommand: true,
	UsageText: `ipcplay help [COMMAND [NAME]]

Examples:
   ipcplay help race
   ipcplay help demo deadlock`,
	Action: func(c *cli.Context) error {
		args := c.Args().Slice()
		if len(args) == 0 {
			return cli.ShowAppHelp(c)
		}
		cmds, parent := c.App.Commands, ""
		var cmd *cli.Command
		for _, a := range args {
			if parent != "" && len(commandNames(cmds)) == 0 {
				// race, bench, ...: nothing below them to name.
				return ipc.Usagef("%s: %q: '%s' has no subcommands (see 'ipcplay help %s')", parent, a, "ipcplay "+parent, parent)
			}
			if cmd = findCommand(cmds, a); cmd == nil {
				return unknownCommand(parent, a, cmds)
			}
			parent = strings.TrimSpace(parent + " " + cmd.Name)
			cmds = cmd.Subcommands
		}
		templ := cli.CommandHelpTemplate
		if len(cmd.Subcommands) > 0 {
			templ = cli.SubcommandHelpTemplate
		}
		if cmd.HelpName == "" {
			cmd.HelpName = "ipcplay " + parent
		}
		cli.HelpPrinter(c.App.Writer, templ, cmd)
		return nil
	},
}
