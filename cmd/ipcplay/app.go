package main

import (
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

// Global flags. They are declared on the app and again on every command, so
// that people can type them after the command name (`ipcplay race --json`).
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "socket", Usage: "control socket `PATH` of the daemon", EnvVars: []string{"IPCPLAY_SOCKET"}},
		&cli.BoolFlag{Name: "local", Usage: "run the engine in this process even if a daemon answers"},
		&cli.BoolFlag{Name: "require-daemon", Usage: "fail unless a daemon answers on the socket"},
		&cli.BoolFlag{Name: "json", Usage: "print exactly one JSON document on stdout"},
		&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "trace|debug|info|warn|error|off", EnvVars: []string{"IPCPLAY_LOG_LEVEL"}},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text|json", EnvVars: []string{"IPCPLAY_LOG_FORMAT"}},
	}
}

// commands lists every command; each lives in its own file.
func commands() []*cli.Command {
	return []*cli.Command{
		tourCommand,
		versionCommand,
		doctorCommand,
		completionCommand,
		daemonCommand,
		statusCommand,
		runsCommand,
		showCommand,
		cancelCommand,
		objectsCommand,
		cleanCommand,
		inspectCommand,
		whoCommand,
		watchCommand,
		raceCommand,
		benchCommand,
		demoCommand,
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                 "ipcplay",
		Usage:                "a Linux IPC playground: races, transports, crashes and the objects they leave",
		Version:              version(),
		HideVersion:          true,
		Flags:                globalFlags(),
		Commands:             commands(),
		EnableBashCompletion: true,
		Writer:               os.Stdout,
		ErrWriter:            os.Stderr,
		Before:               func(c *cli.Context) error { return setupLogger(c) },
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return ipc.Usagef("%v (see 'ipcplay --help')", err)
		},
		CommandNotFound: func(c *cli.Context, name string) {
			// Reported by the root Action below, which sees the same name.
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return ipc.Usagef("unknown command %q (see 'ipcplay --help' for the list)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main decides exit codes
	}
	for _, cmd := range app.Commands {
		addGlobals(cmd)
	}
	return app
}

// addGlobals gives cmd (and its subcommands) the global flags and a usage
// error handler that exits 2.
func addGlobals(cmd *cli.Command) {
	have := map[string]bool{}
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			have[n] = true
		}
	}
	for _, f := range globalFlags() {
		if !have[f.Names()[0]] {
			cmd.Flags = append(cmd.Flags, f)
		}
	}
	cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
		return ipc.Usagef("%s: %v (see 'ipcplay %s --help')", cmd.Name, err, cmd.Name)
	}
	if cmd.Before == nil {
		cmd.Before = setupLogger
	}
	for _, sub := range cmd.Subcommands {
		addGlobals(sub)
	}
}

// globalString returns a global flag's value from the innermost context
// where the user set it (after or before the command name), else its default.
func globalString(c *cli.Context, name string) string {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet(name) {
			return ctx.String(name)
		}
	}
	return c.String(name)
}

// globalBool is globalString for boolean flags.
func globalBool(c *cli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet(name) {
			return ctx.Bool(name)
		}
	}
	return false
}

var logger = hclog.NewNullLogger()

// setupLogger builds the one root logger from --log-level and --log-format.
func setupLogger(c *cli.Context) error {
	if capturing(c.Context) != nil {
		return nil // the page's form, parsed inside the daemon: keep its logger
	}
	levelName := strings.ToLower(globalString(c, "log-level"))
	level := hclog.LevelFromString(levelName)
	if level == hclog.NoLevel {
		return ipc.Usagef("--log-level %q: must be one of trace, debug, info, warn, error, off", levelName)
	}
	format := globalString(c, "log-format")
	if format != "text" && format != "json" {
		return ipc.Usagef("--log-format %q: must be text or json", format)
	}
	logger = newLogger(os.Stderr, level, format == "json")
	return nil
}

func newLogger(w io.Writer, level hclog.Level, json bool) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "ipcplay",
		Level:      level,
		Output:     w,
		JSONFormat: json,
	})
}

// usageArgs fails with exit code 2 unless c has between min and max
// positional arguments.
func usageArgs(c *cli.Context, min, max int, what string) error {
	n := c.Args().Len()
	if n < min || n > max {
		return ipc.Usagef("%s: expected %s (got %d argument(s); see 'ipcplay %s --help')", c.Command.Name, what, n, c.Command.Name)
	}
	return nil
}
