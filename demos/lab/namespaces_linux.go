package lab

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/ledger"
	"github.com/ipcplay/ipcplay/ipc/mq"
	"github.com/ipcplay/ipcplay/ipc/worker"
	"github.com/ipcplay/ipcplay/semaphore"
	"github.com/ipcplay/ipcplay/shm"
)

// NamespacesRow is one object and one prober: did the object cross into
// the prober's namespaces?
type NamespacesRow struct {
	Object     string `json:"object"`     // "sysv-shm", "posix-shm", "unix-abstract"...
	Namespaces string `json:"namespaces"` // the prober's new namespaces: "ipc", "ipc+mnt"...
	Crosses    bool   `json:"crosses"`    // the prober reached the very object (read its mark)
	Expected   bool   `json:"expected"`
	Matches    bool   `json:"matches"`
	Saw        string `json:"saw"` // what the prober got: the mark it read, or the error
	Why        string `json:"why"`
}

// NamespacesResult is the namespaces lab's document.
type NamespacesResult struct {
	Header
	// UserNS: the probers also got a new user namespace (ipcplay was not
	// root), where they are root, mapped to our uid and gid outside.
	UserNS bool `json:"user_ns"`
	// Control is what a prober in the original namespaces reached: every
	// object, or the lab has no result to report.
	Control []string        `json:"control"`
	Rows    []NamespacesRow `json:"rows"`
	// Unavailable says why no row could be measured, and what would
	// make it work (empty when the namespaces could be created).
	Unavailable string `json:"unavailable,omitempty"`
	// HostIPCNS and ProberIPCNS are the readlink of /proc/PID/ns/ipc.
	HostIPCNS   string `json:"host_ipc_ns"`
	ProberIPCNS string `json:"prober_ipc_ns,omitempty"`
	// LeftInNew is the number of System V objects in the new IPC
	// namespaces when their probers were done (0: the namespaces died
	// empty with their last process); the objects made in ours are
	// removed through the ledger at the end of the run.
	LeftInNew int `json:"left_in_new_ns"`
}

// ErrNamespacesUnavailable: the kernel refused to create the namespaces
// the lab needs; the message says why and what would make it work.
var ErrNamespacesUnavailable = errors.New("namespaces cannot be created here")

// The objects, what is expected to cross into which prober, and why.
type nsObject struct {
	name, label string
	probers     []string // modes of the probers that try it
}

var nsObjects = []nsObject{
	{"sysv-shm", "System V shared memory segment", []string{"ipc"}},
	{"sysv-sem", "System V semaphore set", []string{"ipc"}},
	{"sysv-msg", "System V message queue", []string{"ipc"}},
	{"posix-mq", "POSIX message queue (mq_open)", []string{"ipc"}},
	{"posix-shm", "POSIX shm in /dev/shm", []string{"ipc", "ipc+mnt"}},
	{"memfd", "memfd passed by descriptor", []string{"ipc", "ipc+mnt+net"}},
	{"unix-path", "Unix socket by path", []string{"ipc"}},
	{"unix-abstract", "Unix socket, abstract name", []string{"ipc", "ipc+net"}},
}

// nsExpect says whether object should cross into a prober of mode, and why.
func nsExpect(object, mode string) (bool, string) {
	switch object {
	case "sysv-shm", "sysv-sem", "sysv-msg":
		return false, "System V ids belong to the IPC namespace: the new namespace has its own, empty, tables (the id means nothing there: EINVAL)."
	case "posix-mq":
		return false, "POSIX message queues belong to the IPC namespace too: each one has its own mqueue filesystem behind mq_open, whether or not /dev/mqueue is mounted (ENOENT)."
	case "posix-shm":
		if mode == "ipc+mnt" {
			return false, "With a new mount namespace and a fresh tmpfs mounted on /dev/shm, the prober's /dev/shm is another, empty, filesystem (ENOENT)."
		}
		return true, "POSIX shm is only a file in /dev/shm, a tmpfs: the IPC namespace does not cover it. Whoever sees the same mount (the same mount namespace, or a bind mount) opens the same file."
	case "memfd":
		return true, "A descriptor refers to the open file itself, not to a name: inherited or sent with SCM_RIGHTS, it crosses any namespace."
	case "unix-path":
		return true, "A Unix socket with a path is found through the filesystem: the IPC namespace does not cover it."
	case "unix-abstract":
		if mode == "ipc+net" {
			return false, "Abstract Unix socket names belong to the network namespace: a new one has none of the old names (ECONNREFUSED)."
		}
		return true, "Abstract Unix socket names belong to the network namespace, not the IPC namespace: the prober kept the original network namespace."
	}
	return false, ""
}

// nsModes are the probers' new namespaces (CLONE_NEWUSER is added when
// not root).
var nsModes = []struct {
	mode  string
	flags uintptr
}{
	{"ipc", syscall.CLONE_NEWIPC},
	{"ipc+mnt", syscall.CLONE_NEWIPC | syscall.CLONE_NEWNS},
	{"ipc+net", syscall.CLONE_NEWIPC | syscall.CLONE_NEWNET},
	{"ipc+mnt+net", syscall.CLONE_NEWIPC | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET},
}

// nsProbeSpec tells a prober where the objects are.
type nsProbeSpec struct {
	Mode      string   `json:"mode"` // "control" or one of nsModes
	Objects   []string `json:"objects"`
	Mark      uint64   `json:"mark"` // written into every object that holds data
	ShmID     int      `json:"shm_id"`
	SemID     int      `json:"sem_id"`
	MsgID     int      `json:"msg_id"`
	MQName    string   `json:"mq_name"`
	PosixShm  string   `json:"posix_shm"` // file name in /dev/shm
	Memfd     string   `json:"memfd"`     // region handle
	SockPath  string   `json:"sock_path"`
	SockAbstr string   `json:"sock_abstract"` // without the leading NUL or @
}

type nsProbeResult struct {
	IPCNS string `json:"ipc_ns"`
	// SysVLeft counts the System V objects listed in /proc/sysvipc in the
	// prober's IPC namespace when it is done: a new namespace starts empty
	// and the prober makes nothing, so 0.
	SysVLeft int               `json:"sysv_left"`
	Saw      map[string]string `json:"saw"`
	Got      map[string]bool   `json:"got"`
}

var namespacesLab = Info{
	Name:    "namespaces",
	Summary: "which IPC objects a process in a new IPC namespace (a container) can still reach",
	Example: "ipcplay demo namespaces --json",
	Experiment: ipc.Experiment{Name: ExperimentPrefix + "namespaces", Validate: func(raw json.RawMessage, _ ipc.Limits) error {
		return decodeParams(raw, &struct{}{})
	}, Run: runNamespaces},
}

func init() {
	worker.Register("lab-ns-probe", nsProbe)
	renderers["namespaces"] = renderNamespaces
}

func runNamespaces(ctx context.Context, env *ipc.Env, raw json.RawMessage) (any, error) {
	if err := decodeParams(raw, &struct{}{}); err != nil {
		return nil, err
	}
	res := &NamespacesResult{
		Header: newHeader("namespaces", "An IPC namespace (what 'docker run' gives a container unless --ipc=host) isolates the objects found by a System V id or a POSIX message queue name. "+
			"It does not isolate files: POSIX shm in /dev/shm and Unix sockets with a path are reached through the filesystem, so the mount namespace decides; abstract socket names follow the network namespace; and a descriptor, once handed over, crosses everything."),
		UserNS: os.Geteuid() != 0,
	}
	res.HostIPCNS, _ = os.Readlink("/proc/self/ns/ipc")
	spec, err := nsMakeObjects(env)
	if err != nil {
		return res, err
	}
	var files []*os.File
	if spec.memfd != nil {
		files = []*os.File{spec.memfd.File()}
	}
	defer spec.close()

	// One control prober in our namespaces, then one per mode.
	var specs []worker.Spec
	ctl := spec.probe
	ctl.Mode = "control"
	for _, o := range nsObjects {
		ctl.Objects = append(ctl.Objects, o.name)
	}
	specs = append(specs, worker.Spec{Kind: "lab-ns-probe", Name: "control", Spec: ctl, Files: files})
	for _, m := range nsModes {
		s := spec.probe
		s.Mode = m.mode
		for _, o := range nsObjects {
			for _, pm := range o.probers {
				if pm == m.mode {
					s.Objects = append(s.Objects, o.name)
				}
			}
		}
		flags := m.flags
		if res.UserNS {
			flags |= syscall.CLONE_NEWUSER
		}
		specs = append(specs, worker.Spec{Kind: "lab-ns-probe", Name: "probe-" + m.mode, Spec: s, Files: files, Cloneflags: flags})
	}
	pctx, cancel := phase(ctx, 60*time.Second)
	defer cancel()
	env.Progress(0, 1, "probing")
	rs, err := env.RunWorkers(pctx, specs)
	if err != nil {
		if why, ok := nsRefusal(err, res.UserNS); ok {
			res.Unavailable = why
			res.Problems = []string{why}
			return res, fmt.Errorf("demo namespaces: %w: %s", ErrNamespacesUnavailable, why)
		}
		return res, fmt.Errorf("demo namespaces: %w", err)
	}
	env.Progress(1, 1, "done")
	probes := map[string]nsProbeResult{}
	for i, r := range rs {
		var p nsProbeResult
		if err := r.Decode(&p); err != nil {
			return res, err
		}
		probes[specs[i].Spec.(nsProbeSpec).Mode] = p
	}
	// The control must reach everything, or a "does not cross" below
	// would prove nothing.
	c := probes["control"]
	for _, o := range nsObjects {
		if !c.Got[o.name] {
			return res, fmt.Errorf("demo namespaces: the control prober, in our own namespaces, could not reach %s (%s): no row can be trusted", o.name, c.Saw[o.name])
		}
		res.Control = append(res.Control, o.name)
	}
	res.ProberIPCNS = probes["ipc"].IPCNS
	var problems []string
	for _, m := range nsModes {
		res.LeftInNew += probes[m.mode].SysVLeft
	}
	if res.LeftInNew != 0 {
		problems = append(problems, fmt.Sprintf("%d System V objects were in the new IPC namespaces, which should start empty", res.LeftInNew))
	}
	if res.ProberIPCNS == "" || res.ProberIPCNS == res.HostIPCNS {
		problems = append(problems, fmt.Sprintf("the prober's IPC namespace %q is not a new one (ours is %s)", res.ProberIPCNS, res.HostIPCNS))
	}
	for _, o := range nsObjects {
		for _, mode := range o.probers {
			p := probes[mode]
			exp, why := nsExpect(o.name, mode)
			row := NamespacesRow{Object: o.name, Namespaces: mode, Crosses: p.Got[o.name], Expected: exp, Saw: p.Saw[o.name], Why: why}
			row.Matches = row.Crosses == row.Expected
			if !row.Matches {
				problems = append(problems, fmt.Sprintf("%s into new %s: crosses %v, expected %v (%s)", o.name, mode, row.Crosses, row.Expected, row.Saw))
			}
			res.Rows = append(res.Rows, row)
		}
	}
	return res, res.verdict(problems)
}

// nsRefusal recognises the kernel refusing to create namespaces and
// says why and what would make it work.
func nsRefusal(err error, userNS bool) (string, bool) {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return "", false
	}
	fix := "run it as root (sudo), or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 where that sysctl exists, user.max_user_namespaces above 0, and on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0)"
	if !userNS {
		fix = "run it outside the sandbox, or in a container with CAP_SYS_ADMIN and a seccomp profile that allows clone with namespace flags (docker run --privileged, or --security-opt seccomp=unconfined --cap-add SYS_ADMIN)"
	}
	var why string
	switch errno {
	case syscall.EPERM:
		if userNS {
			why = "the kernel refused to create a user namespace for an unprivileged user (EPERM): unprivileged user namespaces are disabled here, or a seccomp filter or security module refuses them"
		} else {
			why = "the kernel refused to create new namespaces even as root (EPERM): a seccomp filter or a missing CAP_SYS_ADMIN (a container) refuses clone with namespace flags"
		}
	case syscall.ENOSPC:
		why = "the limit on namespaces is reached or 0 (ENOSPC): see /proc/sys/user/max_user_namespaces, max_ipc_namespaces, max_mnt_namespaces, max_net_namespaces"
	case syscall.EINVAL:
		why = "the kernel does not offer these namespaces (EINVAL): it was built without CONFIG_IPC_NS, CONFIG_USER_NS or CONFIG_NET_NS"
	case syscall.ENOSYS:
		why = "a sandbox does not offer clone with namespace flags (ENOSYS)"
	case syscall.EACCES:
		why = "the user namespace's uid/gid map could not be written (EACCES)"
	default:
		return "", false
	}
	return why + "; to make it work: " + fix, true
}

// nsObjectsMade are the run's objects, created in our namespaces.
type nsObjectsMade struct {
	probe    nsProbeSpec
	memfd    *shm.Region
	listener []net.Listener
	mq       *mq.POSIX
}

func (o *nsObjectsMade) close() {
	for _, l := range o.listener {
		l.Close()
	}
	if o.mq != nil {
		o.mq.Close()
	}
}

// nsMakeObjects creates one object of each kind through the run's Env
// (recorded in the ledger, removed at the end of the run) and marks each.
func nsMakeObjects(env *ipc.Env) (o *nsObjectsMade, err error) {
	o = &nsObjectsMade{}
	defer func() {
		if err != nil {
			o.close()
		}
	}()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return o, err
	}
	o.probe.Mark = binary.NativeEndian.Uint64(b[:]) | 1
	mark := func(r *shm.Region) { *r.Uint64(0) = o.probe.Mark }

	sysv, err := env.CreateRegion(shm.Spec{Kind: shm.SysV, Size: 4096})
	if err != nil {
		return o, err
	}
	mark(sysv)
	o.probe.ShmID = sysv.ID()

	set, err := env.CreateSemSet(1)
	if err != nil {
		return o, err
	}
	if err := set.SetVal(0, int(o.probe.Mark%30000)); err != nil {
		return o, err
	}
	o.probe.SemID = set.ID()

	q, err := mq.CreateSysV()
	if err != nil {
		return o, err
	}
	if err := env.Track(ledger.Entry{Type: ledger.SysVMsg, ID: q.ID()}, q.Remove); err != nil {
		_ = q.Remove()
		return o, err
	}
	o.probe.MsgID = q.ID()

	name := env.Name("mq")
	if err := env.Track(ledger.Entry{Type: ledger.POSIXMQ, ID: -1, Name: name}, func() error {
		if err := mq.UnlinkPOSIX(name); err != nil && !errors.Is(err, mq.ErrNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return o, err
	}
	if o.mq, err = mq.CreatePOSIX(name, 1, 64); err != nil {
		return o, err
	}
	o.probe.MQName = name

	ps, err := env.CreateRegion(shm.Spec{Kind: shm.POSIX, Size: 4096})
	if err != nil {
		return o, err
	}
	mark(ps)
	o.probe.PosixShm = strings.TrimPrefix(ps.Name(), "/")

	if o.memfd, err = env.CreateRegion(shm.Spec{Kind: shm.Memfd, Size: 4096}); err != nil {
		return o, err
	}
	mark(o.memfd)
	o.probe.Memfd = o.memfd.HandleAt(worker.FileFD(0))

	dir, err := env.TempDir()
	if err != nil {
		return o, err
	}
	o.probe.SockPath = filepath.Join(dir, "ns.sock")
	o.probe.SockAbstr = env.Name("ns")
	binary.NativeEndian.PutUint64(b[:], o.probe.Mark)
	for _, addr := range []string{o.probe.SockPath, "@" + o.probe.SockAbstr} {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
		if err != nil {
			return o, fmt.Errorf("listen on %s: %w", addr, err)
		}
		o.listener = append(o.listener, l)
		// Accept and answer with the mark, so a prober knows it reached
		// this very socket.
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				c.Write(b[:])
				c.Close()
			}
		}()
	}
	return o, nil
}

// nsProbe runs in the prober: it sets up its mount namespace if it has a
// new one, then tries every object it was given.
func nsProbe(ctx context.Context, c *worker.Child) (any, error) {
	var s nsProbeSpec
	if err := c.Spec(&s); err != nil {
		return nil, err
	}
	res := nsProbeResult{Saw: map[string]string{}, Got: map[string]bool{}}
	res.IPCNS, _ = os.Readlink("/proc/self/ns/ipc")
	if strings.Contains(s.Mode, "mnt") {
		// Make our copy of the mounts private first, or a mount here
		// would propagate back to the original namespace (systemd makes
		// / shared); then hide /dev/shm under a fresh tmpfs.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return nil, fmt.Errorf("make mounts private: %w", os.NewSyscallError("mount", err))
		}
		if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777,size=1m"); err != nil {
			return nil, fmt.Errorf("mount a fresh tmpfs on /dev/shm: %w", os.NewSyscallError("mount", err))
		}
	}
	if err := c.Ready(ctx); err != nil {
		return nil, err
	}
	for _, o := range s.Objects {
		saw, err := nsTry(o, s)
		switch {
		case err != nil:
			var errno syscall.Errno
			if errors.As(err, &errno) {
				saw = fmt.Sprintf("%s (%v)", unix.ErrnoName(errno), err)
			} else {
				saw = err.Error()
			}
		default:
			res.Got[o] = true
		}
		res.Saw[o] = saw
	}
	n, err := sysvCount()
	if err != nil {
		return nil, err
	}
	res.SysVLeft = n
	return res, nil
}

// sysvCount counts the System V objects of this IPC namespace
// (/proc/sysvipc/* list the caller's namespace only).
func sysvCount() (int, error) {
	n := 0
	for _, f := range []string{"shm", "sem", "msg"} {
		b, err := os.ReadFile("/proc/sysvipc/" + f)
		if err != nil {
			return 0, err
		}
		lines := strings.Count(strings.TrimSpace(string(b)), "\n") // minus the header line
		n += lines
	}
	return n, nil
}

// nsTry reaches one object and checks it is the one made (its mark); it
// returns what it saw, or the error.
func nsTry(object string, s nsProbeSpec) (string, error) {
	check := func(got uint64) (string, error) {
		if got != s.Mark {
			return "", fmt.Errorf("reached an object, but not ours: mark %#x, want %#x", got, s.Mark)
		}
		return fmt.Sprintf("read the mark %#x", got), nil
	}
	switch object {
	case "sysv-shm":
		mem, err := unix.SysvShmAttach(s.ShmID, 0, unix.SHM_RDONLY)
		if err != nil {
			return "", fmt.Errorf("shmat id %d: %w", s.ShmID, err)
		}
		defer unix.SysvShmDetach(mem)
		return check(binary.NativeEndian.Uint64(mem))
	case "sysv-sem":
		set, err := semaphore.OpenSet(s.SemID)
		if err != nil {
			return "", err
		}
		v, err := set.Val(0)
		if err != nil {
			return "", err
		}
		if v != int(s.Mark%30000) {
			return "", fmt.Errorf("reached a set, but not ours: value %d", v)
		}
		return fmt.Sprintf("semaphore 0 has our value %d", v), nil
	case "sysv-msg":
		q, err := mq.OpenSysV(s.MsgID)
		if err != nil {
			return "", err
		}
		st, err := q.Stat()
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("msgctl IPC_STAT: mode %#o, %d messages", st.Mode, st.Messages), nil
	case "posix-mq":
		q, err := mq.OpenPOSIX(s.MQName)
		if err != nil {
			return "", err
		}
		defer q.Close()
		a, err := q.Attr()
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("mq_open: maxmsg %d, msgsize %d", a.MaxMsg, a.MsgSize), nil
	case "posix-shm":
		f, err := os.OpenFile("/dev/shm/"+s.PosixShm, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		var b [8]byte
		if _, err := io.ReadFull(f, b[:]); err != nil {
			return "", err
		}
		return check(binary.NativeEndian.Uint64(b[:]))
	case "memfd":
		r, err := shm.Open(s.Memfd)
		if err != nil {
			return "", err
		}
		defer r.Close()
		return check(*r.Uint64(0))
	case "unix-path", "unix-abstract":
		addr := s.SockPath
		if object == "unix-abstract" {
			addr = "@" + s.SockAbstr
		}
		c, err := net.DialTimeout("unix", addr, 5*time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		var b [8]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return "", err
		}
		return check(binary.NativeEndian.Uint64(b[:]))
	}
	return "", fmt.Errorf("unknown object %q", object)
}

func renderNamespaces(w io.Writer, doc json.RawMessage) error {
	var r NamespacesResult
	if err := decodeDoc(doc, &r); err != nil {
		return err
	}
	if r.Unavailable != "" {
		fmt.Fprint(w, wrap("No result: "+r.Unavailable, 78))
		return nil
	}
	user := ""
	if r.UserNS {
		user = " (each also in a new user namespace where it is root, mapped to our uid outside, since ipcplay is not root)"
	}
	fmt.Fprint(w, wrap(fmt.Sprintf("The objects were made in our IPC namespace %s; a prober in the same namespaces reached all %d of them. "+
		"Probers in new namespaces%s then tried; the IPC namespace of the first was %s.", r.HostIPCNS, len(r.Control), user, r.ProberIPCNS), 78))
	fmt.Fprintln(w)
	labels := map[string]string{}
	for _, o := range nsObjects {
		labels[o.name] = o.label
	}
	rows := make([][]string, 0, len(r.Rows))
	for _, row := range r.Rows {
		rows = append(rows, []string{labels[row.Object], "new " + row.Namespaces, yesNo2(row.Crosses), yesNo2(row.Expected), yesNo(row.Matches)})
	}
	table(w, []string{"OBJECT", "PROBER IN", "CROSSES", "EXPECTED", "MATCHES"}, rows)
	fmt.Fprintln(w)
	for _, row := range r.Rows {
		fmt.Fprint(w, wrap("- "+labels[row.Object]+", new "+row.Namespaces+": "+row.Saw+". "+row.Why, 78))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, wrap(fmt.Sprintf("Left behind: %d System V objects in the new IPC namespaces when their probers were done (they make nothing; a namespace and whatever it still holds are freed with its last process or reference, so nothing there could outlive the run), and the objects made in ours are removed with the run.", r.LeftInNew), 78))
	return nil
}

func yesNo2(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
