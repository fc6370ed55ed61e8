package doctor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// systemd-logind's RemoveIPC, read the way logind reads it.
//
// logind.conf(5): the main file is the first of /etc/systemd/logind.conf,
// /run/systemd/logind.conf, /usr/local/lib/systemd/logind.conf and
// /usr/lib/systemd/logind.conf that exists; then the drop-ins
// logind.conf.d/*.conf of /etc/systemd, /run/systemd,
// /usr/local/lib/systemd and /usr/lib/systemd, all sorted together by file
// name, are read after it, so that the last assignment in that order wins.
// A drop-in name present in several directories is taken from the first of
// them (/etc over /run over /usr/local/lib over /usr/lib); one that is a
// symlink to /dev/null, or empty, masks the others. Booleans are systemd's
// (parse_boolean in src/basic/parse-util.c): 1, yes, y, true, t, on and 0,
// no, n, false, f, off, in any case; another value is ignored with a
// warning, as logind does. The compiled-in default is yes.

// logindConfDirs are the configuration directories in priority order.
var logindConfDirs = []string{"/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd"}

// removeIPCConf is what the files say.
type removeIPCConf struct {
	Value  bool
	Source string   // "file line N", or "compiled-in default (no file sets it)"
	Notes  []string // assignments ignored, and why
}

// parseSystemdBool is systemd's parse_boolean.
func parseSystemdBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "1", "yes", "y", "true", "t", "on":
		return true, nil
	case "0", "no", "n", "false", "f", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (1/yes/y/true/t/on or 0/no/n/false/f/off)", s)
}

// logindConfFiles lists the files logind reads, in the order it applies
// them, under root ("" for the real machine).
func logindConfFiles(root string) []string {
	var files []string
	for _, d := range logindConfDirs {
		p := filepath.Join(root, d, "logind.conf")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
			break
		}
	}
	byName := map[string]string{}
	for _, d := range logindConfDirs {
		ents, _ := os.ReadDir(filepath.Join(root, d, "logind.conf.d"))
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".conf") {
				continue
			}
			if _, seen := byName[e.Name()]; !seen {
				byName[e.Name()] = filepath.Join(root, d, "logind.conf.d", e.Name())
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := byName[n]
		if t, err := os.Readlink(p); err == nil && t == "/dev/null" {
			continue // masked
		}
		files = append(files, p)
	}
	return files
}

// compiledInDefault is removeIPCConf.Source when no file sets RemoveIPC.
const compiledInDefault = "compiled-in default (no file sets it)"

// says is what the files say, in a sentence that is true whether a file
// sets RemoveIPC ("the files say RemoveIPC=no (/etc/… line 3)") or none
// does ("no file sets RemoveIPC; logind's compiled-in default is yes").
func (c removeIPCConf) says() string {
	if c.Source == compiledInDefault {
		return "no file sets RemoveIPC; logind's compiled-in default is yes"
	}
	return fmt.Sprintf("the files say RemoveIPC=%s (%s)", map[bool]string{true: "yes", false: "no"}[c.Value], c.Source)
}

// readRemoveIPC applies the files under root as logind does.
func readRemoveIPC(root string) removeIPCConf {
	c := removeIPCConf{Value: true, Source: compiledInDefault}
	for _, path := range logindConfFiles(root) {
		f, err := os.Open(path)
		if err != nil {
			c.Notes = append(c.Notes, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		sc := bufio.NewScanner(f)
		section, lineNo, start := "", 0, 0
		var cont strings.Builder
		for sc.Scan() {
			lineNo++
			line := sc.Text()
			if cont.Len() == 0 {
				start = lineNo
			}
			// A line ending in a backslash continues on the next one.
			if strings.HasSuffix(line, "\\") {
				cont.WriteString(strings.TrimSuffix(line, "\\") + " ")
				continue
			}
			cont.WriteString(line)
			line = strings.TrimSpace(cont.String())
			cont.Reset()
			switch {
			case line == "" || line[0] == '#' || line[0] == ';':
				continue
			case line[0] == '[':
				section = strings.TrimSuffix(strings.TrimPrefix(line, "["), "]")
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok || section != "Login" || strings.TrimSpace(k) != "RemoveIPC" {
				continue
			}
			b, err := parseSystemdBool(strings.TrimSpace(v))
			if err != nil {
				c.Notes = append(c.Notes, fmt.Sprintf("%s line %d ignored: %v", path, start, err))
				continue
			}
			c.Value, c.Source = b, fmt.Sprintf("%s line %d", path, start)
		}
		f.Close()
	}
	return c
}

// askLogind reads the RemoveIPC property of a running systemd-logind over
// the system bus, with busctl. ok is false when it cannot be asked.
func askLogind(ctx context.Context) (value, ok bool, err error) {
	if _, err := os.Stat("/run/dbus/system_bus_socket"); err != nil {
		return false, false, nil
	}
	bin, err := exec.LookPath("busctl")
	if err != nil {
		return false, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--system", "get-property", "org.freedesktop.login1",
		"/org/freedesktop/login1", "org.freedesktop.login1.Manager", "RemoveIPC").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = errors.New(strings.TrimSpace(string(ee.Stderr)))
		}
		return false, false, err
	}
	return parseBusctlBool(string(out))
}

// parseBusctlBool reads busctl's "b true" / "b false".
func parseBusctlBool(s string) (value, ok bool, err error) {
	switch strings.TrimSpace(s) {
	case "b true":
		return true, true, nil
	case "b false":
		return false, true, nil
	}
	return false, false, fmt.Errorf("busctl answered %q, not a boolean", strings.TrimSpace(s))
}

// removeIPCCheck reports systemd-logind's RemoveIPC: when yes (the default
// since systemd 212), logind deletes a non-system user's IPC objects when
// that user's last session ends — a daemon of that user loses its objects.
// A running logind is asked (its D-Bus property, through busctl); else the
// configuration files are read as logind would read them.
func removeIPCCheck() []Check {
	return removeIPCReport(readRemoveIPC(""), logindRunning(), askLogind, os.Geteuid())
}

// logindRunning: systemd is the init system (sd_booted's test).
func logindRunning() bool {
	_, err := os.Stat("/run/systemd/system")
	return err == nil
}

func removeIPCReport(conf removeIPCConf, systemd bool, ask func(context.Context) (bool, bool, error), euid int) []Check {
	c := Check{Name: "logind RemoveIPC", Status: Info}
	word := map[bool]string{true: "yes", false: "no"}
	value := conf.Value
	switch v, ok, err := ask(context.Background()); {
	case ok:
		value = v
		c.Detail = fmt.Sprintf("RemoveIPC=%s (asked systemd-logind: its D-Bus property, through busctl)", word[v])
		if v != conf.Value {
			c.Detail += "; " + conf.says() + ": logind has not reloaded its configuration"
		}
	case !systemd:
		c.Detail = "systemd is not running here: nothing removes IPC objects at logout (" + conf.says() + ")"
		value = false
	default:
		c.Detail = fmt.Sprintf("RemoveIPC=%s (%s)", word[conf.Value], conf.says())
		if err != nil {
			c.Detail += fmt.Sprintf("; logind could not be asked: %v", err)
		}
	}
	if len(conf.Notes) > 0 {
		c.Detail += "; " + strings.Join(conf.Notes, "; ")
	}
	if value && euid >= 1000 {
		c.Status = Warn
		c.Advice = "logind removes your System V and POSIX IPC objects when your last session ends: a daemon started from a login session loses them at logout (set RemoveIPC=no, or run the daemon as a system user)"
	}
	return []Check{c}
}
