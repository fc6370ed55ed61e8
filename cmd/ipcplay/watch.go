package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/sysobj"
)

var watchCommand = &cli.Command{
	Name:      "watch",
	Usage:     "a live view of IPC objects, like top: values, waiters, attach counts, queue depths, changes highlighted",
	UsageText: "ipcplay watch [--interval D] [--count N] [--json] [TYPE [ID|NAME|PATH] ...]\n\nExamples:\n   ipcplay watch                       # every object, refreshed each second; q quits\n   ipcplay watch sysv-sem 32769 --interval 200ms",
	Description: `Without arguments: every IPC object of the machine except Unix sockets
(name the type unix-socket to see those). A TYPE alone selects every object
of that type; a TYPE followed by an ID, NAME or PATH one object.

` + objectTypesHelp + `

On a terminal the table refreshes in place: changed values in reverse video,
new objects in bold; q (or Ctrl-C) quits. When stdout is not a terminal it
prints one snapshot per interval, each row marked '*' when it changed since
the previous snapshot and '+' when it is new. "mapped by >=N" means some
processes could not be examined (other users', unless root).

--interval is a duration (500ms, 2s) or a number of seconds (1.5), from
100ms to 1h. --count N stops after N snapshots. --json needs --count and
prints one document {"kind":"watch","interval_ns":...,"snapshots":[...]}
once the N snapshots are taken.

Examples:
   ipcplay watch
   ipcplay watch sysv-sem posix-sem
   ipcplay watch --interval 200ms sysv-sem 32768 posix-shm /myshm
   ipcplay watch --count 1 --json`,
	SkipFlagParsing: true, // parsed by objCommandArgs: flags may follow the arguments
	Flags:           watchFlags(),
	Action:          runWatch,
}

func watchFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "interval", Value: "1s", Usage: "time between refreshes: `D` a duration (500ms, 2s) or seconds (1.5), 100ms to 1h"},
		&cli.IntFlag{Name: "count", Usage: "stop after `N` snapshots (0: until q or Ctrl-C)"},
	}
}

// watchStdin is where watch reads keys from (a test gives it a terminal).
var watchStdin = os.Stdin

const (
	watchMinInterval = 100 * time.Millisecond
	watchMaxInterval = time.Hour
)

// parseInterval reads --interval: a Go duration or a number of seconds.
func parseInterval(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		secs, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || secs != secs { // NaN
			return 0, ipc.Usagef("watch: --interval %q: must be a duration like 500ms or 2s, or a number of seconds, between 100ms and 1h", s)
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < watchMinInterval || d > watchMaxInterval {
		return 0, ipc.Usagef("watch: --interval %q: must be between 100ms and 1h", s)
	}
	return d, nil
}

// parseWatchSelection reads "[TYPE [ID|NAME|PATH] ...]".
func parseWatchSelection(args []string) (sysobj.Selection, error) {
	var sel sysobj.Selection
	for i := 0; i < len(args); i++ {
		typ, err := sysobj.ParseType(args[i])
		if err != nil {
			return sel, objErr("watch", err)
		}
		if i+1 < len(args) {
			if _, terr := sysobj.ParseType(args[i+1]); terr != nil {
				t, err := sysobj.ParseTarget(typ, args[i+1])
				if err != nil {
					return sel, objErr("watch", err)
				}
				sel.Targets = append(sel.Targets, t)
				i++
				continue
			}
		}
		sel.Types = append(sel.Types, typ)
	}
	return sel, nil
}

// watchSnapshot is one refresh, as --json prints it.
type watchSnapshot struct {
	TimeNs   int64           `json:"time_ns"`
	Objects  []sysobj.Status `json:"objects"`
	Warnings []string        `json:"warnings,omitempty"`
}

func runWatch(c *cli.Context) error {
	ctx, args, err := objCommandArgs(c, watchFlags())
	if err != nil {
		if errors.Is(err, errObjHelpShown) {
			return nil
		}
		return err
	}
	interval, err := parseInterval(globalString(ctx, "interval"))
	if err != nil {
		return err
	}
	count := ctx.Int("count")
	if count < 0 {
		return ipc.Usagef("watch: --count %d: must be 0 (no limit) or more", count)
	}
	sel, err := parseWatchSelection(args)
	if err != nil {
		return err
	}
	asJSON := globalBool(ctx, "json")
	if asJSON && count == 0 {
		return ipc.Usagef("watch: --json needs --count N: it prints one document holding the N snapshots")
	}
	out := c.App.Writer
	outFile, _ := out.(*os.File)
	tty := !asJSON && outFile != nil && term.IsTerminal(int(outFile.Fd()))

	// The first snapshot, before the screen is taken: a named object that
	// does not exist is bad input.
	statuses, perr := sysobj.Snapshot(sel)
	for _, s := range statuses {
		if s.Gone {
			return ipc.AsUsage(fmt.Errorf("watch: %s does not exist ('ipcplay objects --all' lists what does)", s.Target()))
		}
	}
	quit := make(chan struct{})
	refresh := make(chan struct{}, 1)
	if tty {
		restore, err := watchScreen(outFile, quit, refresh)
		if err != nil {
			return err
		}
		defer restore()
	}
	v := &watchView{out: out, tty: tty, outFile: outFile, interval: interval, users: map[int]string{}}
	var snaps []watchSnapshot
	for n := 1; ; n++ {
		if n > 1 {
			statuses, perr = sysobj.Snapshot(sel)
		}
		snap := watchSnapshot{TimeNs: time.Now().UnixNano(), Objects: statuses, Warnings: errLines(perr)}
		if asJSON {
			snaps = append(snaps, snap)
		} else {
			v.show(snap, n)
		}
		if count > 0 && n >= count {
			break
		}
		timer := time.NewTimer(interval)
		select {
		case <-ctx.Context.Done():
			timer.Stop()
			return watchDone(asJSON, out, interval, snaps)
		case <-quit:
			timer.Stop()
			return nil
		case <-refresh:
			timer.Stop()
		case <-timer.C:
		}
	}
	return watchDone(asJSON, out, interval, snaps)
}

func watchDone(asJSON bool, out io.Writer, interval time.Duration, snaps []watchSnapshot) error {
	if !asJSON {
		return nil
	}
	if snaps == nil {
		snaps = []watchSnapshot{}
	}
	return writeDoc(out, "watch", ipc.EngineLocal, nil, map[string]any{"interval_ns": interval.Nanoseconds(), "snapshots": snaps})
}

// errLines splits a joined error into its messages.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// watchScreen prepares the terminal: the alternate screen, no cursor and,
// when stdin is a terminal too, raw mode with a reader that turns q, Q,
// Ctrl-C and Ctrl-D into quit and any other key into an immediate
// refresh. restore undoes all of it; the caller defers it.
func watchScreen(out *os.File, quit chan<- struct{}, refresh chan<- struct{}) (restore func(), err error) {
	in := int(watchStdin.Fd())
	var old *term.State
	if term.IsTerminal(in) {
		if old, err = term.MakeRaw(in); err != nil {
			return nil, fmt.Errorf("watch: terminal raw mode: %w", err)
		}
		go func() {
			buf := make([]byte, 16)
			for {
				n, err := watchStdin.Read(buf)
				if err != nil {
					return
				}
				for _, b := range buf[:n] {
					if b == 'q' || b == 'Q' || b == 3 || b == 4 {
						close(quit)
						return
					}
				}
				select {
				case refresh <- struct{}{}:
				default:
				}
			}
		}()
	}
	fmt.Fprint(out, "\x1b[?1049h\x1b[?25l")
	return func() {
		fmt.Fprint(out, "\x1b[?25h\x1b[?1049l")
		if old != nil {
			_ = term.Restore(in, old)
		}
	}, nil
}

// watchView draws snapshots and remembers the last one to mark changes.
type watchView struct {
	out      io.Writer
	outFile  *os.File
	tty      bool
	interval time.Duration
	prev     map[string][]string
	users    map[int]string
}

var watchHeader = []string{"TYPE", "ID", "NAME", "OWNER", "MODE", "SIZE", "STATE"}

// show draws one snapshot: in place on a terminal, appended otherwise.
func (v *watchView) show(s watchSnapshot, n int) {
	rows := make([][]string, len(s.Objects))
	keys := make([]string, len(s.Objects))
	for i, o := range s.Objects {
		rows[i] = v.cells(o)
		keys[i] = o.Target().String()
	}
	widths := make([]int, len(watchHeader))
	for _, r := range append([][]string{watchHeader}, rows...) {
		for j, c := range r {
			widths[j] = max(widths[j], len(c))
		}
	}
	width, height := 1<<30, 1<<30
	if v.tty && v.outFile != nil {
		// A terminal that does not know its size (0x0) gets no limits.
		if w, h, err := term.GetSize(int(v.outFile.Fd())); err == nil && w > 0 && h > 0 {
			width, height = w, h
		}
	}
	stamp := time.Unix(0, s.TimeNs).Format("2006-01-02 15:04:05")
	var lines []string
	if v.tty {
		lines = append(lines, objTruncateTo(fmt.Sprintf("ipcplay watch  %s  every %s  %d object(s)  q quits", stamp, v.interval, len(rows)), width), "")
	} else {
		lines = append(lines, fmt.Sprintf("# %s snapshot %d, %d object(s)", stamp, n, len(rows)))
	}
	lines = append(lines, v.line(watchHeader, nil, false, widths, width, " "))
	next := map[string][]string{}
	room := height - 3 - len(s.Warnings)
	for i, r := range rows {
		old, seen := v.prev[keys[i]]
		next[keys[i]] = r
		if v.tty && len(lines) >= room {
			lines = append(lines, fmt.Sprintf("... %d more (enlarge the terminal)", len(rows)-i))
			break
		}
		isNew := v.prev != nil && !seen
		mark := " "
		switch {
		case isNew:
			mark = "+"
		case seen && strings.Join(old, "\x00") != strings.Join(r, "\x00"):
			mark = "*"
		}
		if !seen {
			old = nil
		}
		lines = append(lines, v.line(r, old, isNew, widths, width, mark))
	}
	for _, w := range s.Warnings {
		lines = append(lines, objTruncateTo("note: "+w, width))
	}
	v.prev = next
	if v.tty {
		var b strings.Builder
		b.WriteString("\x1b[H")
		for _, l := range lines {
			b.WriteString(l + "\x1b[K\r\n")
		}
		b.WriteString("\x1b[J")
		fmt.Fprint(v.out, b.String())
		return
	}
	fmt.Fprintln(v.out, strings.Join(lines, "\n"))
}

// line formats one row. On a terminal changed cells (compared with old)
// are in reverse video and a new row in bold; otherwise mark leads it.
func (v *watchView) line(cells, old []string, isNew bool, widths []int, width int, mark string) string {
	var b strings.Builder
	plain := 0
	if !v.tty {
		b.WriteString(mark + " ")
		plain = 2
	}
	for j, c := range cells {
		last := j == len(cells)-1
		if last {
			c = objTruncateTo(c, width-plain)
		}
		pad := ""
		if !last {
			pad = strings.Repeat(" ", widths[j]-len(c)+2)
		}
		switch {
		case v.tty && isNew:
			b.WriteString("\x1b[1m" + c + "\x1b[22m")
		case v.tty && old != nil && j < len(old) && old[j] != c:
			b.WriteString("\x1b[7m" + c + "\x1b[27m")
		default:
			b.WriteString(c)
		}
		b.WriteString(pad)
		plain += len(c) + len(pad)
	}
	return b.String()
}

// cells is the row of a status: TYPE, ID, NAME, OWNER, MODE, SIZE, STATE.
func (v *watchView) cells(s sysobj.Status) []string {
	id, name := "-", s.Name
	switch s.Type {
	case sysobj.TypeSysVShm, sysobj.TypeSysVSem, sysobj.TypeSysVMsg:
		id = strconv.Itoa(s.ID)
		if s.Key != 0 {
			name = fmt.Sprintf("key 0x%08x", uint32(s.Key))
		}
	case sysobj.TypeUnixSocket:
		id = strconv.Itoa(s.ID)
	}
	mode := s.Mode
	if mode == "" {
		mode = "-"
	}
	return []string{s.Type, id, name, v.user(s.OwnerUID), mode, strconv.FormatInt(s.Size, 10), watchState(s)}
}

func (v *watchView) user(uid int) string {
	if uid < 0 {
		return "-"
	}
	if n, ok := v.users[uid]; ok {
		return n
	}
	n := strconv.Itoa(uid)
	if u, err := user.LookupId(n); err == nil {
		n = u.Username
	}
	v.users[uid] = n
	return n
}

// watchState is the live part of a row.
func watchState(s sysobj.Status) string {
	switch {
	case s.Gone:
		return "(gone)"
	case s.Error != "":
		return "error: " + s.Error
	}
	switch s.Type {
	case sysobj.TypeSysVSem:
		return fmt.Sprintf("values %s  ncnt %s  zcnt %s", intList(s.Values), intList(s.NCnt), intList(s.ZCnt))
	case sysobj.TypePOSIXSem:
		if s.Value != nil {
			return fmt.Sprintf("value %d  waiters %d", *s.Value, *s.Waiters)
		}
	case sysobj.TypeSysVShm:
		if s.NAttch != nil {
			return fmt.Sprintf("nattch %d", *s.NAttch)
		}
	case sysobj.TypePOSIXShm:
		if s.NAttch != nil && s.Partial {
			return fmt.Sprintf("mapped by >=%d", *s.NAttch)
		}
		if s.NAttch != nil {
			return fmt.Sprintf("mapped by %d", *s.NAttch)
		}
	case sysobj.TypeSysVMsg, sysobj.TypePOSIXMQ:
		if s.Messages != nil {
			return fmt.Sprintf("messages %d  bytes %d", *s.Messages, *s.Bytes)
		}
	case sysobj.TypeUnixSocket:
		if s.Listening != nil && *s.Listening {
			return fmt.Sprintf("listening  connections %d  backlog %d", *s.Connections, *s.Backlog)
		}
		if s.Connections != nil {
			return fmt.Sprintf("bound  connections %d", *s.Connections)
		}
	}
	return ""
}

// intList formats a short list of numbers: "1,0,7"; a long one is cut.
func intList(v []int) string {
	const most = 8
	var parts []string
	for i, x := range v {
		if i == most {
			parts = append(parts, fmt.Sprintf("...(%d)", len(v)))
			break
		}
		parts = append(parts, strconv.Itoa(x))
	}
	return strings.Join(parts, ",")
}

// objTruncateTo cuts s to n bytes.
func objTruncateTo(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	return s[:n]
}
