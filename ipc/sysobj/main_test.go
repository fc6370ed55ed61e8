package sysobj

import (
	"testing"

	"github.com/ipcplay/ipcplay/ipc/ipctest"
)

func TestMain(m *testing.M) { ipctest.Main(m, nil) }
