//go:build !amd64 || race

package bench

import "sync/atomic"

// storeRelease32 stores v at addr with (at least) release ordering:
// atomic.StoreUint32 is a store-release (STLR) on arm64, and what the race
// detector understands everywhere (store_amd64.go explains the amd64
// version).
func storeRelease32(addr *uint32, v uint32) { atomic.StoreUint32(addr, v) }
