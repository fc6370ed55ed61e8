package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

const objectTypesHelp = `TYPE and what follows it:
   sysv-shm ID, sysv-sem ID, sysv-msg ID   the id ipcs (or 'ipcplay objects --all') prints
   posix-shm NAME, posix-sem NAME, posix-mq NAME
                                           the name as a C program passes it to shm_open,
                                           sem_open or mq_open, with or without the leading /
   unix-socket PATH                        a socket file, or @NAME for an abstract socket`

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
	set := flag.NewFlagSet(name, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	help := set.Bool("help", false, "")
	set.BoolVar(help, "h", false, "")
	for _, f := range append(globalFlags(), flags...) {
		if err := f.Apply(set); err != nil {
			return nil, nil, err
		}
	}
	var pos []string
	args := c.Args().Slice()
	for len(args) > 0 {
		if err := set.Parse(args); err != nil {
			return nil, nil, ipc.Usagef("%s: %v (see 'ipcplay %s --help')", name, err, name)
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
		return ipc.Usagef("inspect: expected TYPE and ID|NAME|PATH, got %d argument(s): %q (types: %s; see 'ipcplay inspect --help')",
			len(args), args, strings.Join(sysobj.Types, ", "))
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
		return writeDoc(c.App.Writer, "inspect", ipc.EngineLocal, nil, map[string]any{"object": obj})
	}
	return objRender(c.App.Writer, obj)
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

// objRender prints an inspected object for people.
func objRender(w io.Writer, obj any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var warnings []string
	switch o := obj.(type) {
	case *sysobj.SysVSem:
		fmt.Fprintf(w, "sysv-sem %d\n", o.ID)
		objSysVHeader(tw, o.SysVPerm)
		fmt.Fprintf(tw, "  semaphores\t%d\n", o.NSems)
		fmt.Fprintf(tw, "  last semop\t%s\n", objWhen(o.OTimeNs))
		fmt.Fprintf(tw, "  last change\t%s\n", objWhen(o.CTimeNs))
		tw.Flush()
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "  NUM\tVALUE\tNCNT\tZCNT\tLAST PID\tLAST PROCESS")
		for i := range o.NSems {
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%d\t%d\t%s\n", i, o.Values[i], o.NCnt[i], o.ZCnt[i], o.LastPID[i], objProc(o.LastPID[i], o.LastProc[i]))
		}
		tw.Flush()
		fmt.Fprintln(w, "  (NCNT: processes waiting for the value to increase; ZCNT: waiting for it to become zero)")
		objRenderWaiting(w, o.Waiting)
		warnings = o.Warnings
	case *sysobj.POSIXSem:
		fmt.Fprintf(w, "posix-sem %s (%s)\n", o.Name, o.Path)
		objFileHeader(tw, o.FilePerm)
		layout := "a glibc sem_t"
		if !o.Glibc {
			layout = "NOT a glibc sem_t, see the warning"
		}
		fmt.Fprintf(tw, "  size\t%d bytes (%s)\n", o.Size, layout)
		fmt.Fprintf(tw, "  value\t%s\n", objOptU32(o.Value))
		fmt.Fprintf(tw, "  waiters\t%s\t(glibc's count of threads blocked in sem_wait)\n", objOptU32(o.Waiters))
		tw.Flush()
		objRenderProcs(w, "mapped by", o.MappedBy)
		objRenderWaiting(w, o.Waiting)
		warnings = o.Warnings
	case *sysobj.SysVShm:
		fmt.Fprintf(w, "sysv-shm %d\n", o.ID)
		objSysVHeader(tw, o.SysVPerm)
		fmt.Fprintf(tw, "  size\t%s\n", objBytes(o.Size))
		fmt.Fprintf(tw, "  nattch\t%d\n", o.NAttch)
		fmt.Fprintf(tw, "  creator pid\t%s\n", objPID(o.CreatorPID))
		fmt.Fprintf(tw, "  last pid\t%s\t(last shmat or shmdt)\n", objPID(o.LastPID))
		fmt.Fprintf(tw, "  last attach\t%s\n", objWhen(o.ATimeNs))
		fmt.Fprintf(tw, "  last detach\t%s\n", objWhen(o.DTimeNs))
		fmt.Fprintf(tw, "  last change\t%s\n", objWhen(o.CTimeNs))
		if o.RSS >= 0 {
			fmt.Fprintf(tw, "  resident\t%s, swapped %s\n", objBytes(o.RSS), objBytes(o.Swap))
		}
		if o.Removed || o.Locked {
			var st []string
			if o.Removed {
				st = append(st, "marked for removal (IPC_RMID done; it goes at the last detach)")
			}
			if o.Locked {
				st = append(st, "locked in memory (SHM_LOCK)")
			}
			fmt.Fprintf(tw, "  status\t%s\n", strings.Join(st, ", "))
		}
		tw.Flush()
		objRenderProcs(w, "mapped by", o.MappedBy)
		objRenderWaiting(w, o.Waiting)
		objRenderDump(w, o.Dump)
		warnings = o.Warnings
	case *sysobj.POSIXShm:
		fmt.Fprintf(w, "posix-shm %s (%s)\n", o.Name, o.Path)
		objFileHeader(tw, o.FilePerm)
		fmt.Fprintf(tw, "  size\t%s\n", objBytes(o.Size))
		fmt.Fprintf(tw, "  nattch\t%d\t(processes mapping it; the kernel keeps no count, creator or last pid for POSIX shm)\n", o.NAttch)
		fmt.Fprintf(tw, "  modified\t%s\n", objWhen(o.MTimeNs))
		tw.Flush()
		objRenderProcs(w, "mapped by", o.MappedBy)
		objRenderProcs(w, "held open by", o.OpenBy)
		objRenderWaiting(w, o.Waiting)
		objRenderDump(w, o.Dump)
		warnings = o.Warnings
	case *sysobj.SysVMsg:
		fmt.Fprintf(w, "sysv-msg %d\n", o.ID)
		objSysVHeader(tw, o.SysVPerm)
		fmt.Fprintf(tw, "  messages\t%d\n", o.Messages)
		fmt.Fprintf(tw, "  bytes\t%d of at most %d (msg_qbytes)\n", o.Bytes, o.MaxBytes)
		if o.MsgMax >= 0 {
			fmt.Fprintf(tw, "  largest message\t%d bytes (kernel.msgmax)\n", o.MsgMax)
		}
		fmt.Fprintf(tw, "  last send\t%s\n", objLastOp(o.STimeNs, o.LastSendPID, o.LastSender))
		fmt.Fprintf(tw, "  last receive\t%s\n", objLastOp(o.RTimeNs, o.LastRecvPID, o.LastReceiver))
		fmt.Fprintf(tw, "  last change\t%s\n", objWhen(o.CTimeNs))
		tw.Flush()
		objRenderWaiting(w, o.Waiting)
		warnings = o.Warnings
	case *sysobj.POSIXMQ:
		path := o.Path
		if path == "" {
			path = "no mqueue file system mounted"
		}
		fmt.Fprintf(w, "posix-mq %s (%s)\n", o.Name, path)
		objFileHeader(tw, o.FilePerm)
		fmt.Fprintf(tw, "  messages\t%d of at most %d (mq_maxmsg), each up to %d bytes (mq_msgsize)\n", o.Messages, o.MaxMessages, o.MsgSize)
		if o.Bytes >= 0 {
			fmt.Fprintf(tw, "  bytes\t%d\t(QSIZE: message bytes plus the kernel's bookkeeping)\n", o.Bytes)
		}
		notify := "nobody"
		if o.NotifyPID != 0 {
			notify = fmt.Sprintf("pid %d (%s)", o.NotifyPID, o.Notify)
		}
		fmt.Fprintf(tw, "  mq_notify\t%s\n", notify)
		fmt.Fprintf(tw, "  last send/receive\t%s\t(the kernel does not record who; POSIX queues keep no last pids)\n", objWhen(o.MTimeNs))
		fmt.Fprintf(tw, "  system limits\tmsg_max %d, msgsize_max %d (/proc/sys/fs/mqueue)\n", o.MsgMaxSys, o.MsgSizeSys)
		tw.Flush()
		objRenderHolders(w, "held open by", o.OpenBy)
		objRenderWaiting(w, o.Waiting)
		warnings = o.Warnings
	case *sysobj.UnixSocket:
		objRenderSocket(w, tw, o)
		warnings = o.Warnings
	default:
		return fmt.Errorf("inspect: cannot show %T", obj)
	}
	for _, wn := range warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	return nil
}

func objRenderSocket(w io.Writer, tw *tabwriter.Writer, o *sysobj.UnixSocket) {
	fmt.Fprintf(w, "unix-socket %s\n", o.Name)
	switch {
	case o.Abstract:
		fmt.Fprintf(tw, "  file\tnone (abstract namespace)\n")
	case o.FileExists:
		fmt.Fprintf(tw, "  file\tsocket file, owner %s, mode %s\n", objUser(o.OwnerUID), o.Mode)
	default:
		fmt.Fprintf(tw, "  file\tremoved (the socket is still bound)\n")
	}
	state := "not bound: no live socket has this name"
	switch {
	case o.Stale:
		state = "STALE: nothing is bound to this file (connect gets ECONNREFUSED)"
	case o.Listening:
		state = fmt.Sprintf("listening (%s), %d connection(s) waiting to be accepted", o.SocketType, o.Backlog)
		if o.MaxBacklog > 0 {
			state += fmt.Sprintf(" of a backlog of %d", o.MaxBacklog)
		}
	case o.Bound:
		state = fmt.Sprintf("bound (%s), not listening", o.SocketType)
	}
	fmt.Fprintf(tw, "  state\t%s\n", state)
	tw.Flush()
	if len(o.Sockets) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "  INODE\tROLE\tSTATE\tHELD BY\tPEER")
		for _, e := range o.Sockets {
			peer := ""
			switch {
			case e.PeerInode != 0:
				peer = fmt.Sprintf("%d %s", e.PeerInode, objHolders(e.PeerHeldBy))
			case e.Role == "accepted" && !o.PeersKnown:
				peer = "unknown (no sock_diag)"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", e.Inode, e.Role, e.State, objHolders(e.HeldBy), peer)
		}
		tw.Flush()
	}
	if len(o.Pending) > 0 {
		fmt.Fprintln(w, "  clients waiting to be accepted:")
		for _, e := range o.Pending {
			fmt.Fprintf(w, "    socket %d held by %s\n", e.Inode, objHolders(e.HeldBy))
		}
	}
}

func objSysVHeader(tw io.Writer, p sysobj.SysVPerm) {
	key := fmt.Sprintf("0x%08x", uint32(p.Key))
	if p.Key == 0 {
		key += " (IPC_PRIVATE)"
	}
	fmt.Fprintf(tw, "  key\t%s\n", key)
	fmt.Fprintf(tw, "  owner\t%s, gid %d\n", objUser(p.OwnerUID), p.OwnerGID)
	fmt.Fprintf(tw, "  creator\t%s, gid %d\n", objUser(p.CreatorUID), p.CreatorGID)
	fmt.Fprintf(tw, "  mode\t%s\n", p.Mode)
}

func objFileHeader(tw io.Writer, p sysobj.FilePerm) {
	fmt.Fprintf(tw, "  owner\t%s, gid %d\n", objUser(p.OwnerUID), p.OwnerGID)
	fmt.Fprintf(tw, "  mode\t%s\n", p.Mode)
}

func objRenderProcs(w io.Writer, title string, procs []sysobj.Proc) {
	if len(procs) == 0 {
		fmt.Fprintf(w, "  %s: no process\n", title)
		return
	}
	fmt.Fprintf(w, "  %s %d process(es):\n", title, len(procs))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    PID\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(tw, "    %d\t%s\n", p.PID, objCommand(p))
	}
	tw.Flush()
}

func objRenderHolders(w io.Writer, title string, hs []sysobj.Holder) {
	if len(hs) == 0 {
		fmt.Fprintf(w, "  %s: no process\n", title)
		return
	}
	fmt.Fprintf(w, "  %s %d process(es):\n", title, len(hs))
	for _, h := range hs {
		fmt.Fprintf(w, "    %d  %s\n", h.PID, objCommand(h.Proc))
		for _, d := range h.Details {
			fmt.Fprintf(w, "           %s\n", d)
		}
	}
}

func objRenderWaiting(w io.Writer, hs []sysobj.Holder) {
	if len(hs) == 0 {
		fmt.Fprintln(w, "  waiting: no blocked thread seen")
		return
	}
	objRenderHolders(w, "waiting:", hs)
}

func objRenderDump(w io.Writer, d *sysobj.Dump) {
	if d == nil {
		return
	}
	fmt.Fprintf(w, "\n  contents, bytes %d to %d of %d:\n", d.Offset, d.Offset+d.Length, d.Total)
	for _, line := range strings.SplitAfter(sysobj.HexDump(d.Data, d.Offset), "\n") {
		if line != "" {
			fmt.Fprint(w, "  "+line)
		}
	}
	if d.Offset+d.Length < d.Total {
		fmt.Fprintf(w, "  (%d more bytes: --dump %d:%d for the rest)\n", d.Total-d.Offset-d.Length, d.Offset+d.Length, d.Total-d.Offset-d.Length)
	}
}

// objWhen formats a Unix time in ns for people: local time and how long ago.
func objWhen(ns int64) string {
	if ns == 0 {
		return "never"
	}
	t := time.Unix(0, ns)
	ago := time.Since(t).Round(time.Second)
	if ago < 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return fmt.Sprintf("%s (%s ago)", t.Format("2006-01-02 15:04:05"), ago)
}

func objOptU32(v *uint32) string {
	if v == nil {
		return "unknown"
	}
	return strconv.FormatUint(uint64(*v), 10)
}

func objBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d bytes (%d GiB)", n, n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d bytes (%.1f KiB)", n, float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// objUser names a uid: "root (uid 0)".
func objUser(uid int) string {
	if uid < 0 {
		return "unknown"
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// objPID formats a recorded pid ("none" for 0).
func objPID(pid int) string {
	if pid <= 0 {
		return "none"
	}
	return strconv.Itoa(pid)
}

// objProc is the process behind a recorded pid, or why there is none.
func objProc(pid int, p *sysobj.Proc) string {
	switch {
	case pid <= 0:
		return "-"
	case p == nil:
		return "(gone)"
	}
	return objCommand(*p)
}

// objLastOp is "TIME by pid N (COMMAND)", or "never".
func objLastOp(ns int64, pid int, p *sysobj.Proc) string {
	if ns == 0 && pid <= 0 {
		return "never"
	}
	return fmt.Sprintf("%s by pid %d: %s", objWhen(ns), pid, objProc(pid, p))
}

// objCommand is a process's command line, or [comm] for a kernel thread
// or a process that hides it.
func objCommand(p sysobj.Proc) string {
	if p.Cmdline != "" {
		return objTruncate(p.Cmdline, 100)
	}
	return "[" + p.Comm + "]"
}

func objHolders(hs []sysobj.Holder) string {
	if len(hs) == 0 {
		return "nobody seen"
	}
	var parts []string
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%d %s (%s)", h.PID, h.Comm, strings.Join(h.Details, ", ")))
	}
	return strings.Join(parts, "; ")
}

func objTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
