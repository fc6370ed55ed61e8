package shm

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// procSysKernel holds the System V limits; tests point it elsewhere.
var procSysKernel = "/proc/sys/kernel"

// shmDir is where POSIX shared memory objects live (glibc's shm_open).
const shmDir = "/dev/shm"

// memfdFallbackMax bounds memfd sizes when sysinfo(2) is unavailable.
const memfdFallbackMax = 1 << 40

// readLimit reads an unsigned number from procSysKernel/name.
func readLimit(name string) (uint64, bool) {
	b, err := os.ReadFile(procSysKernel + "/" + name)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// checkSysVLimits refuses sizes the kernel would refuse, naming the limit:
// above kernel.shmmax (EINVAL) or needing more pages than kernel.shmall
// (ENOSPC). Unreadable limits are left to the kernel.
func checkSysVLimits(op string, size int) error {
	if max, ok := readLimit("shmmax"); ok && uint64(size) > max {
		return limitErr(op, fmt.Sprintf("larger than kernel.shmmax (%d bytes, %s); raise it with sysctl, or use memfd or posix",
			max, humanBytes(max)), unix.EINVAL)
	}
	page := uint64(os.Getpagesize())
	pages := (uint64(size) + page - 1) / page
	if all, ok := readLimit("shmall"); ok && pages > all {
		return limitErr(op, fmt.Sprintf("needs %d pages, more than kernel.shmall (%d pages of %d bytes in all segments); raise it with sysctl, or use memfd or posix",
			pages, all, page), unix.ENOSPC)
	}
	return nil
}

// freeSpace returns the bytes available to us on the file system holding
// dir; limited is false for file systems that report no size (tmpfs with
// size=0 is unlimited).
func freeSpace(dir string) (free uint64, limited bool, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	if st.Blocks == 0 {
		return 0, false, nil
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true, nil
}

// checkFree refuses sizes larger than the free space of dir (ENOSPC).
func checkFree(op, dir string, size int) error {
	free, limited, err := freeSpace(dir)
	if err != nil || !limited || uint64(size) <= free {
		return nil
	}
	return limitErr(op, noSpaceWhy(dir, free), unix.ENOSPC)
}

// noSpaceWhy explains a full file system in words.
func noSpaceWhy(dir string, free uint64) string {
	why := fmt.Sprintf("only %s free on %s", humanBytes(free), dir)
	if dir == shmDir {
		why += " (containers default to 64 MiB; docker run --shm-size raises it)"
	}
	return why
}

// noSpaceNow is noSpaceWhy with the free space measured now.
func noSpaceNow(dir string) string {
	free, limited, err := freeSpace(dir)
	if err != nil || !limited {
		return dir + " is full"
	}
	return noSpaceWhy(dir, free)
}

// memLimit is the largest memfd we agree to create: the machine's RAM.
func memLimit() uint64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil || si.Totalram == 0 {
		return memfdFallbackMax
	}
	unit := uint64(si.Unit)
	if unit == 0 {
		unit = 1
	}
	return uint64(si.Totalram) * unit
}

// humanBytes formats n in the largest binary unit it reaches, e.g.
// "64 MiB", "23.5 GiB", "512 bytes".
func humanBytes(n uint64) string {
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	u, div := 0, uint64(1024)
	for u < len(units)-1 && n/div >= 1024 {
		div *= 1024
		u++
	}
	if n%div == 0 {
		return fmt.Sprintf("%d %s", n/div, units[u])
	}
	return fmt.Sprintf("%.1f %s", float64(n)/float64(div), units[u])
}
