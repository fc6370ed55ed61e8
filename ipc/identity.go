package ipc

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/ipcplay/ipcplay/ipc/ledger"
)

// Identity of ledger objects: recorded once an object exists, checked
// before the reaper removes it. A System V id is reused by the kernel
// (and a name can be reused by anyone): an object whose identity does
// not match, or was never recorded, is left alone.

// errGone: the object of an entry no longer exists.
var errGone = errors.New("no longer exists")

// identityOf reads the identity of the object e names, now.
func identityOf(e ledger.Entry) (*ledger.Identity, error) {
	switch e.Type {
	case ledger.SysVShm, ledger.SysVSem, ledger.SysVMsg:
		return sysvIdentity(strings.TrimPrefix(e.Type, "sysv-"), e.ID)
	}
	path, withCTime := identityPath(e)
	if path == "" {
		return nil, fmt.Errorf("the identity of a %s cannot be read without an mqueue file system mounted", e.Type)
	}
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS|unix.STATX_BTIME, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, errGone
		}
		return nil, &os.PathError{Op: "statx", Path: path, Err: err}
	}
	id := &ledger.Identity{CUID: int(st.Uid), Dev: unix.Mkdev(st.Dev_major, st.Dev_minor), Ino: st.Ino}
	if st.Mask&unix.STATX_BTIME != 0 {
		id.BTime = st.Btime.Sec*1e9 + int64(st.Btime.Nsec)
	}
	if withCTime {
		id.CTime = st.Ctime.Sec*1e9 + int64(st.Ctime.Nsec)
	}
	return id, nil
}

// identityPath is the file of a named entry, and whether its ctime stays
// put while the object is used (see ledger.Identity): on tmpfs, writes
// through a mapping move it.
func identityPath(e ledger.Entry) (string, bool) {
	switch e.Type {
	case ledger.POSIXShm:
		return "/dev/shm/" + e.Name, false
	case ledger.POSIXSem:
		return "/dev/shm/sem." + e.Name, false
	case ledger.POSIXMQ:
		if mnt := mqueueMount(); mnt != "" {
			return mnt + "/" + e.Name, false
		}
		return "", false
	case ledger.UnixSocket:
		return e.Name, true
	}
	return e.Name, false // file, dir
}

// mqueueMount is where an mqueue file system is mounted, or "".
func mqueueMount() string {
	var st unix.Statfs_t
	if unix.Statfs("/dev/mqueue", &st) == nil && st.Type == 0x19800202 { // MQUEUE_MAGIC
		return "/dev/mqueue"
	}
	return ""
}

// sysvIdentity reads the row of id in /proc/sysvipc/KIND (readable by
// anyone, whatever the object's mode).
func sysvIdentity(kind string, id int) (*ledger.Identity, error) {
	b, err := os.ReadFile("/proc/sysvipc/" + kind)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 1 {
		return nil, fmt.Errorf("/proc/sysvipc/%s is empty", kind)
	}
	header := strings.Fields(lines[0])
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	idCol := map[string]string{"shm": "shmid", "sem": "semid", "msg": "msqid"}[kind]
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) != len(header) || f[col[idCol]] != strconv.Itoa(id) {
			continue
		}
		num := func(name string) int64 {
			i, ok := col[name]
			if !ok {
				return 0
			}
			v, _ := strconv.ParseInt(f[i], 10, 64)
			return v
		}
		ident := &ledger.Identity{Key: num("key"), CUID: int(num("cuid")), CTime: num("ctime")}
		switch kind {
		case "shm":
			ident.CPID = int(num("cpid"))
		case "sem":
			ident.NSems = int(num("nsems"))
		}
		return ident, nil
	}
	return nil, errGone
}

// verdict is what the reaper may do with an entry's object.
type verdict int

const (
	vOurs     verdict = iota // identity proved: remove it
	vGone                    // no object with that id or name any more
	vNotOurs                 // another object has the id or name now
	vUnproved                // cannot tell: no identity recorded, or it cannot be read
)

// LeftAlone reasons, as the reports print them.
const (
	ReasonNotOurs  = "not ours (id reused)"
	reasonUnproved = "cannot prove it is ours"
)

// prove compares the entry's recorded identity with the object's now.
func prove(e ledger.Entry) (verdict, string) {
	now, err := identityOf(e)
	switch {
	case errors.Is(err, errGone):
		return vGone, ""
	case err != nil:
		return vUnproved, fmt.Sprintf("%s: %v", reasonUnproved, err)
	case e.Identity == nil:
		return vUnproved, reasonUnproved + ": no identity was recorded at creation (a crash right after creating it, or an older ledger)"
	}
	rec := *e.Identity
	var diffs []string
	if now.Key != rec.Key {
		diffs = append(diffs, fmt.Sprintf("key 0x%08x, recorded 0x%08x", uint32(now.Key), uint32(rec.Key)))
	}
	if now.CUID != rec.CUID {
		diffs = append(diffs, fmt.Sprintf("creator/owner uid %d, recorded %d", now.CUID, rec.CUID))
	}
	if now.CPID != rec.CPID {
		diffs = append(diffs, fmt.Sprintf("creator pid %d, recorded %d", now.CPID, rec.CPID))
	}
	if now.NSems != rec.NSems {
		diffs = append(diffs, fmt.Sprintf("%d semaphores, recorded %d", now.NSems, rec.NSems))
	}
	if now.Dev != rec.Dev || now.Ino != rec.Ino {
		diffs = append(diffs, fmt.Sprintf("inode %d on device %d, recorded %d on %d", now.Ino, now.Dev, rec.Ino, rec.Dev))
	}
	if now.BTime != rec.BTime {
		diffs = append(diffs, fmt.Sprintf("born %d, recorded %d", now.BTime, rec.BTime))
	}
	if now.CTime != rec.CTime {
		diffs = append(diffs, fmt.Sprintf("ctime %d, recorded %d", now.CTime, rec.CTime))
	}
	if len(diffs) > 0 {
		what := "id"
		if e.Name != "" {
			what = "name"
		}
		return vNotOurs, fmt.Sprintf("not ours (%s reused): %s", what, strings.Join(diffs, "; "))
	}
	return vOurs, ""
}

// identify records the identity of the object of e, which now exists.
func (env *Env) identify(e *ledger.Entry) {
	id, err := identityOf(*e)
	if err != nil {
		env.Log.Warn("cannot record the identity of an object: a crash would leave it to be removed by hand", "object", Describe(*e), "error", err)
		return
	}
	e.Identity = id
	if err := env.engine.ledger.SetIdentity(*e, id); err != nil {
		env.Log.Warn("cannot record the identity of an object", "object", Describe(*e), "error", err)
	}
}
