package main

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestInterspersed(t *testing.T) {
	app := &cli.App{
		Flags: []cli.Flag{&cli.StringFlag{Name: "socket"}, &cli.BoolFlag{Name: "json"}},
		Commands: []*cli.Command{
			{Name: "show", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}, &cli.StringFlag{Name: "log-level"}}},
			{Name: "raw", SkipFlagParsing: true},
			{Name: "race", Flags: []cli.Flag{&cli.GenericFlag{Name: "explain", Value: &explainFlag{}}, &cli.IntFlag{Name: "trials"}}},
			{Name: "demo", Flags: []cli.Flag{&cli.BoolFlag{Name: "json"}}, Subcommands: []*cli.Command{
				{Name: "crash", Flags: []cli.Flag{&cli.DurationFlag{Name: "timeout"}, &cli.BoolFlag{Name: "json"}}},
			}},
		},
	}
	for _, tc := range []struct{ in, want string }{
		{"ipcplay show r-1 --json", "ipcplay show --json r-1"},
		{"ipcplay --socket /s show r-1 --log-level debug", "ipcplay --socket /s show --log-level debug r-1"},
		{"ipcplay show r-1 -- --json", "ipcplay show r-1 -- --json"},
		{"ipcplay raw a --json", "ipcplay raw a --json"},
		{"ipcplay demo crash --timeout 1s --json", "ipcplay demo crash --timeout 1s --json"},
		{"ipcplay demo crash x --timeout=1s", "ipcplay demo crash --timeout=1s x"},
		{"ipcplay nope a --json", "ipcplay nope a --json"},
		// --explain is boolean-like (IsBoolFlag): it does not take the next flag as its value.
		{"ipcplay race x --explain --trials 1", "ipcplay race --explain --trials 1 x"},
		{"ipcplay race x --explain=3 --trials 1", "ipcplay race --explain=3 --trials 1 x"},
		{"ipcplay", "ipcplay"},
	} {
		got := strings.Join(interspersed(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
}
