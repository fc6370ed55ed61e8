package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
)

// buildVersion is set at link time: -ldflags "-X main.buildVersion=v1.2.3".
var buildVersion = ""

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

var versionCommand = &cli.Command{
	Name:      "version",
	Usage:     "print the version of ipcplay and the Go toolchain that built it",
	UsageText: "ipcplay version [--json]\n\nExample:\n   ipcplay version --json",
	Action: func(c *cli.Context) error {
		if globalBool(c, "json") {
			return writeJSON(c.App.Writer, struct {
				docHead
				Version string `json:"version"`
				Go      string `json:"go"`
				OS      string `json:"os"`
				Arch    string `json:"arch"`
			}{head("version", ipc.EngineLocal, nil), version(), runtime.Version(), runtime.GOOS, runtime.GOARCH})
		}
		fmt.Fprintf(c.App.Writer, "ipcplay %s (%s %s/%s)\n", version(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	},
}
