package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

// flagError turns an error of package flag (urfave/cli parses with it) into
// a usage error in the project's form: the command's full path, the flag as
// written in the help (--name), the value, what is wrong with it and what
// the flag takes:
//
//	race: --iters "abc": not a whole number; --iters M: M increments per worker (at most 1000000000), default 100000
//
// Flags take one dash or two (`-iters 5` is `--iters 5`), as in package
// flag; messages always write two (one for a one-letter name). path is
// the command's path without "ipcplay" ("demo deadlock"); flags are the
// command's flags. The messages recognised are those of package flag's
// parseOne (Go 1.0 to 1.26); TestFlagErrorsOfPackageFlag pins them. Any
// other error keeps its text, in the same form.
func flagError(path string, flags []cli.Flag, err error) error {
	msg := err.Error()
	help := fmt.Sprintf("see '%s --help'", strings.TrimSpace("ipcplay "+path))
	pre := "" // flags before the command name: ipcplay: --bogus: ...
	if path != "" {
		pre = path + ": "
	}
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		why := "no such flag"
		if _, err := strconv.ParseFloat(rest, 64); err == nil {
			// A negative number typed apart from a flag whose value is
			// optional (--explain -1): it must be joined to it.
			for _, f := range flags {
				if j, ok := optionalValue(f); ok {
					return ipc.Usagef("%s%s: not a flag; a value of %s is written joined: %s", pre, "-"+rest, dashed(f.Names()[0]), j)
				}
			}
		}
		if s := suggest(rest, flagNames(flags)); s != "" {
			why += "; did you mean " + dashed(s) + "?"
		}
		return ipc.Usagef("%s%s: %s (%s for the flags)", pre, dashed(rest), why, help)
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return ipc.Usagef("%s%s: needs a value%s", pre, dashed(rest), takes(flags, rest))
	}
	if rest, ok := strings.CutPrefix(msg, "bad flag syntax: "); ok {
		return ipc.Usagef("%s%q: not a flag: write --name or --name=value (%s)", pre, rest, help)
	}
	// invalid value "V" for flag -NAME: ERR, and for boolean flags
	// invalid boolean value "V" for -NAME: ERR.
	for _, prefix := range []string{"invalid value ", "invalid boolean value "} {
		rest, ok := strings.CutPrefix(msg, prefix)
		if !ok {
			continue
		}
		quoted, err := strconv.QuotedPrefix(rest)
		if err != nil {
			break
		}
		value, _ := strconv.Unquote(quoted)
		rest = strings.TrimPrefix(strings.TrimPrefix(rest[len(quoted):], " for flag -"), " for -")
		name, why, ok := strings.Cut(rest, ": ")
		if !ok {
			break
		}
		f := findFlag(flags, name)
		what := fmt.Sprintf("%s %q", dashed(name), value)
		if strings.Contains(why, dashed(name)) {
			// The flag's own Set named it (--explain=-1: ...).
			what = dashed(name) + "=" + value
			why = strings.TrimPrefix(why, what+": ")
		} else {
			why = valueProblem(f, why)
		}
		return ipc.Usagef("%s%s: %s%s", pre, what, why, takes(flags, name))
	}
	if rest, ok := strings.CutPrefix(msg, "invalid boolean flag "); ok {
		name, why, _ := strings.Cut(rest, ": ")
		return ipc.Usagef("%s%s: %s%s", pre, dashed(name), why, takes(flags, name))
	}
	return ipc.Usagef("%s%s (%s)", pre, msg, help)
}

// valueProblem says in words why package flag refused a value of f: its
// "parse error" and "value out of range" name no type.
func valueProblem(f cli.Flag, why string) string {
	parse, rng := why == "parse error", why == "value out of range"
	if !parse && !rng {
		return why
	}
	switch f.(type) {
	case *cli.IntFlag, *cli.Int64Flag, *cli.UintFlag, *cli.Uint64Flag:
		if rng {
			return "too large"
		}
		return "not a whole number"
	case *cli.Float64Flag:
		return "not a number"
	case *cli.DurationFlag:
		return "not a duration: write a number with a unit (500ms, 2s, 1m30s)"
	case *cli.BoolFlag:
		return "must be true or false"
	}
	return why
}

// optionalValue returns how the value of f is written when f takes an
// optional one (--explain[=K]): the flag package reads "--explain 5" as
// the flag alone and an argument.
func optionalValue(f cli.Flag) (string, bool) {
	g, ok := f.(*cli.GenericFlag)
	if !ok {
		return "", false
	}
	j, ok := g.Value.(interface{ Joined() string })
	if !ok {
		return "", false
	}
	return j.Joined(), true
}

// takes describes what the flag name of flags takes, from its help: the
// allowed values are there ("; --iters M: M increments per worker (at
// most 1000000000), default 100000").
func takes(flags []cli.Flag, name string) string {
	f := findFlag(flags, name)
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return ""
	}
	placeholder, usage := unquoteUsage(df.GetUsage())
	s := "; " + dashed(f.Names()[0])
	if placeholder != "" && df.TakesValue() {
		s += " " + placeholder
	}
	s += ": " + usage
	if d := df.GetDefaultText(); d != "" && d != "false" && d != `""` {
		s += ", default " + strings.Trim(d, `"`)
	}
	return s
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func flagNames(flags []cli.Flag) []string {
	var out []string
	for _, f := range flags {
		out = append(out, f.Names()...)
	}
	return out
}

// dashed writes a flag's name as the help does: -h, --iters.
func dashed(name string) string {
	if len([]rune(name)) == 1 {
		return "-" + name
	}
	return "--" + name
}

// suggest returns the candidate closest to what the user typed, if it is
// close: a prefix of it either way ("iter" for "iters") or at most a third
// of its letters different (two for "procss"). "" when none is.
func suggest(typed string, candidates []string) string {
	best, bestD := "", 0
	for _, c := range candidates {
		if len(c) < 2 {
			continue
		}
		d := editDistance(typed, c)
		if strings.HasPrefix(c, typed) && len(typed) >= 3 || strings.HasPrefix(typed, c) && len(c) >= 3 {
			d = min(d, 1)
		}
		if d <= max(1, len(c)/3) && (best == "" || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b in bytes, with the
// swap of two neighbours counting as one edit ("itres" is one from
// "iters"): the optimal string alignment distance.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// commandNames lists the visible names of cmds.
func commandNames(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		if !c.Hidden && c.Name != "help" {
			out = append(out, c.Name)
		}
	}
	return out
}

// unknownCommand is the error for a command (or a lab, under demo) that
// does not exist: parent is "" for the top level, else the parent's path.
func unknownCommand(parent, name string, cmds []*cli.Command) error {
	what, list := "command", "the list"
	where := "ipcplay --help"
	if parent != "" {
		where = "ipcplay " + parent + " --help"
	}
	why := "no such " + what
	if s := suggest(name, commandNames(cmds)); s != "" {
		why += "; did you mean " + strings.TrimSpace(parent+" "+s) + "?"
	}
	prefix := ""
	if parent != "" {
		prefix = parent + ": "
	}
	return ipc.Usagef("%s%q: %s (see '%s' for %s)", prefix, name, why, where, list)
}

// errNoCommand is `ipcplay` alone: the usage went to stderr.
var errNoCommand = errors.New("no command given: the commands are listed above ('ipcplay tour' is a good start)")

// unquoteUsage splits a flag's usage as urfave/cli's help does: the first
// `quoted` word is the value's placeholder, and is shown unquoted.
func unquoteUsage(usage string) (placeholder, text string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	placeholder = usage[i+1 : i+1+j]
	return placeholder, usage[:i] + placeholder + usage[i+1+j+1:]
}
