package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

const objectTypesHelp = `TYPE and what follows it:
   sysv-shm ID, sysv-sem ID, sysv-msg ID   the id ipcs (or 'ipcplay objects --all') prints
   posix-shm NAME, posix-sem NAME, posix-mq NAME
                                           the name as a C program passes it to shm_open,
                                           sem_open or mq_open, with or without the leading /
   unix-socket PATH                        a socket file, or @NAME for an abstract socket
   Names are given as ipcplay prints them: a backslash as \\, any byte that is
   not printable UTF-8 as \xHH (quote them in the shell: 'x\xfe').`

var inspectCommand = &cli.Command{
	Name:      "inspect",
	Usage:     "show the state of any IPC object on the machine: values, waiters, owner, who maps it",
	UsageText: "ipcplay inspect TYPE ID|NAME|PATH [--dump [OFFSET:LEN]] [--json]\n\nExamples:\n   ipcplay inspect sysv-sem 32769          # values, waiters, last pid of every semaphore\n   ipcplay inspect posix-sem /mysem        # value and waiters of a sem_open semaphore\n   ipcplay inspect posix-shm /myshm --dump 0:64",
	Description: objectTypesHelp + `

Read-only: System V objects are read with IPC_STAT and semctl GET*, POSIX
objects through read-only descriptors and mappings. Works on objects made by
any program (C, Python, ipcmk), not only ipcplay's.

--dump prints the contents of a sysv-shm or posix-shm in hex through a
read-only mapping: the first 512 bytes, or OFFSET:LEN, OFFSET: (to the end),
:LEN (numbers decimal or 0x hex; at most 16 MiB). Attaching a System V
segment to read it sets the segment's last attach time and last pid.

Examples:
   ipcplay inspect sysv-sem 32768
   ipcplay inspect posix-sem /mysem --json
   ipcplay inspect posix-shm myshm --dump 0:64
   ipcplay inspect unix-socket /run/app.sock`,
	SkipFlagParsing: true, // parsed by objCommandArgs: flags may follow the arguments
	Flags:           inspectFlags(),
	Action:          runInspect,
}

func inspectFlags() []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: "dump", Value: &objDumpValue{}, Usage: "hex dump of a shared memory object's contents: `[OFFSET:LEN]` (default the first 512 bytes)"},
	}
}

// objDumpValue is --dump: a flag that may stand alone or take a range
// (--dump, --dump=0:64; "--dump 0:64" leaves the range as an argument).
type objDumpValue struct {
	on   bool
	spec string
}

func (d *objDumpValue) String() string   { return d.spec }
func (d *objDumpValue) IsBoolFlag() bool { return true }
func (d *objDumpValue) Set(s string) error {
	switch s {
	case "true":
		d.on = true
	case "false":
		d.on, d.spec = false, ""
	default:
		d.on, d.spec = true, s
	}
	return nil
}

// errObjHelpShown ends an action after it printed its help.
var errObjHelpShown = errors.New("help shown")

// objCommandArgs parses the arguments of a command that has SkipFlagParsing,
// so that flags may come before, between or after the positional
// arguments, as people type them (`ipcplay inspect sysv-sem 5 --json`).
// flags are fresh instances of the command's own flags; the global flags
// are added. The returned context answers for all of them, then for the
// contexts above it.
func objCommandArgs(c *cli.Context, flags []cli.Flag) (*cli.Context, []string, error) {
	name := c.Command.Name
	path := commandPath(c)
	all := append(globalFlags(), flags...)
	set := flag.NewFlagSet(name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	help := set.Bool("help", false, "")
	set.BoolVar(help, "h", false, "")
	for _, f := range all {
		if err := f.Apply(set); err != nil {
			return nil, nil, err
		}
	}
	var pos []string
	args := c.Args().Slice()
	for len(args) > 0 {
		if err := set.Parse(args); err != nil {
			return nil, nil, flagError(path, all, err)
		}
		rest := set.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if *help {
		parent := c
		if l := c.Lineage(); len(l) > 1 {
			parent = l[1]
		}
		if err := cli.ShowCommandHelp(parent, name); err != nil {
			return nil, nil, err
		}
		return nil, nil, errObjHelpShown
	}
	ctx := cli.NewContext(c.App, set, c)
	ctx.Command = c.Command
	if err := setupLogger(ctx); err != nil {
		return nil, nil, err
	}
	return ctx, pos, nil
}

// objErr turns a sysobj error into the CLI's: bad input and missing
// objects are usage errors (exit 2), the rest (EACCES...) run failures.
func objErr(cmd string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", cmd, err)
	if errors.Is(err, sysobj.ErrInvalid) || errors.Is(err, sysobj.ErrNotExist) {
		return ipc.AsUsage(err)
	}
	return err
}

func runInspect(c *cli.Context) error {
	ctx, args, err := objCommandArgs(c, inspectFlags())
	if err != nil {
		if errors.Is(err, errObjHelpShown) {
			return nil
		}
		return err
	}
	dump := ctx.Generic("dump").(*objDumpValue)
	if len(args) == 3 && dump.on && dump.spec == "" {
		dump.spec, args = args[2], args[:2]
	}
	if len(args) != 2 {
		return ipc.Usagef("inspect: expected TYPE and ID|NAME|PATH, got %s: %q (types: %s; see 'ipcplay inspect --help')",
			plural.Count(len(args), "argument", "arguments"), args, strings.Join(sysobj.Types, ", "))
	}
	t, err := sysobj.ParseTarget(args[0], args[1])
	if err != nil {
		return objErr("inspect", err)
	}
	var off, n int64
	if dump.on {
		if t.Type != sysobj.TypeSysVShm && t.Type != sysobj.TypePOSIXShm {
			return ipc.Usagef("inspect: --dump works on sysv-shm and posix-shm, not %s", t.Type)
		}
		if off, n, err = sysobj.ParseRange(dump.spec); err != nil {
			return objErr("inspect: --dump", err)
		}
	}
	obj, err := inspectObject(t)
	if err != nil {
		return objErr("inspect", err)
	}
	if dump.on {
		var d *sysobj.Dump
		switch o := obj.(type) {
		case *sysobj.SysVShm:
			d, err = sysobj.DumpSysVShm(t.ID, off, n)
			o.Dump = d
		case *sysobj.POSIXShm:
			d, err = sysobj.DumpPOSIXShm(t.Name, off, n)
			o.Dump = d
		}
		if err != nil {
			return objErr("inspect: --dump", err)
		}
	}
	if globalBool(ctx, "json") {
		return writeJSON(c.App.Writer, struct {
			docHead
			Object any `json:"object"`
		}{head("inspect", ipc.EngineLocal, nil), obj})
	}
	return sysobj.Render(c.App.Writer, obj)
}

// inspectObject reads the object t names.
func inspectObject(t sysobj.Target) (any, error) {
	switch t.Type {
	case sysobj.TypeSysVSem:
		return sysobj.InspectSysVSem(t.ID)
	case sysobj.TypeSysVShm:
		return sysobj.InspectSysVShm(t.ID)
	case sysobj.TypeSysVMsg:
		return sysobj.InspectSysVMsg(t.ID)
	case sysobj.TypePOSIXSem:
		return sysobj.InspectPOSIXSem(t.Name)
	case sysobj.TypePOSIXShm:
		return sysobj.InspectPOSIXShm(t.Name)
	case sysobj.TypePOSIXMQ:
		return sysobj.InspectPOSIXMQ(t.Name)
	case sysobj.TypeUnixSocket:
		return sysobj.InspectUnixSocket(t.Name)
	}
	_, err := sysobj.ParseType(t.Type)
	return nil, err
}
