package main

import (
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
	"github.com/ipcplay/ipcplay/ipc/worker"
)

// helpers are the child-process entry points of this package's tests
// (test files add theirs in init).
var helpers = map[string]func(){}

func TestMain(m *testing.M) {
	worker.Dispatch()
	ipctest.Main(m, helpers)
}
