package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/demos/lab"
	"github.com/ipcplay/ipcplay/ipc"
)

// demoCommand is `ipcplay demo`: the list of labs, and one subcommand per
// lab (`ipcplay demo crash`), whose flags come from the lab's description.
var demoCommand = &cli.Command{
	Name:  "demo",
	Usage: demoSummary(),
	// urfave/cli indents every line after the first by 3 spaces: the
	// second line starts at the margin to line up with the first.
	UsageText: "ipcplay demo                 list the labs\nipcplay demo NAME [flags]    run one (--json for a JSON document; ipcplay demo NAME --help for its flags)\n\nExamples:\n   ipcplay demo crash           # which locks survive a kill -9 of their holder\n   ipcplay demo deadlock --json",
	Description: "Each lab makes one idea of a processes-and-IPC course happen on real processes\n" +
		"and prints the measured outcome beside a short explanation. It exits 0 when it\n" +
		"behaved as the explanation says and 1 when it did not.",
	Subcommands: demoSubcommands(),
	// `help` is not a lab: keep it out of the list of labs.
	HideHelpCommand: true,
	Action:          demoList,
}

// demoSummary is the demo command's one line: the registered labs, so
// that the list cannot miss one (it once omitted gil and namespaces).
func demoSummary() string {
	return "the labs, one idea of a systems course each: " + strings.Join(lab.Names(), ", ")
}

func demoSubcommands() []*cli.Command {
	var out []*cli.Command
	for _, l := range lab.Labs() {
		out = append(out, &cli.Command{
			Name:      l.Name,
			Usage:     l.Summary,
			UsageText: "ipcplay demo " + l.Name + " [flags] [--html FILE] [--json]\n\nExample:\n   " + l.Example,
			Flags:     append(labFlags(l), htmlFlag),
			Action:    labAction(l),
		})
	}
	return out
}

// labFlags turns a lab's parameters into command-line flags.
func labFlags(l lab.Info) []cli.Flag {
	var out []cli.Flag
	for _, f := range l.Flags {
		switch d := f.Default.(type) {
		case int:
			out = append(out, &cli.IntFlag{Name: f.Name, Value: d, Usage: f.Usage})
		case time.Duration:
			out = append(out, &cli.DurationFlag{Name: f.Name, Value: d, Usage: f.Usage})
		case string:
			out = append(out, &cli.StringFlag{Name: f.Name, Value: d, Usage: f.Usage})
		case bool:
			out = append(out, &cli.BoolFlag{Name: f.Name, Value: d, Usage: f.Usage})
		default:
			panic(fmt.Sprintf("demo %s: flag --%s has an unsupported type %T", l.Name, f.Name, f.Default))
		}
	}
	return out
}

// labParams collects the flags the user set; the lab fills in the others.
func labParams(c *cli.Context, l lab.Info) map[string]any {
	params := map[string]any{}
	for _, f := range l.Flags {
		if !c.IsSet(f.Name) {
			continue
		}
		switch f.Default.(type) {
		case int:
			params[f.Key()] = c.Int(f.Name)
		case time.Duration:
			params[f.Key()] = c.Duration(f.Name).Nanoseconds()
		case string:
			params[f.Key()] = c.String(f.Name)
		case bool:
			params[f.Key()] = c.Bool(f.Name)
		}
	}
	return params
}

func labAction(l lab.Info) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			return ipc.Usagef("demo %s: unexpected argument %q (see 'ipcplay demo %s --help')", l.Name, c.Args().First(), l.Name)
		}
		params := labParams(c, l)
		if err := precheck(c, params, l.Experiment.Validate); err != nil {
			return err
		}
		htmlFile, err := htmlPath(c)
		if err != nil {
			return err
		}
		res, runErr := runExperimentResult(c, l.Experiment.Name, params, func(w io.Writer, res *ipc.RunResult) error {
			return lab.Render(w, res.Result)
		})
		return joinErr(runErr, writeHTML(c, htmlFile, "ipcplay demo "+l.Name, htmlRun{res: res}))
	}
}

// demoList prints the labs, or refuses an unknown lab's name.
func demoList(c *cli.Context) error {
	if c.Args().Present() {
		return ipc.Usagef("demo: unknown lab %q: the labs are %s", c.Args().First(), strings.Join(lab.Names(), ", "))
	}
	labs := lab.Labs()
	if globalBool(c, "json") {
		type entry struct {
			Name       string `json:"name"`
			Summary    string `json:"summary"`
			Experiment string `json:"experiment"`
			Example    string `json:"example"`
		}
		var entries []entry
		for _, l := range labs {
			entries = append(entries, entry{l.Name, l.Summary, l.Experiment.Name, l.Example})
		}
		return writeJSON(c.App.Writer, struct {
			docHead
			Labs []entry `json:"labs"`
		}{head("demo-list", ipc.EngineLocal, nil), entries})
	}
	w := c.App.Writer
	fmt.Fprintln(w, "Labs (run one with: ipcplay demo NAME [flags] [--json]; flags: ipcplay demo NAME --help):")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, l := range labs {
		fmt.Fprintf(tw, "  %s\t%s\n", l.Name, l.Summary)
	}
	return tw.Flush()
}
