package main

import (
	"errors"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/plural"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

var whoCommand = &cli.Command{
	Name:      "who",
	Usage:     "list the processes that use an IPC object or file: map it, hold it open, lock it, wait on it",
	UsageText: "ipcplay who PATH [--json]\nipcplay who TYPE ID|NAME|PATH [--json]\n\nExamples:\n   ipcplay who /dev/shm/sem.mysem      # who maps, holds or waits on it\n   ipcplay who sysv-sem 32769",
	Description: `The first question when something hangs. PATH is any file (a socket, a
file in /dev/shm, a lock file...) or @NAME for an abstract socket.

` + objectTypesHelp + `

HOW a process uses the object:
   maps          has it mapped (/proc/PID/maps)
   open          holds a descriptor of it (/proc/PID/fd)
   flock, fcntl, ofd, lease
                 holds such a lock on it (ofd: an open file description lock,
                 F_OFD_SETLK), from the lock: lines of its own descriptors
                 (/proc/PID/fdinfo/FD), not from /proc/locks' pid column
   waiting       a thread is blocked on it: semop on the set, msgrcv/msgsnd on
                 the queue, a futex wait inside a mapping of it (sem_wait, a
                 shared mutex), read/accept/flock/mq_timedreceive... on a
                 descriptor of it, or a lock request queued in /proc/locks
   peer          holds the other end of one of the socket's connections
   last-op, last-send, last-receive
                 the pid the kernel recorded for the last operation
   notify        registered with mq_notify on the queue
Waiting is found from the system call each thread is blocked in; a thread
waiting through poll, select or epoll is not recognised. Processes the
caller may not examine (other users', unless root) are counted in a warning.

Examples:
   ipcplay who /dev/shm/sem.mysem
   ipcplay who sysv-sem 32768
   ipcplay who /run/app.sock --json`,
	SkipFlagParsing: true, // parsed by objCommandArgs: flags may follow the arguments
	Action:          runWho,
}

func runWho(c *cli.Context) error {
	ctx, args, err := objCommandArgs(c, nil)
	if err != nil {
		if errors.Is(err, errObjHelpShown) {
			return nil
		}
		return err
	}
	var t sysobj.Target
	switch len(args) {
	case 1:
		if _, terr := sysobj.ParseType(args[0]); terr == nil {
			if _, serr := os.Stat(args[0]); serr != nil {
				return ipc.Usagef("who: %s needs an ID, NAME or PATH after it (see 'ipcplay who --help')", args[0])
			}
		}
		t, err = sysobj.ResolvePath(args[0])
	case 2:
		t, err = sysobj.ParseTarget(args[0], args[1])
	default:
		return ipc.Usagef("who: expected PATH, or TYPE and ID|NAME|PATH, got %s (types: %s; see 'ipcplay who --help')",
			plural.Count(len(args), "argument", "arguments"), strings.Join(sysobj.Types, ", "))
	}
	if err != nil {
		return objErr("who", err)
	}
	res, err := sysobj.Who(t)
	if err != nil {
		return objErr("who", err)
	}
	if globalBool(ctx, "json") {
		return writeJSON(c.App.Writer, struct {
			docHead
			*sysobj.WhoResult
		}{head("who", ipc.EngineLocal, nil), res})
	}
	res.Render(c.App.Writer)
	return nil
}
