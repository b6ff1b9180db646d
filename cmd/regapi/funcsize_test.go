package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines is the longest a function body of the service may be, in lines between its
// braces: past it, a function does several things, and a reader holds them all at once.
const maxFuncLines = 40

// No function of the service (the non-test Go files of cmd/ and internal/) is longer than
// maxFuncLines.
func TestFunctionsStayShort(t *testing.T) {
	service := func(rel string) bool { return strings.HasSuffix(rel, ".go") && !strings.HasSuffix(rel, "_test.go") }
	for _, dir := range []string{"cmd", "internal"} {
		for _, rel := range repoFiles(t, dir, service) {
			long, err := longFunctions(filepath.Join(repoRoot, rel), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range long {
				t.Errorf("%s: %s; split it", rel, f)
			}
		}
	}
}

func TestLongFunctionsAreFound(t *testing.T) {
	src := "package p\nfunc short() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines) + "}\n" +
		"func long() {\n" + strings.Repeat("\t_ = 1\n", maxFuncLines+1) + "}\n"
	long, err := longFunctions("p.go", src)
	if err != nil || len(long) != 1 || !strings.HasPrefix(long[0], "long ") {
		t.Fatalf("longFunctions = %v, %v; want only long", long, err)
	}
}

// longFunctions lists the functions of the Go file at path (or of src, when not nil) whose
// body is longer than maxFuncLines, with their length.
func longFunctions(path string, src any) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		return nil, err
	}
	var long []string
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		if n := fset.Position(fn.Body.Rbrace).Line - fset.Position(fn.Body.Lbrace).Line - 1; n > maxFuncLines {
			long = append(long, fmt.Sprintf("%s has %d lines", fn.Name.Name, n))
		}
	}
	return long, nil
}
