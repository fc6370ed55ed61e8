//go:build amd64 && !race

package bench

// storeRelease32 stores v at addr with release ordering: every store
// before it is visible before it. On amd64 (TSO: stores are not reordered
// with older stores) that is a plain MOV in an assembly function, which the
// compiler cannot move either; atomic.StoreUint32 is an XCHG there, a full
// fence that stalls the sender until its earlier stores have left the
// store buffer, measured at about 200 ns more per shm-spin round trip.
// It suits a publisher that loads nothing the peer writes right after
// (shm-spin): the futex modes need the full fence of a sequentially
// consistent store, as they then read the peer's wait word.
//
//go:noescape
func storeRelease32(addr *uint32, v uint32)
