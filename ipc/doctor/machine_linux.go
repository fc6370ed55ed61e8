package doctor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

var machineChecks = []func() []Check{
	kernelCheck,
	devShmCheck,
	sysvShmLimits,
	sysvSemLimits,
	sysvMsgLimits,
	mqueueCheck,
	removeIPCCheck,
	cpuChecks,
	namespaceChecks,
}

func kernelCheck() []Check {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return []Check{{Name: "kernel", Status: Warn, Detail: err.Error()}}
	}
	rel := unix.ByteSliceToString(u.Release[:])
	machine := unix.ByteSliceToString(u.Machine[:])
	c := Check{Name: "kernel", Status: OK, Detail: fmt.Sprintf("Linux %s %s", rel, machine)}
	var major, minor int
	fmt.Sscanf(rel, "%d.%d", &major, &minor)
	if major < 4 || (major == 4 && minor < 14) {
		c.Status = Warn
		c.Advice = "kernels older than 4.14 lack some calls ipcplay uses (memfd sealing, pidfd); expect some labs to fail"
	}
	return []Check{c}
}

// mountOf returns the filesystem type mounted exactly at dir, or "".
func mountOf(dir string) string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	fstype := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint options ... - fstype source opts
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || fields[4] != dir {
			continue
		}
		for i, x := range fields {
			if x == "-" && i+1 < len(fields) {
				fstype = fields[i+1] // the last mount on dir wins
			}
		}
	}
	return fstype
}

func mib(b uint64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func devShmCheck() []Check {
	fstype := mountOf("/dev/shm")
	if fstype == "" {
		return []Check{{Name: "/dev/shm", Status: Fail, Detail: "not mounted",
			Advice: "POSIX shared memory and named semaphores live there: mount -t tmpfs -o mode=1777 tmpfs /dev/shm"}}
	}
	var st unix.Statfs_t
	if err := unix.Statfs("/dev/shm", &st); err != nil {
		return []Check{{Name: "/dev/shm", Status: Warn, Detail: fmt.Sprintf("statfs: %v", err)}}
	}
	total := st.Blocks * uint64(st.Bsize)
	free := st.Bavail * uint64(st.Bsize)
	c := Check{Name: "/dev/shm", Status: OK, Detail: fmt.Sprintf("%s, %s total, %s free", fstype, mib(total), mib(free))}
	switch {
	case free < 16<<20:
		c.Status = Fail
		c.Advice = "less than 16 MiB free: POSIX regions and benchmarks with large messages will fail with ENOSPC; remove old files or enlarge /dev/shm"
	case total <= 64<<20:
		c.Status = Warn
		c.Advice = "64 MiB is the container default (docker --shm-size): large regions fail with ENOSPC; use --shm memfd, or run the container with --shm-size=1g"
	}
	return []Check{c}
}

func readInts(path string) ([]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a number", path, f)
		}
		out = append(out, n)
	}
	return out, nil
}

func sysctl(name string) (uint64, error) {
	v, err := readInts(filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/")))
	if err != nil {
		return 0, err
	}
	if len(v) == 0 {
		return 0, fmt.Errorf("%s is empty", name)
	}
	return v[0], nil
}

func human(n uint64) string {
	switch {
	case n >= 1<<60:
		return "unlimited"
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return strconv.FormatUint(n, 10)
}

func sysvShmLimits() []Check {
	max, err1 := sysctl("kernel.shmmax")
	all, err2 := sysctl("kernel.shmall")
	mni, err3 := sysctl("kernel.shmmni")
	if err1 != nil || err2 != nil || err3 != nil {
		return []Check{{Name: "sysv shm limits", Status: Warn, Detail: "cannot read kernel.shm*: /proc/sys/kernel is hidden (a sandbox?)"}}
	}
	page := uint64(os.Getpagesize())
	c := Check{Name: "sysv shm limits", Status: OK,
		Detail: fmt.Sprintf("shmmax %s per segment, shmall %s in all, shmmni %d segments", human(max), human(all*page), mni)}
	if max < 16<<20 || all*page < 64<<20 {
		c.Status = Warn
		c.Advice = "small System V limits: use --shm memfd or posix, or raise kernel.shmmax/shmall with sysctl"
	}
	return []Check{c}
}

func sysvSemLimits() []Check {
	v, err := readInts("/proc/sys/kernel/sem")
	if err != nil || len(v) != 4 {
		return []Check{{Name: "sysv sem limits", Status: Warn, Detail: "cannot read kernel.sem"}}
	}
	c := Check{Name: "sysv sem limits", Status: OK,
		Detail: fmt.Sprintf("semmsl %d per set, semmns %d in all, semopm %d per call, semmni %d sets", v[0], v[1], v[2], v[3])}
	if v[3] < 16 || v[0] < 2 {
		c.Status = Warn
		c.Advice = "very low semaphore limits: raise kernel.sem with sysctl"
	}
	return []Check{c}
}

func sysvMsgLimits() []Check {
	max, err1 := sysctl("kernel.msgmax")
	mnb, err2 := sysctl("kernel.msgmnb")
	mni, err3 := sysctl("kernel.msgmni")
	if err1 != nil || err2 != nil || err3 != nil {
		return []Check{{Name: "sysv msg limits", Status: Warn, Detail: "cannot read kernel.msg*"}}
	}
	return []Check{{Name: "sysv msg limits", Status: OK,
		Detail: fmt.Sprintf("msgmax %s per message, msgmnb %s per queue, msgmni %d queues", human(max), human(mnb), mni)}}
}

func mqueueCheck() []Check {
	var out []Check
	if fstype := mountOf("/dev/mqueue"); fstype == "" {
		out = append(out, Check{Name: "/dev/mqueue", Status: Info, Detail: "not mounted",
			Advice: "POSIX message queues still work, but nobody can list them: mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue (as root)"})
	} else {
		out = append(out, Check{Name: "/dev/mqueue", Status: OK, Detail: "mounted (" + fstype + ")"})
	}
	msgMax, e1 := sysctl("fs.mqueue.msg_max")
	sizeMax, e2 := sysctl("fs.mqueue.msgsize_max")
	qMax, e3 := sysctl("fs.mqueue.queues_max")
	var rl unix.Rlimit
	e4 := unix.Getrlimit(unix.RLIMIT_MSGQUEUE, &rl)
	if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
		out = append(out, Check{Name: "posix mq limits", Status: Warn, Detail: "cannot read fs.mqueue.* or RLIMIT_MSGQUEUE"})
		return out
	}
	c := Check{Name: "posix mq limits", Status: OK,
		Detail: fmt.Sprintf("msg_max %d messages, msgsize_max %s, queues_max %d, RLIMIT_MSGQUEUE %s", msgMax, human(sizeMax), qMax, human(rl.Cur))}
	if rl.Cur < 64<<10 {
		c.Status = Warn
		c.Advice = "RLIMIT_MSGQUEUE is small: queues with large messages fail with EMFILE/ENOMEM; raise it with ulimit -q"
	}
	return append(out, c)
}
