package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ipcplay/ipcplay/"

// TestImportDirection keeps DESIGN.md's import rules: imports flow down
// (cmd -> demos -> ipc -> semaphore -> shm; sockets and shm on the standard
// library and x/sys only), ipc never imports demos, and only cmd and ipc
// log. It reads the import lines of every non-test file, so it needs no Go
// toolchain at run time.
func TestImportDirection(t *testing.T) {
	root := filepath.Join("..", "..")
	imports := map[string]map[string]bool{} // package dir -> imports
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		rel = filepath.ToSlash(rel)
		if imports[rel] == nil {
			imports[rel] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			imports[rel][p] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	under := func(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }
	for pkg, imps := range imports {
		for imp := range imps {
			internal := strings.TrimPrefix(imp, module)
			isInternal := internal != imp
			switch {
			case (under(pkg, "shm") || under(pkg, "sockets")) && isInternal:
				t.Errorf("%s imports %s: shm and sockets use the standard library and x/sys only", pkg, internal)
			case under(pkg, "semaphore") && isInternal && !under(internal, "shm"):
				t.Errorf("%s imports %s: semaphore may import only shm", pkg, internal)
			case under(pkg, "ipc") && isInternal && (under(internal, "demos") || under(internal, "cmd")):
				t.Errorf("%s imports %s: ipc never imports demos or cmd (cmd injects the experiments)", pkg, internal)
			case under(pkg, "demos") && isInternal && under(internal, "cmd"):
				t.Errorf("%s imports %s: demos never import cmd", pkg, internal)
			case imp == "github.com/hashicorp/go-hclog" && !under(pkg, "cmd") && !under(pkg, "ipc"):
				t.Errorf("%s imports hclog: only cmd and ipc log; primitives and demos return errors", pkg)
			}
		}
	}
	for _, want := range []string{"shm", "sockets", "semaphore", "ipc", "demos/race", "cmd/ipcplay"} {
		if imports[want] == nil {
			t.Errorf("package %s not found under %s: the test walks the wrong tree", want, root)
		}
	}
}
