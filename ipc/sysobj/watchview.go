package sysobj

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ipcplay/ipcplay/ipc/plural"
)

// The view of `ipcplay watch`: rows of Status, changes marked.

// WatchSnapshot is one refresh, as --json prints it.
type WatchSnapshot struct {
	TimeNs   int64    `json:"time_ns"`
	Objects  []Status `json:"objects"`
	Warnings []string `json:"warnings,omitempty"`
}

// WatchView draws snapshots and remembers the last one to mark changes.
// On a terminal (tty) each snapshot redraws the screen in place, changed
// cells in reverse video and new rows in bold; otherwise snapshots are
// appended, rows marked '*' (changed) or '+' (new).
type WatchView struct {
	out      io.Writer
	tty      bool
	size     func() (width, height int, ok bool)
	interval time.Duration
	prev     map[string][]string
	users    map[int]string
}

// NewWatchView returns a view writing to out. size, when not nil, gives
// the terminal's columns and rows (ok false: unknown, no limits).
func NewWatchView(out io.Writer, tty bool, interval time.Duration, size func() (width, height int, ok bool)) *WatchView {
	return &WatchView{out: out, tty: tty, size: size, interval: interval, users: map[int]string{}}
}

var watchHeader = []string{"TYPE", "ID", "NAME", "OWNER", "MODE", "SIZE", "STATE"}

// Show draws snapshot number n: in place on a terminal, appended otherwise.
func (v *WatchView) Show(s WatchSnapshot, n int) {
	rows := make([][]string, len(s.Objects))
	keys := make([]string, len(s.Objects))
	for i, o := range s.Objects {
		rows[i] = v.Cells(o)
		keys[i] = o.Target().String()
	}
	widths := make([]int, len(watchHeader))
	for _, r := range append([][]string{watchHeader}, rows...) {
		for j, c := range r {
			widths[j] = max(widths[j], len(c))
		}
	}
	width, height := 1<<30, 1<<30
	if v.tty && v.size != nil {
		// A terminal that does not know its size (0x0) gets no limits.
		if w, h, ok := v.size(); ok && w > 0 && h > 0 {
			width, height = w, h
		}
	}
	stamp := time.Unix(0, s.TimeNs).Format("2006-01-02 15:04:05")
	var lines []string
	if v.tty {
		lines = append(lines, truncateTo(fmt.Sprintf("ipcplay watch  %s  every %s  %s  q quits", stamp, v.interval, plural.Count(len(rows), "object", "objects")), width), "")
	} else {
		lines = append(lines, fmt.Sprintf("# %s snapshot %d, %s", stamp, n, plural.Count(len(rows), "object", "objects")))
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
		lines = append(lines, truncateTo("note: "+w, width))
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
func (v *WatchView) line(cells, old []string, isNew bool, widths []int, width int, mark string) string {
	var b strings.Builder
	plain := 0
	if !v.tty {
		b.WriteString(mark + " ")
		plain = 2
	}
	for j, c := range cells {
		last := j == len(cells)-1
		if last {
			c = truncateTo(c, width-plain)
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

// WatchHeader returns the column names of the watch table (TYPE, ID,
// NAME, OWNER, MODE, SIZE, STATE), for other views of the same table.
func WatchHeader() []string { return append([]string(nil), watchHeader...) }

// Cells is the row of a status, under WatchHeader: TYPE, ID, NAME,
// OWNER, MODE, SIZE, STATE.
func (v *WatchView) Cells(s Status) []string {
	id, name := "-", s.Name
	switch s.Type {
	case TypeSysVShm, TypeSysVSem, TypeSysVMsg:
		id = strconv.Itoa(s.ID)
		if s.Key != 0 {
			name = fmt.Sprintf("key 0x%08x", uint32(s.Key))
		}
	case TypeUnixSocket:
		id = strconv.Itoa(s.ID)
	}
	mode := s.Mode
	if mode == "" {
		mode = "-"
	}
	return []string{s.Type, id, name, v.user(s.OwnerUID), mode, strconv.FormatInt(s.Size, 10), watchState(s)}
}

func (v *WatchView) user(uid int) string {
	if n, ok := v.users[uid]; ok {
		return n
	}
	n := UserName(uid)
	v.users[uid] = n
	return n
}

// watchState is the live part of a row.
func watchState(s Status) string {
	switch {
	case s.Gone:
		return "(gone)"
	case s.Error != "":
		return "error: " + s.Error
	}
	switch s.Type {
	case TypeSysVSem:
		return fmt.Sprintf("values %s  ncnt %s  zcnt %s", intList(s.Values), intList(s.NCnt), intList(s.ZCnt))
	case TypePOSIXSem:
		if s.Value != nil {
			return fmt.Sprintf("value %d  waiters %d (glibc's, in user memory)", *s.Value, *s.Waiters)
		}
	case TypeSysVShm:
		if s.NAttch != nil {
			return fmt.Sprintf("nattch %d", *s.NAttch)
		}
	case TypePOSIXShm:
		if s.NAttch != nil && s.Partial {
			return fmt.Sprintf("mapped by >=%d", *s.NAttch)
		}
		if s.NAttch != nil {
			return fmt.Sprintf("mapped by %d", *s.NAttch)
		}
	case TypeSysVMsg, TypePOSIXMQ:
		if s.Messages != nil {
			return fmt.Sprintf("messages %d  bytes %d", *s.Messages, *s.Bytes)
		}
	case TypeUnixSocket:
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

// truncateTo cuts s to n bytes.
func truncateTo(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	return s[:n]
}
