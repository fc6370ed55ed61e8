package sysobj

import (
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ipcplay/ipcplay/ipc/plural"
)

// Text rendering of what Inspect* and Who return, next to the types.

// Render prints an inspected object (a *SysVSem, *POSIXSem, *SysVShm,
// *POSIXShm, *SysVMsg, *POSIXMQ or *UnixSocket, as the Inspect functions
// return them) for people: what `ipcplay inspect` shows. Warnings come last.
func Render(w io.Writer, obj any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	var warnings []string
	switch o := obj.(type) {
	case *SysVSem:
		fmt.Fprintf(w, "sysv-sem %d\n", o.ID)
		sysvHeader(tw, o.SysVPerm)
		fmt.Fprintf(tw, "  semaphores\t%d\n", o.NSems)
		fmt.Fprintf(tw, "  last semop\t%s\n", whenString(o.OTimeNs))
		fmt.Fprintf(tw, "  last change\t%s\n", whenString(o.CTimeNs))
		tw.Flush()
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "  NUM\tVALUE\tNCNT\tZCNT\tLAST PID\tLAST PROCESS")
		for i := range o.NSems {
			fmt.Fprintf(tw, "  %d\t%d\t%d\t%d\t%d\t%s\n", i, o.Values[i], o.NCnt[i], o.ZCnt[i], o.LastPID[i], procString(o.LastPID[i], o.LastProc[i]))
		}
		tw.Flush()
		fmt.Fprintln(w, "  (NCNT: processes waiting for the value to increase; ZCNT: waiting for it to become zero)")
		if n := o.kernelWaiters(); len(o.Waiting) == 0 && n > 0 {
			fmt.Fprintf(w, "  waiting: no blocked thread seen, though the kernel counts %s: see the warning\n", plural.Count(n, "waiter", "waiters"))
		} else {
			renderWaiting(w, o.Waiting)
		}
		warnings = o.Warnings
	case *POSIXSem:
		fmt.Fprintf(w, "posix-sem %s (%s)\n", o.Name, o.Path)
		fileHeader(tw, o.FilePerm)
		layout := "a glibc sem_t"
		if !o.Glibc {
			layout = "NOT a glibc sem_t, see the warning"
		}
		fmt.Fprintf(tw, "  size\t%d bytes (%s)\n", o.Size, layout)
		fmt.Fprintf(tw, "  value\t%s\t(kept by glibc in the semaphore's memory)\n", optU32(o.Value))
		fmt.Fprintf(tw, "  waiters\t%s\t(kept by glibc: its count of threads blocked in sem_wait)\n", optU32(o.Waiters))
		fmt.Fprintf(tw, "  kernel waiters\t%d\t(the kernel: threads in a futex wait on the semaphore)\n", o.KernelWaiters)
		tw.Flush()
		renderProcs(w, "mapped by", o.MappedBy)
		renderWaiting(w, o.Waiting)
		warnings = o.Warnings
	case *SysVShm:
		fmt.Fprintf(w, "sysv-shm %d\n", o.ID)
		sysvHeader(tw, o.SysVPerm)
		fmt.Fprintf(tw, "  size\t%s\n", bytesString(o.Size))
		fmt.Fprintf(tw, "  nattch\t%d\n", o.NAttch)
		fmt.Fprintf(tw, "  creator pid\t%s\n", pidString(o.CreatorPID))
		fmt.Fprintf(tw, "  last pid\t%s\t(last shmat or shmdt)\n", pidString(o.LastPID))
		fmt.Fprintf(tw, "  last attach\t%s\n", whenString(o.ATimeNs))
		fmt.Fprintf(tw, "  last detach\t%s\n", whenString(o.DTimeNs))
		fmt.Fprintf(tw, "  last change\t%s\n", whenString(o.CTimeNs))
		if o.RSS >= 0 {
			fmt.Fprintf(tw, "  resident\t%s, swapped %s\n", bytesString(o.RSS), bytesString(o.Swap))
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
		renderProcs(w, "mapped by", o.MappedBy)
		renderWaiting(w, o.Waiting)
		renderDump(w, o.Dump)
		warnings = o.Warnings
	case *POSIXShm:
		fmt.Fprintf(w, "posix-shm %s (%s)\n", o.Name, o.Path)
		fileHeader(tw, o.FilePerm)
		fmt.Fprintf(tw, "  size\t%s\n", bytesString(o.Size))
		fmt.Fprintf(tw, "  nattch\t%d\t(processes mapping it; the kernel keeps no count, creator or last pid for POSIX shm)\n", o.NAttch)
		fmt.Fprintf(tw, "  modified\t%s\n", whenString(o.MTimeNs))
		tw.Flush()
		renderProcs(w, "mapped by", o.MappedBy)
		renderProcs(w, "held open by", o.OpenBy)
		renderWaiting(w, o.Waiting)
		renderDump(w, o.Dump)
		warnings = o.Warnings
	case *SysVMsg:
		fmt.Fprintf(w, "sysv-msg %d\n", o.ID)
		sysvHeader(tw, o.SysVPerm)
		fmt.Fprintf(tw, "  messages\t%d\n", o.Messages)
		fmt.Fprintf(tw, "  bytes\t%d of at most %d (msg_qbytes)\n", o.Bytes, o.MaxBytes)
		if o.MsgMax >= 0 {
			fmt.Fprintf(tw, "  largest message\t%d bytes (kernel.msgmax)\n", o.MsgMax)
		}
		fmt.Fprintf(tw, "  last send\t%s\n", lastOp(o.STimeNs, o.LastSendPID, o.LastSender))
		fmt.Fprintf(tw, "  last receive\t%s\n", lastOp(o.RTimeNs, o.LastRecvPID, o.LastReceiver))
		fmt.Fprintf(tw, "  last change\t%s\n", whenString(o.CTimeNs))
		tw.Flush()
		renderWaiting(w, o.Waiting)
		warnings = o.Warnings
	case *POSIXMQ:
		path := o.Path
		if path == "" {
			path = "no mqueue file system mounted"
		}
		fmt.Fprintf(w, "posix-mq %s (%s)\n", o.Name, path)
		fileHeader(tw, o.FilePerm)
		fmt.Fprintf(tw, "  messages\t%d of at most %d (mq_maxmsg), each up to %d bytes (mq_msgsize)\n", o.Messages, o.MaxMessages, o.MsgSize)
		if o.Bytes >= 0 {
			fmt.Fprintf(tw, "  bytes\t%d\t(QSIZE: message bytes plus the kernel's bookkeeping)\n", o.Bytes)
		}
		notify := "nobody"
		if o.NotifyPID != 0 {
			notify = fmt.Sprintf("pid %d (%s)", o.NotifyPID, o.Notify)
		}
		fmt.Fprintf(tw, "  mq_notify\t%s\n", notify)
		fmt.Fprintf(tw, "  last send/receive\t%s\t(the kernel does not record who; POSIX queues keep no last pids)\n", whenString(o.MTimeNs))
		fmt.Fprintf(tw, "  system limits\tmsg_max %d, msgsize_max %d (/proc/sys/fs/mqueue)\n", o.MsgMaxSys, o.MsgSizeSys)
		tw.Flush()
		renderHolders(w, "held open by", o.OpenBy)
		renderWaiting(w, o.Waiting)
		warnings = o.Warnings
	case *UnixSocket:
		renderSocket(w, tw, o)
		warnings = o.Warnings
	default:
		return fmt.Errorf("inspect: cannot show %T", obj)
	}
	for _, wn := range warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
	return nil
}

func renderSocket(w io.Writer, tw *tabwriter.Writer, o *UnixSocket) {
	fmt.Fprintf(w, "unix-socket %s\n", o.Name)
	switch {
	case o.Abstract:
		fmt.Fprintf(tw, "  file\tnone (abstract namespace)\n")
	case o.FileExists:
		fmt.Fprintf(tw, "  file\tsocket file, owner %s, mode %s\n", userString(o.OwnerUID), o.Mode)
	default:
		fmt.Fprintf(tw, "  file\tremoved (the socket is still bound)\n")
	}
	state := "not bound: no live socket has this name"
	switch {
	case o.Stale:
		state = "STALE: nothing is bound to this file (connect gets ECONNREFUSED)"
	case o.Listening:
		state = fmt.Sprintf("listening (%s), %s waiting to be accepted", o.SocketType, plural.Count(o.Backlog, "connection", "connections"))
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
				peer = fmt.Sprintf("%d %s", e.PeerInode, holdersString(e.PeerHeldBy))
			case e.Role == "accepted" && !o.PeersKnown:
				peer = "unknown (no sock_diag)"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\n", e.Inode, e.Role, e.State, holdersString(e.HeldBy), peer)
		}
		tw.Flush()
	}
	if len(o.Pending) > 0 {
		fmt.Fprintln(w, "  clients waiting to be accepted:")
		for _, e := range o.Pending {
			fmt.Fprintf(w, "    socket %d held by %s\n", e.Inode, holdersString(e.HeldBy))
		}
	}
}

func sysvHeader(tw io.Writer, p SysVPerm) {
	key := fmt.Sprintf("0x%08x", uint32(p.Key))
	if p.Key == 0 {
		key += " (IPC_PRIVATE)"
	}
	fmt.Fprintf(tw, "  key\t%s\n", key)
	fmt.Fprintf(tw, "  owner\t%s, gid %d\n", userString(p.OwnerUID), p.OwnerGID)
	fmt.Fprintf(tw, "  creator\t%s, gid %d\n", userString(p.CreatorUID), p.CreatorGID)
	fmt.Fprintf(tw, "  mode\t%s\n", p.Mode)
}

func fileHeader(tw io.Writer, p FilePerm) {
	fmt.Fprintf(tw, "  owner\t%s, gid %d\n", userString(p.OwnerUID), p.OwnerGID)
	fmt.Fprintf(tw, "  mode\t%s\n", p.Mode)
}

func renderProcs(w io.Writer, title string, procs []Proc) {
	if len(procs) == 0 {
		fmt.Fprintf(w, "  %s: no process\n", title)
		return
	}
	fmt.Fprintf(w, "  %s %s:\n", title, plural.Count(len(procs), "process", "processes"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    PID\tCOMMAND")
	for _, p := range procs {
		fmt.Fprintf(tw, "    %d\t%s\n", p.PID, commandString(p))
	}
	tw.Flush()
}

func renderHolders(w io.Writer, title string, hs []Holder) {
	if len(hs) == 0 {
		fmt.Fprintf(w, "  %s: no process\n", title)
		return
	}
	fmt.Fprintf(w, "  %s %s:\n", title, plural.Count(len(hs), "process", "processes"))
	for _, h := range hs {
		fmt.Fprintf(w, "    %d  %s\n", h.PID, commandString(h.Proc))
		for _, d := range h.Details {
			fmt.Fprintf(w, "           %s\n", d)
		}
	}
}

func renderWaiting(w io.Writer, hs []Holder) {
	if len(hs) == 0 {
		fmt.Fprintln(w, "  waiting: no blocked thread seen")
		return
	}
	renderHolders(w, "waiting:", hs)
}

func renderDump(w io.Writer, d *Dump) {
	if d == nil {
		return
	}
	fmt.Fprintf(w, "\n  contents, bytes %d to %d of %d:\n", d.Offset, d.Offset+d.Length, d.Total)
	for _, line := range strings.SplitAfter(HexDump(d.Data, d.Offset), "\n") {
		if line != "" {
			fmt.Fprint(w, "  "+line)
		}
	}
	if d.Offset+d.Length < d.Total {
		fmt.Fprintf(w, "  (%d more bytes: --dump %d:%d for the rest)\n", d.Total-d.Offset-d.Length, d.Offset+d.Length, d.Total-d.Offset-d.Length)
	}
}

// whenString formats a Unix time in ns for people: local time and how long ago.
func whenString(ns int64) string {
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

func optU32(v *uint32) string {
	if v == nil {
		return "unknown"
	}
	return strconv.FormatUint(uint64(*v), 10)
}

func bytesString(n int64) string {
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

// UserName is the user name of uid for a table column ("root"), the uid
// as a number when the user database has no name for it, "-" when the
// uid is unknown (negative). The JSON documents keep the uid.
func UserName(uid int) string {
	if uid < 0 {
		return "-"
	}
	n := strconv.Itoa(uid)
	if u, err := user.LookupId(n); err == nil {
		return u.Username
	}
	return n
}

// userString names a uid: "root (uid 0)".
func userString(uid int) string {
	if uid < 0 {
		return "unknown"
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%s (uid %d)", u.Username, uid)
	}
	return fmt.Sprintf("uid %d", uid)
}

// pidString formats a recorded pid ("none" for 0).
func pidString(pid int) string {
	if pid <= 0 {
		return "none"
	}
	return strconv.Itoa(pid)
}

// procString is the process behind a recorded pid, or why there is none.
func procString(pid int, p *Proc) string {
	switch {
	case pid <= 0:
		return "-"
	case p == nil:
		return "(gone)"
	}
	return commandString(*p)
}

// lastOp is "TIME by pid N (COMMAND)", or "never".
func lastOp(ns int64, pid int, p *Proc) string {
	if ns == 0 && pid <= 0 {
		return "never"
	}
	return fmt.Sprintf("%s by pid %d: %s", whenString(ns), pid, procString(pid, p))
}

// commandString is a process's command line, or [comm] for a kernel thread
// or a process that hides it.
func commandString(p Proc) string {
	if p.Cmdline != "" {
		return truncate(p.Cmdline, 100)
	}
	return "[" + p.Comm + "]"
}

func holdersString(hs []Holder) string {
	if len(hs) == 0 {
		return "nobody seen"
	}
	var parts []string
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%d %s (%s)", h.PID, h.Comm, strings.Join(h.Details, ", ")))
	}
	return strings.Join(parts, "; ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// Render prints the answer for people: what `ipcplay who` shows.
func (res *WhoResult) Render(w io.Writer) {
	if len(res.Processes) == 0 {
		among := ""
		if res.unseen {
			among = " (among those this user can examine)"
		}
		fmt.Fprintf(w, "%s: no process uses it%s\n", res.Target, among)
	} else {
		fmt.Fprintf(w, "%s: %s\n", res.Target, plural.Count(len(res.Processes), "process", "processes"))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PID\tHOW\tCOMMAND")
		for _, p := range res.Processes {
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", p.PID, strings.Join(p.How, ","), commandString(p.Proc))
			for _, d := range p.Details {
				fmt.Fprintf(tw, "  \t\t  %s\n", d)
			}
		}
		tw.Flush()
	}
	for _, wn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", wn)
	}
}
