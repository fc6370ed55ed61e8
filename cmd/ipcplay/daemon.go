package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/ipcplay/ipcplay/ipc"
	"github.com/ipcplay/ipcplay/ipc/web"
	"github.com/ipcplay/ipcplay/sockets"
)

// shutdownTimeout bounds the daemon's shutdown: runs are cancelled, their
// workers get their stop grace and are then killed, objects removed.
const shutdownTimeout = 30 * time.Second

var daemonCommand = &cli.Command{
	Name:  "daemon",
	Usage: "serve the engine on the control socket (foreground; for a terminal or systemd)",
	UsageText: `ipcplay daemon [--socket PATH] [--state-dir DIR] [--max-procs N] [--max-shm BYTES] [--max-runs N] [--run-timeout D]
       [--http [HOST:]PORT [--http-allow-remote]]

Examples:
   ipcplay daemon                                # on the default socket
   ipcplay daemon --max-runs 2 --max-shm 512M    # tighter limits for a shared lab machine
   ipcplay daemon --http 8080                    # and the live page on http://127.0.0.1:8080 (the URL with its token is logged)`,
	Description: `The daemon runs the experiments the CLI asks for while it answers on the
socket; the CLI uses it when it answers and runs the engine in-process
otherwise. SIGINT or SIGTERM cancel every run, stop its workers, remove
every object and the socket, and exit 0; a second one exits at once, and
the next start or 'ipcplay clean' removes what is left. SIGHUP is logged
and ignored.
Runs beyond --max-runs wait in a queue. Without a daemon, the CLI's embedded
engine has the same default limits, and reads the same IPCPLAY_MAX_PROCS,
IPCPLAY_MAX_SHM, IPCPLAY_MAX_RUNS and IPCPLAY_RUN_TIMEOUT.
--http serves a live page (runs, results, charts, the race's interleaving,
objects, a form to start runs) on loopback; the daemon logs its URL with a
random token, and 'ipcplay status' shows it. Without the token every request
is refused. A non-loopback address needs --http-allow-remote.`,
	Flags: []cli.Flag{
		&cli.StringFlag{Name: "state-dir", Usage: "private `DIR` of the ledger (default: the socket's directory; for an abstract @name socket, the default socket's)", EnvVars: []string{"IPCPLAY_STATE_DIR"}},
		&cli.IntFlag{Name: "max-procs", Value: ipc.DefaultLimits().MaxProcs, Usage: fmt.Sprintf("workers per run, processes or the threads of a thread run (%d to %d)", ipc.MinProcs, ipc.MaxProcsLimit), EnvVars: []string{ipc.EnvMaxProcs}},
		&cli.StringFlag{Name: "max-shm", Value: formatBytes(ipc.DefaultLimits().MaxShmBytes), Usage: "shared memory per run, in `BYTES` or with a unit: 512M, 1G (4K to 1T)", EnvVars: []string{ipc.EnvMaxShm}},
		&cli.IntFlag{Name: "max-runs", Value: ipc.DefaultLimits().MaxRuns, Usage: fmt.Sprintf("runs at once; more wait in a queue (%d to %d)", ipc.MinRuns, ipc.MaxRunsLimit), EnvVars: []string{ipc.EnvMaxRuns}},
		&cli.DurationFlag{Name: "run-timeout", Value: ipc.DefaultLimits().RunTimeout, Usage: fmt.Sprintf("longest a run may take; a run past it is stopped and its objects removed (%s to %s)", ipc.MinRunTimeout, ipc.MaxRunTimeout), EnvVars: []string{ipc.EnvRunTimeout}},
		&cli.StringFlag{Name: "http", Usage: "serve the live page on `[HOST:]PORT` (HOST defaults to 127.0.0.1; a token is required)"},
		&cli.BoolFlag{Name: "http-allow-remote", Usage: "allow a non-loopback --http address (the token is still required; there is no TLS)"},
		// A daemon logs what it does by default.
		&cli.StringFlag{Name: "log-level", Value: "info", Usage: "trace|debug|info|warn|error|off [$IPCPLAY_LOG_LEVEL]"},
	},
	Action: runDaemon,
}

func runDaemon(c *cli.Context) error {
	// SIGINT and SIGTERM end c.Context (main); SIGHUP must not kill us.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	if err := usageArgs(c, 0, 0, "no arguments"); err != nil {
		return err
	}
	lim, err := daemonLimits(c)
	if err != nil {
		return err
	}
	socket := socketPath(c)
	stateDir := c.String("state-dir")
	if stateDir == "" {
		stateDir = ipc.DefaultStateDir(socket)
	}
	log := logger.Named("daemon")
	if c.Bool("http-allow-remote") && c.String("http") == "" {
		return ipc.Usagef("--http-allow-remote: only with --http ADDR")
	}
	// The page's address is checked (and bound) before anything else
	// exists: a refused address creates nothing.
	var httpLn net.Listener
	if addr := c.String("http"); addr != "" {
		if httpLn, err = web.Listen(addr, c.Bool("http-allow-remote")); err != nil {
			return err
		}
		defer httpLn.Close()
	}

	// Nothing exists before the limits are checked; now the socket.
	if err := checkPrivateDir(stateDir, stateDirSource(c, stateDir, socket)); err != nil {
		return err
	}
	if !strings.HasPrefix(socket, "@") {
		if err := checkPrivateDir(filepath.Dir(socket), "the socket's directory (--socket or IPCPLAY_SOCKET)"); err != nil {
			return err
		}
		if err := sockets.EnsurePrivateDir(filepath.Dir(socket)); err != nil {
			return fmt.Errorf("socket directory: %w", err)
		}
	}
	l, err := sockets.Listen(sockets.Stream, socket)
	if errors.Is(err, sockets.ErrInUse) {
		return fmt.Errorf("another daemon is already serving %s (stop it first, or give this one another --socket)", socket)
	}
	if err != nil {
		return err
	}
	defer l.Close()

	cfg := engineConfig(c, ipc.EngineDaemon)
	cfg.StateDir, cfg.Socket, cfg.Limits = stateDir, socket, lim
	e, err := newEngineFrom(cfg, stateDirSource(c, stateDir, socket)) // removes what crashed runs leaked
	if err != nil {
		return err
	}
	srv := ipc.NewServer(e, logger.Named("server"))
	var page *web.Server
	pageDone := make(chan error, 1)
	if httpLn != nil {
		if page, err = web.New(httpLn, webConfig(e)); err != nil {
			_ = e.Close()
			return err
		}
		e.SetHTTPURL(page.URL())
		go func() { pageDone <- page.Serve() }()
		// Like Jupyter: the URL with its token, to open or to paste.
		log.Info("serving the live page; open it with its token", "url", page.URL())
	}

	go func() {
		for range hup {
			log.Info("SIGHUP received: reload is not supported; ignored (restart the daemon to change its flags)")
		}
	}()
	log.Info("serving", "socket", socket, "state_dir", stateDir, "pid", os.Getpid(), "version", version(), "limits", lim.String())
	// The connections' runs end when serveCtx does, with its cause in
	// their log lines; the signal's moment is logged first, with what
	// there is to cancel.
	serveCtx, stopServing := context.WithCancelCause(context.Background())
	defer stopServing(nil)
	var atStop ipc.Status
	var liveRuns []string
	snapped := make(chan struct{})
	stopped := context.AfterFunc(c.Context, func() {
		defer close(snapped)
		why := context.Cause(c.Context).Error() // "SIGTERM received"
		atStop = e.Status()
		for _, r := range e.Runs() {
			if r.State == ipc.StateQueued || r.State == ipc.StateRunning {
				liveRuns = append(liveRuns, r.RunID)
			}
		}
		log.Info(why+": shutting down: cancelling runs, stopping their workers, removing their objects",
			"running", atStop.ActiveRuns, "queued", atStop.QueuedRuns, "objects", atStop.Ledger)
		stopServing(fmt.Errorf("the daemon is shutting down (%s)", why))
	})
	serveErr := srv.Serve(serveCtx, l)
	if !stopped() {
		<-snapped // the signal came: its snapshot is taken
	} else {
		log.Info("shutting down: cancelling runs, stopping their workers, removing their objects")
	}

	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if page != nil {
		// The page first: its streams end, the runs it started are
		// cancelled and their objects removed.
		if err := page.Shutdown(ctx); err != nil {
			log.Error("the page did not stop cleanly", "error", err)
		}
		if err := <-pageDone; err != nil {
			log.Error("the page's server failed", "error", err)
		}
	}
	if err := srv.Shutdown(ctx); err != nil {
		log.Error("connections still open after the shutdown timeout; closed them", "timeout", shutdownTimeout)
	}
	closeErr := e.Close()
	l.Close()
	cancelled := 0
	for _, id := range liveRuns {
		if r, err := e.Show(id); err == nil && r.State == ipc.StateCancelled {
			cancelled++
		}
	}
	left, err := e.Ledger().Entries()
	if err != nil {
		log.Error("cannot read the ledger", "error", err)
	} else if len(left) > 0 {
		log.Warn("objects still recorded in the ledger; 'ipcplay clean' removes them", "count", len(left))
	}
	// objects_removed: of the objects recorded when the signal came,
	// those no longer recorded (each run's line has its exact count).
	log.Info("stopped", "runs_cancelled", cancelled, "objects_removed", max(0, atStop.Ledger-len(left)), "objects_left", len(left))
	return errors.Join(serveErr, closeErr)
}

// daemonLimits reads and checks the limit flags.
func daemonLimits(c *cli.Context) (ipc.Limits, error) {
	shm, err := parseBytes(c.String("max-shm"))
	if err != nil {
		return ipc.Limits{}, ipc.Usagef("--max-shm %q: %v", c.String("max-shm"), err)
	}
	lim := ipc.Limits{
		MaxProcs:    c.Int("max-procs"),
		MaxShmBytes: shm,
		MaxRuns:     c.Int("max-runs"),
		RunTimeout:  c.Duration("run-timeout"),
	}
	return lim, lim.Validate()
}

// parseBytes reads a size: a number of bytes, or a number with a binary
// unit K, M, G or T (optionally followed by "B" or "iB"): 512M, 1GiB.
func parseBytes(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "IB"), "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || v < 0 {
		return 0, errors.New("not a size: give bytes, or a number with K, M, G or T (512M, 1G)")
	}
	if v > (1<<62)/mult {
		return 0, errors.New("far too large")
	}
	return v * mult, nil
}

// formatBytes is the inverse of parseBytes for exact multiples.
func formatBytes(n int64) string {
	for _, u := range []struct {
		suffix string
		size   int64
	}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
