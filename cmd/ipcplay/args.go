package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed reorders a command line so that flags typed after positional
// arguments still count (`ipcplay show r-1 --json`, `ipcplay demo crash
// --json`): urfave/cli v2 stops reading flags at the first positional
// argument. Flags of each command level move before its positionals; a flag
// that takes a value keeps it; "--" ends flag reading as usual. Commands with
// SkipFlagParsing parse their own arguments and are left alone.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	flags := app.Flags
	cmds := app.Commands
	for {
		// Flags of this level up to the (sub)command name.
		var name string
		i := 0
		for i < len(rest) {
			a := rest[i]
			if a == "--" || !isFlag(a) {
				break
			}
			out = append(out, a)
			if takesValue(flags, a) && i+1 < len(rest) {
				out = append(out, rest[i+1])
				i++
			}
			i++
		}
		rest = rest[i:]
		if len(rest) == 0 || rest[0] == "--" {
			return append(out, rest...)
		}
		name = rest[0]
		cmd := findCommand(cmds, name)
		out = append(out, name)
		rest = rest[1:]
		if cmd == nil {
			return append(out, rest...)
		}
		if cmd.SkipFlagParsing {
			return append(out, rest...)
		}
		if len(cmd.Subcommands) > 0 && len(rest) > 0 && findCommand(cmd.Subcommands, firstPositional(cmd.Flags, rest)) != nil {
			flags, cmds = cmd.Flags, cmd.Subcommands
			continue
		}
		// A leaf: flags first, then positionals, in their own order.
		var fl, pos []string
		for j := 0; j < len(rest); j++ {
			a := rest[j]
			if a == "--" {
				pos = append(pos, rest[j:]...)
				break
			}
			if !isFlag(a) {
				pos = append(pos, a)
				continue
			}
			fl = append(fl, a)
			if takesValue(cmd.Flags, a) && j+1 < len(rest) {
				fl = append(fl, rest[j+1])
				j++
			}
		}
		out = append(out, fl...)
		return append(out, pos...)
	}
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether the flag written as a ("--name" or "-n",
// without "=value") needs the next argument as its value.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	for _, f := range flags {
		for _, n := range f.Names() {
			if n != name {
				continue
			}
			if _, ok := f.(*cli.BoolFlag); ok {
				return false
			}
			// A generic flag whose value says it is boolean-like
			// (--explain, --explain=K) takes no separate argument.
			if g, ok := f.(*cli.GenericFlag); ok {
				if b, ok := g.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
					return false
				}
			}
			return true
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// firstPositional returns the first argument that is not a flag or a
// flag's value.
func firstPositional(flags []cli.Flag, args []string) string {
	for i := 0; i < len(args); i++ {
		if !isFlag(args[i]) {
			return args[i]
		}
		if takesValue(flags, args[i]) {
			i++
		}
	}
	return ""
}
