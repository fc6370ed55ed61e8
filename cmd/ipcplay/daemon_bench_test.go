package main

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ipcplay/ipcplay/ipc"
)

// BenchmarkCLIToAllRunning measures, for 2 and 32 workers, the time from
// starting a CLI process (`ipcplay cmdtest`, the test binary re-executed)
// to every worker of its run being up and at the start barrier, with the
// run embedded in the CLI and through a daemon. The metric is
// ns-to-running/op; ns/op is the whole CLI invocation.
func BenchmarkCLIToAllRunning(b *testing.B) {
	d := startDaemon(b, newStateDir(b))
	for _, engine := range []string{"local", "daemon"} {
		for _, procs := range []int{2, 32} {
			b.Run(fmt.Sprintf("%s/workers=%d", engine, procs), func(b *testing.B) {
				flag := "--local"
				if engine == "daemon" {
					flag = "--require-daemon"
				}
				n := newNotifier(b)
				var toRunning time.Duration
				for b.Loop() {
					cmd := cliCmd(b, "cmdtest", flag, "--socket", d.socket, "--procs", strconv.Itoa(procs), "--notify", n.path)
					start := time.Now()
					done, err := startLocked(cmd)
					if err != nil {
						b.Fatal(err)
					}
					n.wait(b)
					toRunning += time.Since(start)
					<-done
					if !cmd.ProcessState.Success() {
						b.Fatalf("ipcplay cmdtest: %v", cmd.ProcessState)
					}
				}
				b.ReportMetric(float64(toRunning.Nanoseconds())/float64(b.N), "ns-to-running/op")
			})
		}
	}
}

// BenchmarkRunToAllRunning is the same without the CLI process: from
// Client.Run to every worker up, in this process's engine and through the
// daemon's socket.
func BenchmarkRunToAllRunning(b *testing.B) {
	d := startDaemon(b, newStateDir(b))
	for _, engine := range []string{"local", "daemon"} {
		var client ipc.Client
		if engine == "daemon" {
			client = d.client(b)
		} else {
			e, err := newEngine(ipc.Config{Name: ipc.EngineLocal, StateDir: newStateDir(b)})
			if err != nil {
				b.Fatal(err)
			}
			client = &ipc.LocalClient{E: e}
		}
		for _, procs := range []int{2, 32} {
			b.Run(fmt.Sprintf("%s/workers=%d", engine, procs), func(b *testing.B) {
				n := newNotifier(b)
				var toRunning time.Duration
				for b.Loop() {
					start := time.Now()
					done := make(chan error, 1)
					go func() {
						_, err := client.Run(context.Background(), ipc.RunRequest{Experiment: "cmdtest", Params: mustJSON(cmdtestParams{Procs: procs, Notify: n.path})}, nil)
						done <- err
					}()
					n.wait(b)
					toRunning += time.Since(start)
					if err := <-done; err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(toRunning.Nanoseconds())/float64(b.N), "ns-to-running/op")
			})
		}
		client.Close()
	}
}
