package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNoPortIsProbed keeps every test (and every tool of the repository) from taking a port
// by probing: listening on port 0, closing the listener and handing its address to a server
// that binds it later. In a parallel suite another process takes the port in between, and a
// test then talks to a stranger. A server under test binds port 0 itself and reports the
// address (HTTP_ADDR=127.0.0.1:0 and the "regapi listening" log line), or is handed the
// listener; an address that must refuse connections stays bound (refusingAddr, newGate).
func TestNoPortIsProbed(t *testing.T) {
	t.Parallel()
	goFile := func(rel string) bool { return strings.HasSuffix(rel, ".go") }
	for _, rel := range repoFiles(t, ".", goFile) {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(repoRoot, rel), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range portProbes(fset, f) {
			t.Errorf("%s:%s", filepath.ToSlash(rel), p)
		}
	}
}

func TestPortProbesAreFound(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]int{
		// The helper this check was written against, and variants of it.
		`func freeAddr(t testing.TB) string { ln, _ := net.Listen("tcp", "127.0.0.1:0"); defer ln.Close(); return ln.Addr().String() }`:                                                                   2,
		`func pick() (string, error) { ln, err := net.Listen("tcp", ":0"); if err != nil { return "", err }; defer ln.Close(); _, port, err := net.SplitHostPort(ln.Addr().String()); return port, err }`: 1,
		`func f() { ln, _ := net.Listen("tcp", ":0"); addr := ln.Addr().String(); ln.Close(); start(addr) }`:                                                                                              1,
		// A listener held while it is used, or until the test ends, is fine.
		`func f(t *testing.T) { taken, _ := net.Listen("tcp", ":0"); defer taken.Close(); run(taken.Addr().String()) }`:                 0,
		`func f(t *testing.T) string { ln, _ := net.Listen("tcp", ":0"); t.Cleanup(func() { ln.Close() }); return ln.Addr().String() }`: 0,
	} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", "package x\n"+src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := portProbes(fset, f); len(got) != want {
			t.Errorf("%s: found %q, want %d findings", src, got, want)
		}
	}
}

// probeName is the name of a helper that exists to probe a port.
var probeName = regexp.MustCompile(`(?i)^(get|pick)?(free|unused|random|available)(tcp)?(port|addr|address)s?$`)

// portProbes returns "line: what" for each function of f named like a port probe, and each
// listener whose address is used (returned, or read after an explicit Close) once the
// function closed it. Closes inside a nested function (t.Cleanup) do not count.
func portProbes(fset *token.FileSet, f *ast.File) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		var body *ast.BlockStmt
		switch fn := n.(type) {
		case *ast.FuncDecl:
			if probeName.MatchString(fn.Name.Name) {
				out = append(out, fmt.Sprintf("%d: %s probes a port by its name", fset.Position(fn.Pos()).Line, fn.Name.Name))
			}
			body = fn.Body
		case *ast.FuncLit:
			body = fn.Body
		}
		if body != nil {
			for _, ln := range releasedListeners(body) {
				out = append(out, fmt.Sprintf("%d: the address of listener %s is used after it is closed", fset.Position(ln.Pos()).Line, ln.Name))
			}
		}
		return true
	})
	return out
}

// releasedListeners returns the listeners (x, _ := net.Listen...) of body whose address
// outlives them: body closes x (deferred or not) and returns its address or a value made
// from it, or reads it after a Close that is not deferred.
func releasedListeners(body *ast.BlockStmt) []*ast.Ident {
	var listeners []*ast.Ident
	inspectOwn(body, func(n ast.Node) {
		if as, ok := n.(*ast.AssignStmt); ok && len(as.Rhs) == 1 {
			if sel, ok := callee(as.Rhs[0]); ok && (sel == "Listen" || sel == "ListenTCP") {
				if id, ok := as.Lhs[0].(*ast.Ident); ok && id.Name != "_" {
					listeners = append(listeners, id)
				}
			}
		}
	})
	var found []*ast.Ident
	for _, ln := range listeners {
		tainted := map[string]bool{}
		usesAddr := func(n ast.Node) bool {
			hit := false
			ast.Inspect(n, func(m ast.Node) bool {
				switch m := m.(type) {
				case *ast.SelectorExpr:
					if id, ok := m.X.(*ast.Ident); ok && id.Name == ln.Name && m.Sel.Name == "Addr" {
						hit = true
					}
				case *ast.Ident:
					hit = hit || tainted[m.Name]
				}
				return !hit
			})
			return hit
		}
		closed, deferred := token.NoPos, false
		released := false
		inspectOwn(body, func(n ast.Node) {
			switch n := n.(type) {
			case *ast.AssignStmt:
				for _, r := range n.Rhs {
					if usesAddr(r) {
						for _, l := range n.Lhs {
							if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
								tainted[id.Name] = true
							}
						}
					}
				}
			case *ast.DeferStmt:
				if closes(n.Call, ln.Name) {
					deferred = true
				}
			case *ast.CallExpr:
				if closes(n, ln.Name) && closed == token.NoPos {
					closed = n.End()
				}
			}
		})
		inspectOwn(body, func(n ast.Node) {
			switch n := n.(type) {
			case *ast.ReturnStmt:
				if (deferred || closed != token.NoPos) && usesAddr(n) {
					released = true
				}
			case *ast.ExprStmt, *ast.AssignStmt:
				if closed != token.NoPos && n.Pos() > closed && usesAddr(n) {
					released = true
				}
			}
		})
		if released {
			found = append(found, ln)
		}
	}
	return found
}

// inspectOwn calls fn for every node of body in source order, except inside nested
// function literals, and a deferred call is visited only as its DeferStmt.
func inspectOwn(body *ast.BlockStmt, fn func(ast.Node)) {
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case nil:
			return false
		case *ast.FuncLit:
			return false
		case *ast.DeferStmt:
			fn(n)
			return false
		}
		fn(n)
		return true
	})
}

// callee returns the selector name of a call such as net.Listen(...).
func callee(e ast.Expr) (string, bool) {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return "", false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	return sel.Sel.Name, true
}

// closes reports whether call is name.Close().
func closes(call *ast.CallExpr, name string) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Close" {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == name
}
