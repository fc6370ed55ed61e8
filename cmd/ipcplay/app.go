package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
)

// Global flags. They are declared on the app and again on every command, so
// that people can type them after the command name (`ipcplay race --json`).
// Their environment variables (globalEnv) are read by globalString, not by
// urfave/cli: it would apply a variable to the command's copy of the flag,
// which then hid the same flag typed before the command.
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "socket", Usage: "control socket `PATH` of the daemon [$IPCPLAY_SOCKET]"},
		&cli.BoolFlag{Name: "local", Usage: "run the engine in this process even if a daemon answers"},
		&cli.BoolFlag{Name: "require-daemon", Usage: "fail unless a daemon answers on the socket"},
		&cli.BoolFlag{Name: "json", Usage: "print exactly one JSON document on stdout"},
		&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "trace|debug|info|warn|error|off [$IPCPLAY_LOG_LEVEL]"},
		&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text|json [$IPCPLAY_LOG_FORMAT]"},
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
		helpCmd,
	}
}

func newApp() *cli.App {
	app := &cli.App{
		Name:        "ipcplay",
		Usage:       "a Linux IPC playground: races, transports, crashes and the objects they leave",
		Version:     version(),
		HideVersion: true,
		// urfave/cli adds --help only when it adds its own help command;
		// ours (help.go) replaces that command.
		Flags:                append(globalFlags(), cli.HelpFlag),
		Commands:             commands(),
		EnableBashCompletion: true,
		Writer:               &outWriter{File: os.Stdout},
		ErrWriter:            os.Stderr,
		Metadata:             map[string]any{stateKey: &appState{}},
		Before: func(c *cli.Context) error {
			if c.Args().Present() && findCommand(c.App.Commands, c.Args().First()) != nil {
				// The command's Before sets the logger up: its own
				// --log-level beats the environment's, which this level
				// would read (globalString).
				return nil
			}
			return setupLogger(c)
		},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return flagError("", c.App.Flags, err)
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return unknownCommand("", c.Args().First(), c.App.Commands)
			}
			// `ipcplay` alone is bad usage (exit 2): the usage goes to
			// stderr, stdout stays empty for scripts, as `go` does.
			cli.HelpPrinter(c.App.ErrWriter, cli.AppHelpTemplate, c.App)
			return ipc.AsUsage(errNoCommand)
		},
		ExitErrHandler: func(*cli.Context, error) {}, // main decides exit codes
	}
	for _, cmd := range app.Commands {
		addGlobals(cmd, "")
	}
	return app
}

// stateKey is the app's Metadata entry of its appState.
const stateKey = "ipcplay.state"

// appState is what one run of the app learned that main's report needs:
// the command that ran and the engine that answered.
type appState struct {
	mu     sync.Mutex
	path   string // "race", "demo deadlock"; "" before a command is chosen
	engine string // ipc.EngineDaemon or ipc.EngineLocal once connected
}

func stateOf(app *cli.App) *appState {
	if st, ok := app.Metadata[stateKey].(*appState); ok {
		return st
	}
	return &appState{} // an app not built by newApp (tests)
}

func (st *appState) setPath(p string) {
	st.mu.Lock()
	st.path = p
	st.mu.Unlock()
}

func (st *appState) setEngine(e string) {
	st.mu.Lock()
	st.engine = e
	st.mu.Unlock()
}

func (st *appState) get() (path, engine string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.path, st.engine
}

// commandPath is the full path of the command c runs, without "ipcplay":
// "race", "demo deadlock". Hints name it: 'ipcplay demo deadlock --help'.
func commandPath(c *cli.Context) string {
	if p, _ := stateOf(c.App).get(); p != "" {
		return p
	}
	if c.Command != nil {
		return c.Command.Name
	}
	return ""
}

// addGlobals gives cmd (and its subcommands) the global flags, a usage
// error handler that names the command by its full path and exits 2, and
// a Before that records the path and sets up the logger. parent is the
// path of the command above ("" at the top). The commands are package
// variables shared by every app newApp builds (the page's form parses with
// its own app), so this only ever sets, never wraps.
func addGlobals(cmd *cli.Command, parent string) {
	path := strings.TrimSpace(parent + " " + cmd.Name)
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
		stateOf(c.App).setPath(path)
		return flagError(path, cmd.Flags, err)
	}
	cmd.Before = func(c *cli.Context) error {
		stateOf(c.App).setPath(path)
		return withPath(path, setupLogger(c))
	}
	namedErrors(cmd, path)
	for _, sub := range cmd.Subcommands {
		addGlobals(sub, path)
	}
}

var (
	namedMu sync.Mutex
	named   = map[*cli.Command]bool{}
)

// namedErrors makes cmd's action put the command's path before its
// errors' messages ("--procs 0: must be at least 1" becomes "race:
// --procs 0: ..."), unless the message starts with it already. Once per
// command: the commands are shared by every app newApp builds.
func namedErrors(cmd *cli.Command, path string) {
	namedMu.Lock()
	defer namedMu.Unlock()
	if named[cmd] || cmd.Action == nil {
		return
	}
	named[cmd] = true
	act := cmd.Action
	cmd.Action = func(c *cli.Context) error { return withPath(path, act(c)) }
}

// withPath returns err with path before its message (the error wrapped,
// so usage errors stay usage errors).
func withPath(path string, err error) error {
	var silent *silentError
	if err == nil || errors.As(err, &silent) {
		return err
	}
	if msg := err.Error(); strings.HasPrefix(msg, path+":") || strings.HasPrefix(msg, path+" ") {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// globalEnv maps the global flags that have an environment variable to it.
var globalEnv = map[string]string{
	"socket":     "IPCPLAY_SOCKET",
	"log-level":  "IPCPLAY_LOG_LEVEL",
	"log-format": "IPCPLAY_LOG_FORMAT",
}

// globalString returns a global flag's value from the innermost context
// where the user typed it (after or before the command name), else its
// environment variable (globalEnv), else its default: a flag on the
// command line wins over the environment wherever it is placed.
func globalString(c *cli.Context, name string) string {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet(name) {
			return ctx.String(name)
		}
	}
	if env := globalEnv[name]; env != "" {
		if v, ok := os.LookupEnv(env); ok && v != "" {
			return v
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
		path := commandPath(c)
		return ipc.Usagef("%s: expected %s, got %s (see 'ipcplay %s --help')", path, what, plural.Count(n, "argument", "arguments"), path)
	}
	return nil
}
