package worker

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Func is the body of a worker kind. It runs in the child process. It
// decodes its spec with c.Spec, prepares (opens regions, sockets...), calls
// c.Ready to wait at the start barrier, does the work and returns a result
// that is sent to the parent as JSON. ctx is cancelled when the parent asks
// the child to stop.
type Func func(ctx context.Context, c *Child) (any, error)

var registry = struct {
	sync.RWMutex
	kinds map[string]Func
}{kinds: map[string]Func{}}

// Register makes a worker kind available to Dispatch. It panics when kind is
// registered twice: two bodies under one name is a programming error.
func Register(kind string, fn Func) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.kinds[kind]; dup {
		panic(fmt.Sprintf("worker: kind %q registered twice", kind))
	}
	registry.kinds[kind] = fn
}

func lookup(kind string) (Func, bool) {
	registry.RLock()
	defer registry.RUnlock()
	fn, ok := registry.kinds[kind]
	return fn, ok
}

// Kinds lists the registered worker kinds, sorted.
func Kinds() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.kinds))
	for k := range registry.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
